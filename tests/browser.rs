//! The web pages in a real headless Chromium, driven over WebDriver (chromedriver +
//! fantoccini): live banner, two pages at once, a server restart under an open page, hostile
//! text, and the forms with JavaScript turned off. Each test starts its own chromedriver on a
//! free port and its own browser with a fresh profile, and waits for events with a deadline
//! (polling the page's state), never for a fixed time (the driver and the browser:
//! `common::browser`). Screenshots of `/`
//! and a question page at desktop and phone width go to `target/tmp/screenshots/`.

use std::{
    path::PathBuf,
    time::{Duration, Instant},
};

use crate::common::{
    Backend, Browser, Driver, TestApp, click, eventually, path_of, spawn, text_of, type_into,
};
use fantoccini::{Client, Locator};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

/// What the question page shows, read in one script call.
#[derive(Debug, Deserialize, PartialEq)]
struct PageState {
    status: Option<String>,
    banner: Option<String>,
    title: String,
    count: String,
    seqs: Vec<i64>,
    bodies: Vec<String>,
    last_seq: i64,
}

const READ_STATE: &str = r#"
    const q = (s) => document.querySelector(s);
    const status = q('#live-status');
    const banner = q('#new-answers');
    return {
      status: status && !status.hidden ? status.dataset.status : null,
      banner: banner && !banner.hidden ? banner.textContent : null,
      title: document.title,
      count: q('#answer-count').textContent,
      seqs: [...document.querySelectorAll('#answer-list li[data-seq]')].map(li => Number(li.dataset.seq)),
      bodies: [...document.querySelectorAll('#answer-list li .body')].map(e => e.textContent),
      last_seq: Number(q('#question').dataset.lastSeq),
    };
"#;

async fn state(client: &Client) -> PageState {
    serde_json::from_value(client.execute(READ_STATE, vec![]).await.expect("read page state"))
        .expect("page state shape")
}

/// Waits until the page state satisfies `pred`; returns that state.
async fn until(client: &Client, what: &str, limit: Duration, pred: impl Fn(&PageState) -> bool) -> PageState {
    let mut last = None;
    let found = tokio::time::timeout(limit, async {
        loop {
            let s = state(client).await;
            if pred(&s) {
                return s;
            }
            last = Some(s);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    found.unwrap_or_else(|_| panic!("timed out after {limit:?} waiting until {what}; page: {last:?}"))
}

fn screenshot_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn ask(app: &TestApp, title: &str, body: &str, author: &str) -> Uuid {
    let res = app.post_json("/api/questions", &json!({"title": title, "body": body, "author": author})).await;
    assert_eq!(res.status(), 201);
    crate::common::id_of(&res.json::<Value>().await.unwrap())
}

async fn answer_as(app: &TestApp, q: Uuid, body: &str, author: &str) -> i64 {
    let res =
        app.post_json(&format!("/api/questions/{q}/answers"), &json!({"body": body, "author": author})).await;
    assert_eq!(res.status(), 201);
    res.json::<Value>().await.unwrap()["seq"].as_i64().unwrap()
}

const FORM: &str = "application/x-www-form-urlencoded";
const LIVE: Duration = Duration::from_secs(10);
const TITLE: &str = "How do I stream answers to the browser without polling?";

/// A page watching a question raises the banner within 2 s of an answer posted over REST;
/// clicking it shows the answers; the count and the tab title follow. Also writes the
/// screenshots.
async fn banner_follows_new_answers(backend: Backend) {
    let app = spawn(backend).await;
    ask(
        &app,
        "Is SQLite fast enough for a small Q&A site?",
        "We expect a few hundred visitors a day.",
        "maria",
    )
    .await;
    ask(&app, "Why does my WebSocket close with code 1013?", "It happens under load.", "dev_ops").await;
    let q = ask(
        &app,
        TITLE,
        "My Q&A site reloads the page every 30 seconds to find new answers.\nIs there a way to show them as they are posted?",
        "ann",
    )
    .await;
    answer_as(&app, q, "Open a WebSocket to the hub and subscribe to the question.", "bob").await;

    let driver = Driver::start().await;
    let Browser { client, _profile } = driver.browser(true).await;
    client.goto(&app.url(&format!("/questions/{q}"))).await.unwrap();
    let s = until(&client, "the page is live", LIVE, |s| s.status.as_deref() == Some("live")).await;
    assert_eq!((s.seqs.as_slice(), s.banner.as_deref(), s.count.as_str()), (&[1][..], None, "1"));
    let base_title = s.title.clone();
    assert_eq!(base_title, format!("{TITLE} · qa-hub"));

    let posted = Instant::now();
    answer_as(&app, q, "Subscribe with after_seq so you never miss one.", "carol").await;
    // How fast is for the benchmarks; a timed assertion here would only flake on a busy machine.
    let s =
        until(&client, "the banner says 1 new answer", LIVE, |s| s.banner.as_deref() == Some("1 new answer"))
            .await;
    println!("banner after {:?}", posted.elapsed());
    assert_eq!(s.title, format!("(1) {base_title}"));
    assert_eq!(s.count, "2");
    assert_eq!(s.seqs, vec![1], "new answers wait behind the banner");

    answer_as(&app, q, "And reconnect with backoff when the connection drops.", "dan").await;
    answer_as(&app, q, "Server-sent events would work too, but <b>WebSockets</b> are two-way.", "erin").await;
    let s = until(&client, "the banner says 3 new answers", LIVE, |s| {
        s.banner.as_deref() == Some("3 new answers")
    })
    .await;
    assert_eq!(s.title, format!("(3) {base_title}"));
    assert_eq!(s.count, "4");
    let dir = screenshot_dir();
    let name = format!("{backend:?}").to_lowercase();
    std::fs::write(dir.join(format!("{name}-question-banner.png")), client.screenshot().await.unwrap())
        .unwrap();

    click(&client, "#new-answers").await;
    let s = until(&client, "the answers are shown", LIVE, |s| s.seqs == [1, 2, 3, 4]).await;
    assert_eq!(s.banner, None);
    assert_eq!(s.title, base_title);
    assert_eq!(s.count, "4");
    // Raw HTML in a body is Markdown's: `<b>` is allowed, so the text reads without it.
    assert_eq!(s.bodies[3], "Server-sent events would work too, but WebSockets are two-way.");

    // Screenshots: question page and list, desktop and phone width.
    let shots = [("desktop", 1280, 900), ("phone", 390, 844)];
    for (label, w, h) in shots {
        client.set_window_size(w, h).await.unwrap();
        client.execute("window.scrollTo(0, 0)", vec![]).await.unwrap();
        std::fs::write(dir.join(format!("{name}-question-{label}.png")), client.screenshot().await.unwrap())
            .unwrap();
    }
    client.goto(&app.url("/")).await.unwrap();
    for (label, w, h) in shots.iter().rev() {
        client.set_window_size(*w, *h).await.unwrap();
        std::fs::write(dir.join(format!("{name}-index-{label}.png")), client.screenshot().await.unwrap())
            .unwrap();
    }
    println!("screenshots in {}", dir.display());
    client.close().await.unwrap();
}

/// Two pages on one question: an answer posted from one shows at once there (once, no
/// banner) and raises the banner on the other.
async fn two_pages_see_one_answer(backend: Backend) {
    let app = spawn(backend).await;
    let q = app.question().await;
    let driver = Driver::start().await;
    let Browser { client, _profile } = driver.browser(true).await;
    let page = app.url(&format!("/questions/{q}"));

    let first = client.window().await.unwrap();
    client.goto(&page).await.unwrap();
    until(&client, "page A is live", LIVE, |s| s.status.as_deref() == Some("live")).await;
    let second = client.new_window(false).await.unwrap().handle;
    client.switch_to_window(second.clone()).await.unwrap();
    client.goto(&page).await.unwrap();
    until(&client, "page B is live", LIVE, |s| s.status.as_deref() == Some("live")).await;

    // Record whether the banner ever shows on the poster's page, however briefly.
    client
        .execute(
            "const b = document.getElementById('new-answers'); window.bannerSeen = false; \
             new MutationObserver(() => { if (!b.hidden) window.bannerSeen = true; }) \
               .observe(b, {attributes: true, childList: true, subtree: true, characterData: true});",
            vec![],
        )
        .await
        .unwrap();
    type_into(&client, "#answer-body", "Posted from page B").await;
    type_into(&client, "#answer-author", "bea").await;
    click(&client, "#answer-form button[type=submit]").await;
    // Shown from the POST's reply; its own notification (last_seq 1) may arrive before or
    // after that reply, and must not show it twice or raise the banner. Wait for both: the
    // notification alone can come first, while the reply has not rendered the answer yet.
    let s = until(&client, "B shows its answer and has its notification", LIVE, |s| {
        s.last_seq == 1 && !s.seqs.is_empty()
    })
    .await;
    assert_eq!(s.seqs, vec![1]);
    assert_eq!(s.bodies, vec!["Posted from page B"]);
    assert_eq!(s.banner, None);
    assert_eq!(s.count, "1");
    assert!(!s.title.starts_with('('), "{}", s.title);
    assert_eq!(client.execute("return window.bannerSeen", vec![]).await.unwrap(), json!(false));
    let typed = client.find(Locator::Css("#answer-body")).await.unwrap().prop("value").await.unwrap();
    assert_eq!(typed.as_deref(), Some(""), "the form is cleared after posting");

    client.switch_to_window(first).await.unwrap();
    let s = until(&client, "A shows the banner", LIVE, |s| s.banner.as_deref() == Some("1 new answer")).await;
    assert_eq!(s.seqs, Vec::<i64>::new());
    click(&client, "#new-answers").await;
    let s = until(&client, "A shows the answer", LIVE, |s| s.seqs == [1]).await;
    assert_eq!(s.bodies, vec!["Posted from page B"]);
    client.close().await.unwrap();
}

/// The server stops and starts again on the same database and port while the page stays
/// open: it reconnects on its own, and answers posted meanwhile appear once.
async fn page_resumes_after_restart(backend: Backend) {
    let app = spawn(backend).await;
    let q = app.question().await;
    app.answer(q, "before the restart").await;
    let driver = Driver::start().await;
    let Browser { client, _profile } = driver.browser(true).await;
    client.goto(&app.url(&format!("/questions/{q}"))).await.unwrap();
    until(&client, "the page is live", LIVE, |s| s.status.as_deref() == Some("live")).await;

    let addr = app.addr;
    app.stop().await;
    until(&client, "the page notices the drop", LIVE, |s| {
        matches!(s.status.as_deref(), Some("reconnecting" | "offline"))
    })
    .await;
    // Answers posted while this server is down, by another instance on the same database.
    let other = crate::common::start_on(app.db.shared(), |_| {}).await;
    for body in ["while away 1", "while away 2"] {
        answer_as(&other, q, body, "ivy").await;
    }
    other.stop().await;

    let app = app.start_again().await;
    assert_eq!(app.addr, addr);
    let restarted = Instant::now();
    let s = until(&client, "the missed answers are announced", Duration::from_secs(30), |s| {
        s.status.as_deref() == Some("live") && s.banner.as_deref() == Some("2 new answers")
    })
    .await;
    println!("caught up {:?} after the restart", restarted.elapsed());
    assert_eq!(s.count, "3");
    click(&client, "#new-answers").await;
    let s = until(&client, "the missed answers are shown", LIVE, |s| s.seqs.len() == 3).await;
    assert_eq!(s.seqs, vec![1, 2, 3]);
    assert_eq!(s.bodies, vec!["before the restart", "while away 1", "while away 2"]);

    app.answer(q, "after the restart").await;
    until(&client, "a live answer after the restart", LIVE, |s| s.banner.as_deref() == Some("1 new answer"))
        .await;
    click(&client, "#new-answers").await;
    let s = until(&client, "all four shown", LIVE, |s| s.seqs.len() == 4).await;
    assert_eq!(s.seqs, vec![1, 2, 3, 4], "each answer exactly once");
    assert_eq!((s.last_seq, s.count.as_str(), s.banner), (4, "4", None));
    client.close().await.unwrap();
}

/// User text is text: markup in titles and names is shown, not run; in bodies it is Markdown's
/// raw HTML, which the sanitiser strips of anything that runs (the corpus test below goes
/// further); every HTML response has a CSP without 'unsafe-inline' scripts.
async fn hostile_text_is_shown_as_text(backend: Backend) {
    let app = spawn(backend).await;
    let title = "<script>window.pwned = 1</script>";
    let body = "<img src=x onerror=\"window.pwned = 2\"> and </div><b>bold?</b>";
    let author = "<i>mallory</i>";
    let q = ask(&app, title, body, author).await;
    answer_as(&app, q, "<img src=x onerror=\"window.pwned = 3\">", author).await;

    for path in [
        "/".to_owned(),
        format!("/questions/{q}"),
        "/questions/not-a-uuid".into(),
        format!("/questions/{}", Uuid::new_v4()),
    ] {
        let res = app.get(&path).await;
        let expected =
            if path.starts_with("/questions/") && !path.ends_with(&q.to_string()) { 404 } else { 200 };
        assert_eq!(res.status(), expected, "{path}");
        assert!(res.headers()["content-type"].to_str().unwrap().starts_with("text/html"), "{path}");
        let csp =
            res.headers().get("content-security-policy").expect("a CSP header").to_str().unwrap().to_owned();
        let script_src =
            csp.split(';').map(str::trim).find(|d| d.starts_with("script-src")).expect("script-src");
        assert_eq!(script_src, "script-src 'self'", "{path}");
        assert!(!csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"), "{csp}");
        let html = res.text().await.unwrap();
        assert!(!html.contains("<script>window") && !html.contains("<img src=x"), "{path}: {html}");
        assert!(!html.contains("onerror=\"") && !html.contains(" onclick"), "{path}");
    }

    let driver = Driver::start().await;
    let Browser { client, _profile } = driver.browser(true).await;
    client.goto(&app.url(&format!("/questions/{q}"))).await.unwrap();
    // The page's own socket works under the CSP (connect-src 'self' covers ws:).
    until(&client, "the page is live under its CSP", LIVE, |s| s.status.as_deref() == Some("live")).await;
    assert_eq!(text_of(&client, "h1").await, title);
    assert_eq!(text_of(&client, "#question .author").await, author);
    answer_as(&app, q, "<script>window.pwned = 4</script><img src=y onerror=\"window.pwned = 5\">", "eve")
        .await;
    until(&client, "the hostile answer is announced", LIVE, |s| s.banner.is_some()).await;
    click(&client, "#new-answers").await;
    let s = until(&client, "it is shown", LIVE, |s| s.seqs.len() == 2).await;
    // Sanitised: the images lose their handlers and their non-https sources, the script goes.
    assert_eq!(s.bodies, ["", ""]);
    let probe = client
        .execute("return [typeof window.pwned, document.querySelectorAll('main img[src], main [onerror], main script, main i').length]", vec![])
        .await
        .unwrap();
    assert_eq!(probe, json!(["undefined", 0]));

    client.goto(&app.url("/")).await.unwrap();
    assert_eq!(text_of(&client, ".question-item h2 a").await, title);
    client.goto(&app.url("/questions/not-a-uuid")).await.unwrap();
    assert_eq!(text_of(&client, "h1").await, "Question not found");
    let name = format!("{backend:?}").to_lowercase();
    std::fs::write(
        screenshot_dir().join(format!("{name}-not-found.png")),
        client.screenshot().await.unwrap(),
    )
    .unwrap();
    client.close().await.unwrap();
}

/// What in the elements `css` selects (the posts' bodies) could run script or load from a
/// hostile URL: script-like elements, any
/// `on…` attribute, a `style` attribute, and a link or source to a `javascript:`, `vbscript:`
/// or `data:` URL. Also `window.__pwned`, which each payload of the corpus would set.
const DANGER: &str = r#"
    const found = [];
    const roots = [...document.querySelectorAll(arguments[0])];
    if (roots.length === 0) found.push('no element matches ' + arguments[0]);
    for (const el of roots.flatMap((root) => [...root.querySelectorAll('*')])) {
      const tag = el.tagName.toLowerCase();
      if (['script', 'style', 'iframe', 'object', 'embed', 'form', 'svg', 'math', 'base', 'meta', 'link'].includes(tag)) found.push(tag);
      for (const attr of el.attributes) {
        const name = attr.name.toLowerCase();
        const value = attr.value.replace(/[\s\u0000-\u001f]/g, '').toLowerCase();
        if (name.startsWith('on') || name === 'style' || name === 'srcdoc') found.push(tag + '[' + name + ']');
        if (/^(javascript|vbscript|data):/.test(value)) found.push(tag + '[' + name + '=' + value + ']');
      }
    }
    return [typeof window.__pwned, found];
"#;

/// The bodies of the question, its answers and comments (not the page's own forms).
const POSTS: &str = "#question .body, #answer-list .body, .comment-body";

async fn danger(client: &Client, css: &str) -> Value {
    client.execute(DANGER, vec![json!(css)]).await.expect("scan the page")
}

/// The bodies of the answers on the page, by seq (their HTML as the browser holds it).
const ANSWER_BODIES: &str = r#"
    const bodies = {};
    for (const li of document.querySelectorAll('#answer-list li[data-seq]')) {
      bodies[li.dataset.seq] = li.querySelector('.body').innerHTML;
    }
    return bodies;
"#;

/// The hostile Markdown corpus (`domain::markdown::corpus::HOSTILE`): all of it as a
/// question's body, and each payload as an answer of its own (one payload that leaves an
/// element open, an unclosed `<style>` say, would take the others with it). On the page as
/// loaded, and inserted live into an open page, nothing of it runs or survives as a handler,
/// and each live answer's HTML is the very HTML a reload shows.
async fn hostile_markdown_is_inert_on_the_page_and_live(backend: Backend) {
    let app = spawn(backend).await;
    let hostile = qa_hub::domain::markdown::corpus::HOSTILE;
    // After a plain code block, which shows the Markdown is rendered.
    let corpus = format!("```rust\nfn main() {{}}\n```\n\n{}", hostile.join("\n\n"));
    let q = ask(&app, "Hostile Markdown", &corpus, "mallory").await;

    let driver = Driver::start().await;
    let Browser { client, _profile } = driver.browser(true).await;
    let page = app.url(&format!("/questions/{q}"));
    client.goto(&page).await.unwrap();
    until(&client, "the page is live", LIVE, |s| s.status.as_deref() == Some("live")).await;
    assert_eq!(danger(&client, "#question .body").await, json!(["undefined", []]), "the question as loaded");
    // Rendered, not shown as source.
    let blocks =
        client.execute("return document.querySelectorAll('#question .body pre code').length", vec![]);
    assert_eq!(blocks.await.unwrap(), json!(1));

    for payload in hostile {
        answer_as(&app, q, payload, "mallory").await;
    }
    let n = hostile.len();
    until(&client, "every hostile answer is announced", LIVE, |s| s.count == n.to_string()).await;
    click(&client, "#new-answers").await;
    until(&client, "they are inserted", LIVE, |s| s.seqs.len() == n).await;
    assert_eq!(danger(&client, POSTS).await, json!(["undefined", []]), "after the live inserts");
    let live = client.execute(ANSWER_BODIES, vec![]).await.unwrap();
    assert_eq!(live.as_object().unwrap().len(), n);

    // A reload shows each answer's HTML as the live insert did (30 answers a page).
    let mut reloaded = serde_json::Map::new();
    for number in 1..=(n as i64 - 1) / 30 + 1 {
        client.goto(&format!("{page}?page={number}")).await.unwrap();
        until(&client, "the reloaded page is live", LIVE, |s| s.status.as_deref() == Some("live")).await;
        assert_eq!(danger(&client, POSTS).await, json!(["undefined", []]), "page {number} reloaded");
        let shown = client.execute(ANSWER_BODIES, vec![]).await.unwrap();
        reloaded.extend(shown.as_object().unwrap().clone());
    }
    assert_eq!(Value::Object(reloaded), live, "a reload shows what the live inserts did");
    client.close().await.unwrap();
}

/// The answer form's preview with JavaScript: typing shows the server's rendering a moment
/// after the typing stops; the Preview button renders at once and posts nothing.
async fn the_answer_form_previews_live(backend: Backend) {
    let app = spawn(backend).await;
    let q = ask(&app, "Previews", "Type below.", "ann").await;
    let driver = Driver::start().await;
    let Browser { client, _profile } = driver.browser(true).await;
    client.goto(&app.url(&format!("/questions/{q}"))).await.unwrap();
    until(&client, "the page is live", LIVE, |s| s.status.as_deref() == Some("live")).await;
    const PREVIEW: &str =
        "const box = document.getElementById('answer-preview'); return box.hidden ? null : box.innerHTML";
    type_into(&client, "#answer-body", "Use *this*:\n\n```rust\nlet x = 1;\n```").await;
    let shown = eventually("the preview follows the typing", LIVE, || async {
        let html = client.execute(PREVIEW, vec![]).await.ok()?;
        html.as_str().filter(|h| h.contains("<code class=\"language-rust\">")).map(str::to_owned)
    })
    .await;
    assert_eq!(
        shown,
        "<p>Use <em>this</em>:</p>\n<pre><code class=\"language-rust\">let x = 1;\n</code></pre>"
    );
    type_into(&client, "#answer-body", "~~gone~~").await;
    click(&client, "#answer-form button[formaction]").await;
    eventually("the button renders at once", LIVE, || async {
        let html = client.execute(PREVIEW, vec![]).await.ok()?;
        (html == json!("<p><del>gone</del></p>")).then_some(())
    })
    .await;
    assert_eq!(state(&client).await.seqs, Vec::<i64>::new(), "nothing was posted");
    assert_eq!(path_of(&client).await, format!("/questions/{q}"), "the page stayed");
    client.close().await.unwrap();
}

/// With JavaScript off, the forms post and redirect; a validation error shows next to its
/// field and keeps what was typed.
async fn forms_work_without_javascript(backend: Backend) {
    let app = spawn(backend).await;

    // The raw exchange: a 303 to the new page, and a 422 page for bad input.
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let res = http
        .post(app.url("/questions"))
        .header("content-type", FORM)
        .body("title=Raw+form&body=Posted+by+a+plain+form.&tags=forms+html&author=curl")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let location = res.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.starts_with("/questions/"), "{location}");
    let res = http
        .post(app.url(&format!("{location}/answers")))
        .header("content-type", FORM)
        .body("body=+&author=curl")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 422);
    assert!(res.text().await.unwrap().contains("Body must not be empty."));

    let driver = Driver::start().await;
    let Browser { client, _profile } = driver.browser(false).await;
    client.goto(&app.url("/")).await.unwrap();
    // Leave the title out: the page comes back with the error and what was typed.
    type_into(&client, "#body", "I typed this and want to keep it.").await;
    type_into(&client, "#tags", "forms").await;
    type_into(&client, "#author", "noscript").await;
    click(&client, "form[action='/questions#ask'] button[type=submit]").await;
    eventually("the title error shows", LIVE, || async {
        client.find(Locator::Css("#title-error")).await.ok()
    })
    .await;
    assert_eq!(text_of(&client, "#title-error").await, "Title must not be empty.");
    let name = format!("{backend:?}").to_lowercase();
    std::fs::write(
        screenshot_dir().join(format!("{name}-form-error.png")),
        client.screenshot().await.unwrap(),
    )
    .unwrap();
    let kept = client.find(Locator::Css("#body")).await.unwrap().prop("value").await.unwrap();
    assert_eq!(kept.as_deref(), Some("I typed this and want to keep it."));
    let kept = client.find(Locator::Css("#author")).await.unwrap().prop("value").await.unwrap();
    assert_eq!(kept.as_deref(), Some("noscript"));

    type_into(&client, "#title", "Does this work without JavaScript?").await;
    click(&client, "form[action='/questions#ask'] button[type=submit]").await;
    let url = eventually("the question page opens", LIVE, || async {
        let url = client.current_url().await.ok()?;
        url.path().starts_with("/questions/").then_some(url)
    })
    .await;
    assert_eq!(text_of(&client, "h1").await, "Does this work without JavaScript?");
    let status_hidden =
        client.find(Locator::Css("#live-status")).await.unwrap().attr("hidden").await.unwrap();
    assert!(status_hidden.is_some(), "no script ran, so no live status");

    // An empty answer: the error next to the field, the name kept.
    type_into(&client, "#answer-author", "noscript").await;
    click(&client, "#answer-form button[type=submit]").await;
    let error = eventually("the answer error shows", LIVE, || async {
        let text = client.find(Locator::Css("#answer-body-error")).await.ok()?.text().await.ok()?;
        (!text.is_empty()).then_some(text)
    })
    .await;
    assert_eq!(error, "Body must not be empty.");
    let kept = client.find(Locator::Css("#answer-author")).await.unwrap().prop("value").await.unwrap();
    assert_eq!(kept.as_deref(), Some("noscript"));

    type_into(&client, "#answer-body", "Yes: the form posts and redirects.").await;
    click(&client, "#answer-form button[type=submit]").await;
    // The redirect lands on the new answer; with JavaScript the page would not navigate.
    eventually("the redirect to the answer", LIVE, || async {
        let now = client.current_url().await.ok()?;
        (now.path() == url.path() && now.fragment() == Some("answer-1")).then_some(())
    })
    .await;
    assert_eq!(text_of(&client, "#answer-1 .body").await, "Yes: the form posts and redirects.");
    assert_eq!(text_of(&client, "#answer-count").await, "1");
    client.close().await.unwrap();
}

/// On an earlier page of a long question, the banner's new answers are on a later page:
/// clicking it goes there, with the first new answer in view.
async fn banner_on_an_earlier_page_goes_to_the_new_answers(backend: Backend) {
    let app = spawn(backend).await;
    let q = ask(&app, TITLE, "A long thread.", "ann").await;
    for i in 1..=31 {
        answer_as(&app, q, &format!("answer {i}"), "bob").await;
    }
    let driver = Driver::start().await;
    let Browser { client, _profile } = driver.browser(true).await;
    client.goto(&app.url(&format!("/questions/{q}"))).await.unwrap();
    let s = until(&client, "the page is live", LIVE, |s| s.status.as_deref() == Some("live")).await;
    assert_eq!((s.seqs.len(), s.last_seq, s.count.as_str()), (30, 31, "31"), "page 1 of 2");

    answer_as(&app, q, "new on page 2", "carol").await;
    let s =
        until(&client, "the banner says 1 new answer", LIVE, |s| s.banner.as_deref() == Some("1 new answer"))
            .await;
    assert_eq!(s.seqs.len(), 30, "not added to page 1");
    click(&client, "#new-answers").await;
    let s = until(&client, "page 2 shows answers 31 and 32", LIVE, |s| s.seqs == [31, 32]).await;
    assert_eq!(s.bodies, ["answer 31", "new on page 2"]);
    let url = client.current_url().await.unwrap();
    assert_eq!((url.query(), url.fragment()), (Some("page=2"), Some("answer-32")));
}

/// Waits until an element matching `css` is on the page; its text.
async fn shown(client: &Client, css: &str) -> String {
    eventually(&format!("{css} is shown"), LIVE, || async {
        client.find(Locator::Css(css)).await.ok()?.text().await.ok()
    })
    .await
}

/// The whole life of an account in a real browser, with identities required: sign up, ask,
/// answer (the page's script posts with the session cookie), log out, log in again and come
/// back to the page; a second browser's session sees none of the first's.
async fn sign_up_ask_answer_log_out_log_in(backend: Backend) {
    let app = crate::common::spawn_with(backend, |config| config.identity.anonymous_writes = false).await;
    let driver = Driver::start().await;
    let one = driver.browser(true).await;
    let c = &one.client;
    c.goto(&app.url("/")).await.unwrap();
    assert!(c.find(Locator::Css("#title")).await.is_err(), "no ask form before logging in");
    click(c, "#signup-link").await;
    type_into(c, "#handle", "ada").await;
    type_into(c, "#name", "Ada L.").await;
    type_into(c, "#password", "correct horse battery").await;
    click(c, "form button[type=submit]").await;
    assert_eq!(shown(c, "#viewer-name").await, "Ada L.", "signed up and logged in");

    type_into(c, "#title", "Where do sessions live?").await;
    type_into(c, "#body", "In the database, hashed.").await;
    type_into(c, "#tags", "sessions").await;
    click(c, "#ask button[type=submit]").await;
    let path = eventually("the question page", LIVE, || async {
        let path = path_of(c).await;
        path.starts_with("/questions/").then_some(path)
    })
    .await;
    let q: Uuid = path.trim_start_matches("/questions/").parse().unwrap();
    until(c, "the page is live", LIVE, |s| s.status.as_deref() == Some("live")).await;
    assert!(
        c.find(Locator::Css("#answer-author")).await.is_err(),
        "no name field: the author is the account"
    );
    type_into(c, "#answer-body", "Answered from a logged-in page.").await;
    click(c, "#answer-form button[type=submit]").await;
    until(c, "the answer shows", LIVE, |s| s.seqs == [1]).await;
    let answers: Value = app.get(&format!("/api/questions/{q}/answers")).await.json().await.unwrap();
    let me = &answers["items"][0];
    assert_eq!(me["author"], "Ada L.");
    let question: Value = app.get(&format!("/api/questions/{q}")).await.json().await.unwrap();
    assert_eq!(me["author_id"], question["author_id"], "asked and answered by the one account");
    assert!(me["author_id"].is_string());

    // Another browser has its own (empty) session.
    let two = driver.browser(true).await;
    two.client.goto(&app.url(&format!("/questions/{q}"))).await.unwrap();
    shown(&two.client, "#login-to-answer").await;
    assert!(two.client.find(Locator::Css("#viewer-name")).await.is_err());

    click(c, "#logout").await;
    shown(c, "#login-link").await;
    assert!(c.find(Locator::Css("#viewer-name")).await.is_err(), "logged out");
    c.goto(&app.url(&format!("/questions/{q}"))).await.unwrap();
    click(c, "#login-to-answer").await;
    type_into(c, "#handle", "ADA").await;
    type_into(c, "#password", "correct horse battery").await;
    click(c, "form button[type=submit]").await;
    assert_eq!(shown(c, "#viewer-name").await, "Ada L.");
    assert_eq!(path_of(c).await, format!("/questions/{q}"), "back to the page that asked for a log-in");
}

/// Scores and the accepted mark follow the events in place, on a page that watches the
/// question without reloading; an answer that arrives behind the banner shows them too.
async fn scores_and_the_accepted_answer_update_in_place(backend: Backend) {
    use crate::common::{ISSUER, SECRET, jwt, now};
    let app = crate::common::spawn_with(backend, |config| {
        config.identity.jwt_secret = Some(SECRET.into());
        config.identity.jwt_issuer = Some(ISSUER.into());
    })
    .await;
    let user = |sub: &str| jwt(json!({"iss": ISSUER, "sub": sub, "name": sub, "exp": now() + 600}), SECRET);
    let (asker, answerer, voter) = (user("asker"), user("answerer"), user("voter"));
    let write = |method: reqwest::Method, path: String, token: &str, body: Value| {
        app.http.request(method, app.url(&path)).bearer_auth(token).json(&body).send()
    };
    let res =
        write(reqwest::Method::POST, "/api/questions".into(), &asker, json!({"title": TITLE, "body": "b"}))
            .await
            .unwrap();
    let q = crate::common::id_of(&res.json::<Value>().await.unwrap());
    let res =
        write(reqwest::Method::POST, format!("/api/questions/{q}/answers"), &answerer, json!({"body": "a1"}))
            .await
            .unwrap();
    let a1 = crate::common::id_of(&res.json::<Value>().await.unwrap());

    let driver = Driver::start().await;
    let Browser { client, _profile } = driver.browser(true).await;
    client.goto(&app.url(&format!("/questions/{q}"))).await.unwrap();
    until(&client, "the page is live", LIVE, |s| s.status.as_deref() == Some("live")).await;
    let marks = |client: &Client| {
        let client = client.clone();
        async move {
            let v = client
                .execute(
                    r#"return {
                        question: document.querySelector('#question .score').textContent,
                        answers: [...document.querySelectorAll('#answer-list li')].map(li => [
                            li.querySelector('.score').textContent,
                            li.classList.contains('accepted') && !li.querySelector('.accepted-mark').hidden,
                        ]),
                    };"#,
                    vec![],
                )
                .await
                .unwrap();
            (v["question"].as_str().unwrap().to_owned(), v["answers"].clone())
        }
    };
    assert_eq!(marks(&client).await, ("0".to_owned(), json!([["0", false]])));

    for (path, token) in
        [(format!("/api/answers/{a1}/vote"), &voter), (format!("/api/questions/{q}/vote"), &voter)]
    {
        let res = write(reqwest::Method::PUT, path, token, json!({"value": 1})).await.unwrap();
        assert_eq!(res.status(), 200);
    }
    let res =
        write(reqwest::Method::PUT, format!("/api/answers/{a1}/accept"), &asker, Value::Null).await.unwrap();
    assert_eq!(res.status(), 200);
    let expected = ("1".to_owned(), json!([["1", true]]));
    eventually("the scores and the mark show", LIVE, || {
        let (marks, expected) = (marks(&client), expected.clone());
        async move { (marks.await == expected).then_some(()) }
    })
    .await;

    // A second answer waits behind the banner; votes on it and the accept moving to it are
    // shown when it is.
    let res =
        write(reqwest::Method::POST, format!("/api/questions/{q}/answers"), &voter, json!({"body": "a2"}))
            .await
            .unwrap();
    let a2 = crate::common::id_of(&res.json::<Value>().await.unwrap());
    let res = write(reqwest::Method::PUT, format!("/api/answers/{a2}/vote"), &answerer, json!({"value": -1}))
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let res =
        write(reqwest::Method::PUT, format!("/api/answers/{a2}/accept"), &asker, Value::Null).await.unwrap();
    assert_eq!(res.status(), 200);
    // Eight events: two answers, three votes, accept, then unaccept and accept.
    until(&client, "the banner says 1 new answer, after the eighth event", LIVE, |s| {
        s.banner.as_deref() == Some("1 new answer") && s.last_seq == 8
    })
    .await;
    eventually("the accept mark left the first answer", LIVE, || {
        let marks = marks(&client);
        async move { (marks.await.1 == json!([["1", false]])).then_some(()) }
    })
    .await;
    client.find(Locator::Css("#new-answers")).await.unwrap().click().await.unwrap();
    eventually("the second answer shows its score and mark", LIVE, || {
        let marks = marks(&client);
        async move { (marks.await.1 == json!([["1", false], ["-1", true]])).then_some(()) }
    })
    .await;
}

/// What the question page shows of a question's life, read in one script call.
#[derive(Debug, Deserialize)]
struct Life {
    title: String,
    body: String,
    /// The question's "edited" marker: its revision when shown.
    edited: Option<String>,
    count: String,
    last_seq: i64,
    banner: Option<String>,
    answers: Vec<LiveAnswer>,
    /// Where answer 3 is on screen (the one the reader looks at), from the viewport's top.
    reading_top: Option<f64>,
}

#[derive(Debug, Deserialize)]
struct LiveAnswer {
    seq: i64,
    body: String,
    score: String,
    accepted: bool,
    edited: Option<String>,
    comments: Vec<String>,
}

const READ_LIFE: &str = r#"
    const q = document.getElementById('question');
    const edited = (root, id) => {
      const m = root.querySelector('[data-edited-for="' + id + '"]');
      return m && !m.hidden ? m.querySelector('a').dataset.revision : null;
    };
    const banner = document.getElementById('new-answers');
    const reading = document.getElementById('answer-3');
    return {
      title: q.querySelector('h1').textContent,
      body: (q.querySelector(':scope > .body') || {textContent: ''}).textContent,
      edited: edited(q, q.dataset.questionId),
      count: document.getElementById('answer-count').textContent,
      last_seq: Number(q.dataset.lastSeq),
      banner: banner.hidden ? null : banner.textContent,
      answers: [...document.querySelectorAll('#answer-list > li')].map(li => ({
        seq: Number(li.dataset.seq),
        body: li.querySelector(':scope > .body').textContent,
        score: li.querySelector('.score').textContent,
        accepted: li.classList.contains('accepted') && !li.querySelector('.accepted-mark').hidden,
        edited: edited(li, li.dataset.answerId),
        comments: [...li.querySelectorAll('.comment-body')].map(c => c.textContent),
      })),
      reading_top: reading ? reading.getBoundingClientRect().top : null,
    };
"#;

/// Waits until the page shows `pred`; fails after `limit`, showing the page's last state.
async fn until_life(client: &Client, what: &str, limit: Duration, pred: impl Fn(&Life) -> bool) -> Life {
    let read = || async {
        let v = client.execute(READ_LIFE, vec![]).await.expect("read the page");
        serde_json::from_value::<Life>(v).expect("page shape")
    };
    let mut last = None;
    let found = tokio::time::timeout(limit, async {
        loop {
            let life = read().await;
            if pred(&life) {
                return life;
            }
            last = Some(life);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    found.unwrap_or_else(|_| panic!("timed out after {limit:?} waiting until {what}; page: {last:#?}"))
}

/// The whole life of a question on the first user's open page: a second user's edit, vote,
/// accept and comment each show within a second, in place, and an answer deleted by its
/// author vanishes (the count follows) — all without a reload and without moving the answer
/// the reader is looking at, while changes happen above it. An answer still behind the
/// banner shows its edit and comment when revealed; one deleted there never shows.
async fn a_questions_life_shows_live_in_place(backend: Backend) {
    use crate::common::{ISSUER, SECRET, jwt, now};
    const WITHIN: Duration = Duration::from_secs(1);
    let app = crate::common::spawn_with(backend, |config| {
        config.identity.jwt_secret = Some(SECRET.into());
        config.identity.jwt_issuer = Some(ISSUER.into());
    })
    .await;
    let user = |sub: &str| jwt(json!({"iss": ISSUER, "sub": sub, "name": sub, "exp": now() + 600}), SECRET);
    let (asker, carol) = (user("asker"), user("carol"));
    let write = |method: reqwest::Method, path: String, token: &str, body: Value| {
        let req = app.http.request(method, app.url(&path)).bearer_auth(token).json(&body);
        async move {
            let res = req.send().await.unwrap();
            assert!(res.status().is_success(), "{path}: {}", res.status());
            res.json::<Value>().await.unwrap_or(Value::Null)
        }
    };
    use reqwest::Method;
    let q =
        write(Method::POST, "/api/questions".into(), &asker, json!({"title": TITLE, "body": "As asked."}))
            .await;
    let q = crate::common::id_of(&q);
    // Three long answers by carol, so the page scrolls.
    let long = |n: i64| format!("Answer {n} by carol.\n{}", "A line of explanation.\n".repeat(25));
    let mut carols = vec![];
    for n in 1..=3 {
        let a = write(Method::POST, format!("/api/questions/{q}/answers"), &carol, json!({"body": long(n)}))
            .await;
        carols.push(crate::common::id_of(&a));
    }

    // The first user signs up and answers from the page.
    let driver = Driver::start().await;
    let Browser { client, _profile } = driver.browser(true).await;
    let c = &client;
    c.goto(&app.url("/signup")).await.unwrap();
    type_into(c, "#handle", "reader").await;
    type_into(c, "#name", "Rea Der").await;
    type_into(c, "#password", "correct horse battery").await;
    click(c, "form button[type=submit]").await;
    assert_eq!(shown(c, "#viewer-name").await, "Rea Der");
    c.goto(&app.url(&format!("/questions/{q}"))).await.unwrap();
    until(c, "the page is live", LIVE, |s| s.status.as_deref() == Some("live")).await;
    type_into(c, "#answer-body", "Mine: use the hub.").await;
    click(c, "#answer-form button[type=submit]").await;
    until(c, "my answer shows", LIVE, |s| s.seqs == [1, 2, 3, 4] && s.last_seq == 4).await;
    let answers: Value = app.get(&format!("/api/questions/{q}/answers")).await.json().await.unwrap();
    let mine = crate::common::id_of(&answers["items"][3]);

    // The reader reads answer 3; everything below changes above it or inside later answers.
    c.execute("document.getElementById('answer-3').scrollIntoView({block: 'start'}); return null;", vec![])
        .await
        .unwrap();
    let start = until_life(c, "the page is read", LIVE, |_| true).await;
    let reading = start.reading_top.expect("answer 3 is on the page");
    assert!(reading.abs() < 2.0, "answer 3 is at the top of the viewport: {reading}");
    let still = |life: &Life| life.reading_top.is_some_and(|top| (top - reading).abs() < 1.0);

    write(
        Method::PATCH,
        format!("/api/questions/{q}"),
        &asker,
        json!({"title": "Edited title", "body": "As edited."}),
    )
    .await;
    let life = until_life(c, "the question's edit shows", WITHIN, |l| l.body == "As edited.").await;
    assert_eq!((life.title.as_str(), life.edited.as_deref()), ("Edited title", Some("2")));
    assert!(still(&life), "the answer being read did not move: {life:?} (was at {reading})");

    write(Method::PUT, format!("/api/answers/{mine}/vote"), &asker, json!({"value": 1})).await;
    until_life(c, "the vote shows", WITHIN, |l| l.answers.iter().any(|a| a.seq == 4 && a.score == "1")).await;

    write(Method::PUT, format!("/api/answers/{mine}/accept"), &asker, Value::Null).await;
    let life =
        until_life(c, "the accept shows", WITHIN, |l| l.answers.iter().any(|a| a.seq == 4 && a.accepted))
            .await;
    assert_eq!(
        life.answers.iter().map(|a| a.seq).collect::<Vec<_>>(),
        [1, 2, 3, 4],
        "marked in place, not moved to the top under the reader"
    );

    write(
        Method::POST,
        format!("/api/answers/{mine}/comments"),
        &asker,
        json!({"body": "Thanks, **works** <b>raw</b>."}),
    )
    .await;
    // Rendered as the inline Markdown of a comment (raw HTML stripped, its text kept).
    until_life(c, "the comment shows", WITHIN, |l| {
        l.answers.iter().any(|a| a.seq == 4 && a.comments == ["Thanks, works raw."])
    })
    .await;

    // Above the reader: carol edits answer 2 and deletes answer 1.
    write(
        Method::PATCH,
        format!("/api/answers/{}", carols[1]),
        &carol,
        json!({"body": "Answer 2, shorter."}),
    )
    .await;
    let life = until_life(c, "the answer's edit shows", WITHIN, |l| {
        l.answers
            .iter()
            .any(|a| a.seq == 2 && a.body == "Answer 2, shorter." && a.edited.as_deref() == Some("2"))
    })
    .await;
    assert!(still(&life), "an edit above did not move the answer being read: {life:?}");
    write(Method::DELETE, format!("/api/answers/{}", carols[0]), &carol, Value::Null).await;
    let life =
        until_life(c, "the deleted answer vanishes", WITHIN, |l| l.answers.iter().all(|a| a.seq != 1)).await;
    assert_eq!(life.count, "3");
    assert!(still(&life), "a delete above did not move the answer being read: {life:?}");
    let html = c.source().await.unwrap();
    assert!(!html.contains("Answer 1 by carol"), "no trace of the deleted text");

    // Behind the banner: an answer edited and commented on before it is shown, another deleted.
    let fifth =
        write(Method::POST, format!("/api/questions/{q}/answers"), &carol, json!({"body": "Fifth."})).await;
    let fifth = crate::common::id_of(&fifth);
    let sixth =
        write(Method::POST, format!("/api/questions/{q}/answers"), &carol, json!({"body": "Sixth."})).await;
    let sixth = crate::common::id_of(&sixth);
    write(Method::PATCH, format!("/api/answers/{fifth}"), &carol, json!({"body": "Fifth, edited."})).await;
    write(Method::POST, format!("/api/answers/{fifth}/comments"), &asker, json!({"body": "On the fifth."}))
        .await;
    write(Method::DELETE, format!("/api/answers/{sixth}"), &carol, Value::Null).await;
    let last =
        write(Method::GET, format!("/api/questions/{q}"), &carol, Value::Null).await["last_seq"].clone();
    let life = until_life(c, "the page has every event", WITHIN, |l| json!(l.last_seq) == last).await;
    assert_eq!((life.banner.as_deref(), life.count.as_str()), (Some("1 new answer"), "4"));
    click(c, "#new-answers").await;
    let life = until_life(c, "the fifth shows, edited, with its comment", WITHIN, |l| {
        l.answers.iter().any(|a| a.seq == 5)
    })
    .await;
    let fifth = life.answers.iter().find(|a| a.seq == 5).unwrap();
    assert_eq!((fifth.body.as_str(), fifth.edited.as_deref()), ("Fifth, edited.", Some("2")));
    assert_eq!(fifth.comments, ["On the fifth."]);
    assert!(life.answers.iter().all(|a| a.seq != 6), "the deleted one never shows");

    let name = format!("{backend:?}").to_lowercase();
    c.execute("document.getElementById('answer-4').scrollIntoView({block: 'start'}); return null;", vec![])
        .await
        .unwrap();
    std::fs::write(screenshot_dir().join(format!("{name}-question-life.png")), c.screenshot().await.unwrap())
        .unwrap();
    // The next load shows the reading order: the accepted answer first, then oldest first.
    c.refresh().await.unwrap();
    let life = until_life(c, "the page is loaded again", LIVE, |l| !l.answers.is_empty()).await;
    assert_eq!(life.answers.iter().map(|a| a.seq).collect::<Vec<_>>(), [4, 2, 3, 5]);
    c.execute("window.scrollTo(0, 0); return null;", vec![]).await.unwrap();
    std::fs::write(
        screenshot_dir().join(format!("{name}-question-reloaded.png")),
        c.screenshot().await.unwrap(),
    )
    .unwrap();

    // A moderator deletes the question: the page says so, and its text and answers go.
    let moderator = crate::common::moderator(&app).await;
    write(Method::DELETE, format!("/api/questions/{q}"), &moderator, Value::Null).await;
    let gone = r#"return !document.getElementById('deleted-notice').hidden
        && !document.querySelector('#question > .body')
        && document.querySelector('.answers').hidden;"#;
    eventually("the page says the question was deleted", WITHIN, || async {
        (c.execute(gone, vec![]).await.unwrap() == json!(true)).then_some(())
    })
    .await;
    assert!(!c.source().await.unwrap().contains("As edited."), "no trace of its text");
}

/// What the home page shows, read in one script call.
#[derive(Debug, Deserialize, PartialEq)]
struct HomeState {
    status: Option<String>,
    banner: Option<String>,
    title: String,
    ids: Vec<Uuid>,
    titles: Vec<String>,
    list_seq: i64,
    empty_shown: bool,
}

const READ_HOME: &str = r#"
    const q = (s) => document.querySelector(s);
    const status = q('#live-status');
    const banner = q('#new-questions');
    return {
      status: status && !status.hidden ? status.dataset.status : null,
      banner: banner && !banner.hidden ? banner.textContent : null,
      title: document.title,
      ids: [...document.querySelectorAll('#question-list li[data-question-id]')].map(li => li.dataset.questionId),
      titles: [...document.querySelectorAll('#question-list li h2')].map(e => e.textContent),
      list_seq: Number(q('#question-list').dataset.listSeq),
      empty_shown: !q('#no-questions').hidden,
    };
"#;

/// Waits until the home page satisfies `pred`; returns that state.
async fn until_home(client: &Client, what: &str, pred: impl Fn(&HomeState) -> bool) -> HomeState {
    let mut last = None;
    let found = tokio::time::timeout(LIVE, async {
        loop {
            let value = client.execute(READ_HOME, vec![]).await.expect("read home state");
            let s: HomeState = serde_json::from_value(value).expect("home state shape");
            if pred(&s) {
                return s;
            }
            last = Some(s);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    found.unwrap_or_else(|_| panic!("timed out after {LIVE:?} waiting until {what}; page: {last:?}"))
}

/// The home page is live: questions asked elsewhere (over REST) raise the "N new questions"
/// banner, a deleted one leaves the banner or the list, clicking the banner shows the new ones
/// at the top (titles as text), and the page then shows what a fresh load does.
async fn home_banner_follows_new_questions(backend: Backend) {
    let app = spawn(backend).await;
    let (ok, _, err) = crate::common::cli(
        &app.db,
        &["user", "create", "mod", "--moderator", "--password-stdin"],
        "correct horse\n",
    )
    .await;
    assert!(ok, "user create: {err}");
    let (ok, moderator, err) =
        crate::common::cli(&app.db, &["token", "create", "--user", "mod", "--name", "tests"], "").await;
    assert!(ok, "token create: {err}");
    let delete = |q: Uuid| {
        let req = app.http.delete(app.url(&format!("/api/questions/{q}"))).bearer_auth(moderator.trim());
        async move { assert_eq!(req.send().await.unwrap().status(), 204) }
    };

    let driver = Driver::start().await;
    let Browser { client, _profile } = driver.browser(true).await;
    client.goto(&app.url("/")).await.unwrap();
    let s = until_home(&client, "the list is live", |s| s.status.as_deref() == Some("live")).await;
    assert_eq!((s.ids.len(), s.banner.as_deref(), s.list_seq, s.empty_shown), (0, None, 0, true));
    let base_title = s.title.clone();

    let first = ask(&app, "Asked elsewhere, first", "b", "ann").await;
    let s = until_home(&client, "the banner says 1 new question", |s| {
        s.banner.as_deref() == Some("1 new question")
    })
    .await;
    assert_eq!(
        (s.title, s.ids.len()),
        (format!("(1) {base_title}"), 0),
        "new questions wait behind the banner"
    );
    let gone = ask(&app, "Asked elsewhere, then deleted", "b", "bob").await;
    let hostile = "Why is <b>this</b> not bold? <script>alert(1)</script>";
    let last = ask(&app, hostile, "b", "carol").await;
    until_home(&client, "the banner says 3 new questions", |s| {
        s.banner.as_deref() == Some("3 new questions")
    })
    .await;
    delete(gone).await;
    let s = until_home(&client, "the deleted one leaves the banner", |s| {
        s.banner.as_deref() == Some("2 new questions")
    })
    .await;
    assert_eq!(s.list_seq, 4);

    click(&client, "#new-questions").await;
    let s = until_home(&client, "the new questions are shown", |s| s.ids == [last, first]).await;
    assert_eq!((s.banner, s.title, s.empty_shown), (None, base_title.clone(), false));
    assert_eq!(s.titles, vec![hostile.to_owned(), "Asked elsewhere, first".to_owned()], "titles as text");

    // A shown question that is deleted leaves the list.
    delete(first).await;
    let s = until_home(&client, "the deleted question leaves the list", |s| s.ids == [last]).await;
    assert_eq!(s.list_seq, 5);

    // The live page ends where a fresh load starts.
    client.goto(&app.url("/")).await.unwrap();
    let fresh =
        until_home(&client, "the reloaded list is live", |s| s.status.as_deref() == Some("live")).await;
    assert_eq!((fresh.ids, fresh.titles, fresh.list_seq), (s.ids, s.titles, 5));
    client.close().await.unwrap();
}

/// The header's inbox badge, as shown: `None` when hidden.
async fn badge(client: &Client) -> Option<String> {
    let value = client
        .execute(
            "const b = document.getElementById('inbox-badge'); return b && !b.hidden ? b.textContent : null;",
            vec![],
        )
        .await
        .expect("read the badge");
    value.as_str().map(str::to_owned)
}

async fn until_badge(client: &Client, what: &str, want: Option<&str>) {
    eventually(what, LIVE, || async { (badge(client).await.as_deref() == want).then_some(()) }).await;
}

/// The inbox badge is live on every tab: an answer to the user's question raises it on two
/// tabs of one browser; opening the notification from the inbox page on one tab (a plain link)
/// clears it on the other.
async fn the_inbox_badge_follows_every_tab(backend: Backend) {
    let app = spawn(backend).await;
    let driver = Driver::start().await;
    let Browser { client: c, _profile } = driver.browser(true).await;
    c.goto(&app.url("/signup")).await.unwrap();
    type_into(&c, "#handle", "ann").await;
    type_into(&c, "#name", "Ann").await;
    type_into(&c, "#password", "correct horse battery").await;
    click(&c, "form button[type=submit]").await;
    assert_eq!(shown(&c, "#viewer-name").await, "Ann", "signed up and back on the list");
    type_into(&c, "#title", "Who hears of my answers?").await;
    type_into(&c, "#body", "The inbox.").await;
    type_into(&c, "#tags", "inbox").await;
    click(&c, "#ask button[type=submit]").await;
    let q: Uuid = eventually("the question page", LIVE, || async {
        path_of(&c).await.strip_prefix("/questions/").and_then(|id| id.parse().ok())
    })
    .await;
    until(&c, "the question page is live", LIVE, |s| s.status.as_deref() == Some("live")).await;
    let first_tab = c.window().await.unwrap();
    let second_tab = c.new_window(true).await.unwrap().handle;
    c.switch_to_window(second_tab.clone()).await.unwrap();
    c.goto(&app.url("/")).await.unwrap();
    assert_eq!(badge(&c).await, None, "nothing unread yet");

    answer_as(&app, q, "Here is one.", "bob").await;
    until_badge(&c, "the second tab's badge shows 1", Some("1")).await;
    answer_as(&app, q, "And another.", "cy").await;
    c.switch_to_window(first_tab.clone()).await.unwrap();
    until_badge(&c, "the first tab's badge shows 1 (two answers, one entry)", Some("1")).await;

    // The inbox page, as links: one entry for both answers. The badge said 1 already after the
    // first answer, so wait for the second one's fold-in itself.
    eventually("one entry for both answers on /inbox", LIVE, || async {
        c.goto(&app.url("/inbox")).await.unwrap();
        let text = text_of(&c, "#inbox-list li a").await;
        (text == "2 new answers to your question Who hears of my answers?").then_some(())
    })
    .await;
    let shot = screenshot_dir().join(format!("{}-inbox.png", format!("{backend:?}").to_lowercase()));
    std::fs::write(shot, c.screenshot().await.unwrap()).unwrap();
    click(&c, "#inbox-list li a").await;
    eventually("back on the question", LIVE, || async {
        (path_of(&c).await == format!("/questions/{q}")).then_some(())
    })
    .await;
    until_badge(&c, "this tab's badge is cleared", None).await;
    c.switch_to_window(second_tab).await.unwrap();
    until_badge(&c, "the other tab's badge is cleared by the read on the first", None).await;
    c.close().await.unwrap();
}

/// A page that watches its user's inbox with short-lived host-signed tokens keeps it across a
/// token's expiry: the hub ends the inbox subscription at `exp` (`credential_expired`), and the
/// browser client reconnects with a fresh token from its `token` function and resumes by seq.
async fn an_embedded_inbox_outlives_its_short_tokens(backend: Backend) {
    use crate::common::{ISSUER, SECRET, jwt, now};
    let app = crate::common::spawn_with(backend, |config| {
        config.identity.anonymous_writes = false;
        config.identity.jwt_secret = Some(SECRET.into());
        config.identity.jwt_issuer = Some(ISSUER.into());
        // Expiry is noticed on the ping tick.
        config.realtime.ping_interval_secs = 1;
    })
    .await;
    let token = |sub: &str, ttl: i64| {
        jwt(json!({"iss": ISSUER, "sub": sub, "name": sub, "exp": now() + ttl}), SECRET)
    };
    let (long, bob) = (token("ann", 600), token("bob", 600));
    let post = |path: String, token: String, body: Value| {
        let req = app.http.post(app.url(&path)).bearer_auth(token).json(&body);
        async move {
            let res = req.send().await.unwrap();
            assert_eq!(res.status(), 201);
            res.json::<Value>().await.unwrap()
        }
    };
    let q = post("/api/questions".into(), long.clone(), json!({"title": "Short tokens", "body": "b"})).await;
    let (q, ann) = (q["id"].as_str().unwrap().to_owned(), q["author_id"].as_str().unwrap().to_owned());
    let driver = Driver::start().await;
    let Browser { client: c, _profile } = driver.browser(true).await;
    c.goto(&app.url("/")).await.unwrap();
    // The first token runs out two seconds from now; the function gives the long one next.
    let script = r#"
        const [topic, short, long] = arguments;
        window.auths = 0; window.counts = []; window.failed = null;
        const tokens = [short, long];
        window.watch = QaHubClient.watch({
          topic, afterSeq: 0,
          token() { window.auths += 1; return tokens.length > 1 ? tokens.shift() : tokens[0]; },
          onInbox(entry) { window.counts.push(entry.count); },
          onError(e) { window.failed = e.code; },
        });
    "#;
    let args = vec![json!(format!("user:{ann}")), json!(token("ann", 2)), json!(long)];
    c.execute(script, args).await.expect("start the watch");
    let read = || async {
        c.execute("return [window.auths, window.counts, window.failed];", vec![])
            .await
            .expect("read the page")
    };
    eventually("a second token after the first expired", LIVE, || async {
        let state = read().await;
        assert!(state[2].is_null(), "the watch stopped: {state}");
        (state[0].as_i64() >= Some(2)).then_some(())
    })
    .await;
    post(format!("/api/questions/{q}/answers"), bob.clone(), json!({"body": "after the expiry"})).await;
    eventually("the answer in the inbox, after the new token", LIVE, || async {
        let state = read().await;
        (state[1] == json!([1])).then_some(())
    })
    .await;
    c.close().await.unwrap();
}

/// Behind a proxy that refuses WebSockets the page falls back to Server-Sent Events, says so,
/// shows live answers, and resumes exactly after the proxy drops its stream.
async fn the_page_falls_back_to_sse_behind_a_proxy_that_refuses_websockets(backend: Backend) {
    let app = spawn(backend).await;
    let proxy = crate::common::NoUpgradeProxy::start(app.addr).await;
    let q = app.question().await;
    app.answer(q, "before the page").await;
    let driver = Driver::start().await;
    let Browser { client, _profile } = driver.browser(true).await;
    client.goto(&format!("http://{}/questions/{q}", proxy.addr)).await.unwrap();
    let s =
        until(&client, "the page is live on the fallback", LIVE, |s| s.status.as_deref() == Some("fallback"))
            .await;
    assert_eq!(s.seqs, vec![1]);
    assert!(proxy.refused() >= 1, "the WebSocket was tried first");
    assert_eq!(text_of(&client, "#live-status").await, "live (fallback)");

    answer_as(&app, q, "over the event stream", "carol").await;
    until(&client, "the live answer's banner", LIVE, |s| s.banner.as_deref() == Some("1 new answer")).await;
    // The proxy drops the stream; an answer is posted while the page is cut off.
    proxy.drop_connections();
    answer_as(&app, q, "while cut off", "dan").await;
    let s = until(&client, "the missed answer after the stream is back", Duration::from_secs(20), |s| {
        s.banner.as_deref() == Some("2 new answers") && s.status.as_deref() == Some("fallback")
    })
    .await;
    assert_eq!(s.count, "3");
    click(&client, "#new-answers").await;
    let s = until(&client, "all three shown", LIVE, |s| s.seqs.len() == 3).await;
    assert_eq!(s.seqs, vec![1, 2, 3], "each answer exactly once");
    assert_eq!(s.bodies, vec!["before the page", "over the event stream", "while cut off"]);
    client.close().await.unwrap();
}

/// Asks a question with tags over REST, anonymously.
async fn ask_tagged(app: &TestApp, title: &str, tags: &[&str]) -> Uuid {
    let res = app
        .post_json("/api/questions", &json!({"title": title, "body": "b", "author": "zed", "tags": tags}))
        .await;
    assert_eq!(res.status(), 201);
    crate::common::id_of(&res.json::<Value>().await.unwrap())
}

/// The home page's visible question ids and its "n hidden" link, as shown.
async fn visible_and_hidden(client: &Client) -> (Vec<Uuid>, Option<String>) {
    let value = client
        .execute(
            "const t = document.getElementById('hidden-toggle'); \
             return [[...document.querySelectorAll('#question-list li[data-question-id]')] \
               .filter(li => !li.hidden).map(li => li.dataset.questionId), \
               t && !t.parentElement.hidden ? t.textContent : null];",
            vec![],
        )
        .await
        .expect("read the list");
    serde_json::from_value(value).expect("list shape")
}

/// Watched and ignored tags in the browser: the page reached from the inbox adds a watched and
/// an ignored tag, refuses a bad name with the rule, removes one; the home page then hides the
/// questions in the ignored tag behind "1 hidden", keeps a live one in it out of the banner
/// (counted in the link instead), and the link shows them all.
async fn watched_and_ignored_tags_in_the_browser(backend: Backend) {
    let app = spawn(backend).await;
    let driver = Driver::start().await;
    let Browser { client: c, _profile } = driver.browser(true).await;
    c.goto(&app.url("/signup")).await.unwrap();
    type_into(&c, "#handle", "ann").await;
    type_into(&c, "#name", "Ann").await;
    type_into(&c, "#password", "correct horse battery").await;
    click(&c, "form button[type=submit]").await;
    assert_eq!(shown(&c, "#viewer-name").await, "Ann", "signed up");
    c.goto(&app.url("/inbox")).await.unwrap();
    click(&c, "#watched-tags-link").await;
    assert_eq!(shown(&c, "#tags-watching-empty").await, "None.");
    type_into(&c, "#tag-watch-name", "Rust").await;
    click(&c, "#tag-watch-watch").await;
    assert_eq!(shown(&c, "#tags-watching li[data-tag=rust] .tag").await, "rust");
    type_into(&c, "#tag-watch-name", "php").await;
    click(&c, "#tag-watch-ignore").await;
    assert_eq!(shown(&c, "#tags-ignored li[data-tag=php] .tag").await, "php");
    type_into(&c, "#tag-watch-name", "two words").await;
    click(&c, "#tag-watch-watch").await;
    assert!(shown(&c, "#tag-watch-error").await.contains("a-z, 0-9"), "the rule is shown");
    click(&c, "#tags-watching li[data-tag=rust] button.remove").await;
    assert_eq!(shown(&c, "#tags-watching-empty").await, "None.");
    assert_eq!(text_of(&c, "#tags-ignored li .tag").await, "php", "the ignored one stays");

    let hidden = ask_tagged(&app, "In an ignored tag", &["go", "php"]).await;
    let plain = ask_tagged(&app, "In another tag", &["rust"]).await;
    c.goto(&app.url("/")).await.unwrap();
    until_home(&c, "the list is live", |s| s.status.as_deref() == Some("live")).await;
    assert_eq!(visible_and_hidden(&c).await, (vec![plain], Some("1 hidden".into())));

    // Live: one in the ignored tag stays out of the banner and counts in the link; the next
    // one (after it in the list's seq) reaches the banner.
    let live_hidden = ask_tagged(&app, "Live, ignored", &["php"]).await;
    let live = ask_tagged(&app, "Live, shown", &["go"]).await;
    let s =
        until_home(&c, "the banner says 1 new question", |s| s.banner.as_deref() == Some("1 new question"))
            .await;
    assert_eq!(visible_and_hidden(&c).await.1.as_deref(), Some("2 hidden"), "{s:?}");
    click(&c, "#new-questions").await;
    eventually("the shown one is listed, not the ignored one", LIVE, || async {
        (visible_and_hidden(&c).await.0 == [live, plain]).then_some(())
    })
    .await;

    click(&c, "#hidden-toggle").await;
    eventually("every question shown", LIVE, || async {
        (visible_and_hidden(&c).await.0 == [live, live_hidden, plain, hidden]).then_some(())
    })
    .await;
    assert_eq!(text_of(&c, "#hidden-toggle").await, "Hide questions in ignored tags");
    c.close().await.unwrap();
}

on_both_backends!(
    watched_and_ignored_tags_in_the_browser,
    an_embedded_inbox_outlives_its_short_tokens,
    the_page_falls_back_to_sse_behind_a_proxy_that_refuses_websockets,
    the_inbox_badge_follows_every_tab,
    home_banner_follows_new_questions,
    sign_up_ask_answer_log_out_log_in,
    scores_and_the_accepted_answer_update_in_place,
    a_questions_life_shows_live_in_place,
    banner_follows_new_answers,
    banner_on_an_earlier_page_goes_to_the_new_answers,
    two_pages_see_one_answer,
    page_resumes_after_restart,
    hostile_text_is_shown_as_text,
    hostile_markdown_is_inert_on_the_page_and_live,
    the_answer_form_previews_live,
    forms_work_without_javascript,
);
