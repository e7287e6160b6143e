//! Tags on the pages: the ask form's tags field (parsed with the domain's rules, the error
//! beside the field), tags shown and linked on the list and the question, a page per tag
//! (`/tags/{tag}`: paged, live on topic `tag:{name}` in Chromium, like the home page) and the
//! tags with their counts (`/tags`).

use std::time::Duration;

use fantoccini::{Client, Locator};
use reqwest::Method;
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::common::{
    Backend, Browser, Driver, TestApp, click, eventually, host_tokens, id_of, no_redirects, path_of,
    spawn_with, type_into, user,
};

const FORM: &str = "application/x-www-form-urlencoded";
const LIVE: Duration = Duration::from_secs(10);

/// A hub that takes anonymous posts from its pages and host-signed tokens over REST.
async fn app(backend: Backend) -> TestApp {
    spawn_with(backend, host_tokens).await
}

async fn post_form(app: &TestApp, path: &str, body: String) -> reqwest::Response {
    no_redirects().post(app.url(path)).header("content-type", FORM).body(body).send().await.unwrap()
}

async fn page(app: &TestApp, path: &str) -> (u16, String) {
    let res = app.get(path).await;
    (res.status().as_u16(), res.text().await.unwrap())
}

/// Asks over REST as `token`'s user with `tags`; the question's id.
async fn ask_tagged(app: &TestApp, token: &str, title: &str, tags: &[&str]) -> Uuid {
    let (status, q) = app
        .send(Method::POST, "/api/questions", Some(token), json!({"title": title, "body": "b", "tags": tags}))
        .await;
    assert_eq!(status, 201, "{q}");
    id_of(&q)
}

/// Text as a page shows it (askama escapes `"`).
fn escaped(text: &str) -> String {
    text.replace('"', "&#34;")
}

/// The tag links a page shows, as markup.
fn tag_link(href: &str, name: &str) -> String {
    format!("<a class=\"tag\" href=\"{href}\" rel=\"tag\">{name}</a>")
}

/// The home page's form takes tags separated by spaces or commas; a question asked with it
/// carries them. Missing or bad tags come back with the rule beside the field, a 422 and the
/// form as typed; nothing is stored.
async fn the_ask_form_takes_tags(backend: Backend) {
    let app = app(backend).await;
    let (_, home) = page(&app, "/").await;
    assert!(home.contains("id=\"tags\" name=\"tags\""), "the form has a tags field");

    for (tags, says) in [
        ("", "A question has 1 to 5 tags; 0 were given."),
        ("+,%20", "A question has 1 to 5 tags; 0 were given."),
        ("a+b+c+d+e+f", "A question has 1 to 5 tags; 6 were given."),
        ("rust+r%C3%BCst", "\"rüst\" is not a tag name. A tag is 1 to 35 characters from a-z, 0-9"),
        ("-rust", "\"-rust\" is not a tag name."),
    ] {
        let body = format!("title=Kept+title&body=Kept+body&tags={tags}&author=ann");
        let res = post_form(&app, "/questions", body).await;
        assert_eq!(res.status(), 422, "{tags}");
        let html = res.text().await.unwrap();
        let error = html.find("id=\"tags-error\"").map(|at| &html[at..at + 300]);
        let error = error.unwrap_or_else(|| panic!("{tags}: no error beside the field"));
        assert!(error.contains(&escaped(says)), "{tags}: {error}");
        assert!(
            html.contains("value=\"Kept title\"") && html.contains(">Kept body</textarea>"),
            "{tags}: form kept"
        );
        assert!(html.contains("aria-invalid=\"true\""));
    }
    let res = post_form(&app, "/questions", "title=Kept&body=b&tags=rust+r%C3%BCst&author=ann".into()).await;
    assert!(res.text().await.unwrap().contains("value=\"rust rüst\""), "the tags as typed");
    let listed: Value = app.get("/api/questions").await.json().await.unwrap();
    assert_eq!(listed["items"], json!([]), "nothing refused was stored");

    let res =
        post_form(&app, "/questions", "title=Tagged&body=b&tags=Rust,+tokio++async%2Crust&author=ann".into())
            .await;
    assert_eq!(res.status(), 303);
    let location = res.headers()["location"].to_str().unwrap().to_owned();
    let asked: Value = app.get(&format!("/api{location}")).await.json().await.unwrap();
    assert_eq!(asked["tags"], json!(["rust", "tokio", "async"]), "folded, each once, in order");
}

/// Tags show on the list and under the question, each a link to its page (percent-encoded:
/// `c#` is `/tags/c%23`); a tag's page lists its questions only, newest first, paged; a name
/// in other letters' case goes to the tag's page; a name that breaks the rules is a 404 with
/// the rule.
async fn tags_show_and_link_to_their_page(backend: Backend) {
    let app = app(backend).await;
    let ann = user("ann");
    let sharp = ask_tagged(&app, &ann, "Sharp", &["c#", "c++"]).await;
    let rusty = ask_tagged(&app, &ann, "Rusty", &["rust"]).await;
    let (_, untagged) =
        app.send(Method::POST, "/api/questions", Some(&ann), json!({"title": "Plain", "body": "b"})).await;
    let plain = id_of(&untagged);

    let (_, home) = page(&app, "/").await;
    let links = format!("{}</li><li>{}", tag_link("/tags/c%23", "c#"), tag_link("/tags/c%2B%2B", "c++"));
    assert!(home.contains(&links), "{home}");
    assert!(home.contains(&tag_link("/tags/rust", "rust")));
    let (_, question) = page(&app, &format!("/questions/{sharp}")).await;
    assert!(question.contains(&links), "under the question");
    let (_, question) = page(&app, &format!("/questions/{plain}")).await;
    assert!(question.contains("id=\"question-tags\" aria-label=\"Tags\" hidden></ul>"), "none: hidden");

    for path in ["/tags/c%23", "/tags/c%2B%2B", "/tags/c++"] {
        let (status, html) = page(&app, path).await;
        assert_eq!(status, 200, "{path}");
        assert!(html.contains(&format!("data-question-id=\"{sharp}\"")), "{path}");
        assert!(!html.contains(&format!("data-question-id=\"{rusty}\"")), "{path}: only the tag's");
        assert!(!html.contains(&format!("data-question-id=\"{plain}\"")), "{path}");
    }
    let (_, html) = page(&app, "/tags/c%23").await;
    assert!(html.contains("data-topic=\"tag:c#\" data-list-seq=\""), "live on the tag's topic");

    let res = no_redirects().get(app.url("/tags/C%23")).send().await.unwrap();
    assert_eq!((res.status().as_u16(), res.headers()["location"].to_str().unwrap()), (303, "/tags/c%23"));
    for (path, says) in [
        ("/tags/two%20words", "\"two words\" is not a tag name."),
        ("/tags/-rust", "\"-rust\" is not a tag name."),
        ("/tags/%FF", "A tag is 1 to 35 characters"),
    ] {
        let (status, html) = page(&app, path).await;
        assert_eq!(status, 404, "{path}");
        assert!(html.contains(&escaped(says)), "{path}: {html}");
        assert!(html.contains("A tag is 1 to 35 characters"), "{path}: the rule");
    }
    let (status, html) = page(&app, "/tags/unused").await;
    assert_eq!(status, 200);
    assert!(html.contains("No questions tagged unused yet"));
    assert!(html.contains("data-list-seq=\"0\""), "a tag nobody used is at seq 0");

    // Paged like the home page: 20 a page, newest first; older pages are not live.
    let mut paged = Vec::new();
    for i in 1..=23 {
        paged.push(ask_tagged(&app, &ann, &format!("Paged {i:02}"), &["paged", "rust"]).await);
    }
    let (_, first) = page(&app, "/tags/paged").await;
    assert_eq!(first.matches("class=\"question-item\"").count(), 20);
    assert!(first.find("Paged 23").unwrap() < first.find("Paged 22").unwrap(), "newest first");
    let older = format!("href=\"/tags/paged?before={}\"", paged[3]);
    assert!(first.contains(&older), "a link to older questions");
    let (_, second) = page(&app, &format!("/tags/paged?before={}", paged[3])).await;
    assert_eq!(second.matches("class=\"question-item\"").count(), 3);
    assert!(second.contains("Paged 01") && !second.contains("?before="));
    assert!(!second.contains("data-list-seq") && !second.contains("home.js"), "older pages are not live");
    let (status, _) = page(&app, "/tags/paged?before=nope").await;
    assert_eq!(status, 400);
}

/// `/tags`: every tag questions carry, with its count, most used first.
async fn the_tags_page_shows_counts(backend: Backend) {
    let app = app(backend).await;
    let (status, html) = page(&app, "/tags").await;
    assert_eq!(status, 200);
    assert!(html.contains("No question carries a tag yet."));

    let ann = user("ann");
    for tags in [&["rust", "tokio"][..], &["rust"], &["go", "rust"], &["tokio"], &["c#"]] {
        ask_tagged(&app, &ann, "t", tags).await;
    }
    let (_, html) = page(&app, "/tags").await;
    let shown: Vec<(String, String)> = html
        .split("<li data-tag=\"")
        .skip(1)
        .map(|item| {
            let name = item[..item.find('"').unwrap()].to_owned();
            let at = item.find("class=\"count\">").unwrap() + "class=\"count\">".len();
            (name, item[at..at + item[at..].find('<').unwrap()].to_owned())
        })
        .collect();
    let want =
        [("rust", "3 questions"), ("tokio", "2 questions"), ("c#", "1 question"), ("go", "1 question")];
    let want: Vec<(String, String)> = want.iter().map(|(n, c)| (n.to_string(), c.to_string())).collect();
    assert_eq!(shown, want, "most used first, then by name");
    assert!(html.contains(&tag_link("/tags/c%23", "c#")), "each links to its page");
    assert!(!html.contains("rel=\"next\""), "one page");

    // 100 a page: 4 tags above and 100 more make two pages.
    for i in 0..20 {
        let tags: Vec<String> = (0..5).map(|j| format!("t{:03}", i * 5 + j)).collect();
        let tags: Vec<&str> = tags.iter().map(String::as_str).collect();
        ask_tagged(&app, &ann, "t", &tags).await;
    }
    let (_, first) = page(&app, "/tags").await;
    assert_eq!(first.matches("<li data-tag=").count(), 100);
    assert!(first.contains("<a rel=\"next\" href=\"/tags?offset=100\">"), "{first}");
    let (_, second) = page(&app, "/tags?offset=100").await;
    assert_eq!(second.matches("<li data-tag=").count(), 4, "the least used, by name: t096 to t099");
    assert!(second.contains("data-tag=\"t099\"") && second.contains("<a rel=\"prev\" href=\"/tags\">"));
    assert_eq!(page(&app, "/tags?offset=-1").await.0, 400);
}

/// The question's edit form carries its tags, prefilled; saving it retags the question (the
/// tags' pages and counts follow); bad tags are refused with the rule; the revisions page shows
/// each revision's tags.
async fn retagging_with_the_edit_form(backend: Backend) {
    use crate::common::{csrf_of, hub, log_in, session_of, user_with_token};
    let app = hub(backend).await;
    let (_, ann) = user_with_token(&app, "ann").await;
    let q = ask_tagged(&app, &ann, "Retag me", &["rust", "tokio"]).await;
    let cookie = session_of(&log_in(&app, "ann", "correct horse").await);
    let csrf = csrf_of(&app, &cookie).await;
    let question = format!("/questions/{q}");
    let html = no_redirects().get(app.url(&question)).header("cookie", &cookie).send().await.unwrap();
    let html = html.text().await.unwrap();
    assert!(html.contains("id=\"edit-tags\" name=\"tags\" value=\"rust tokio\""), "prefilled: {html}");

    let edit = |tags: &str| {
        let body = format!(
            "csrf={csrf}&kind=question&post={q}&title=Retag+me&body=b&tags={tags}&back=%2Fquestions%2F{q}"
        );
        no_redirects()
            .post(app.url(&format!("{question}/edit")))
            .header("content-type", FORM)
            .header("cookie", &cookie)
            .body(body)
            .send()
    };
    let res = edit("rust+two_words").await.unwrap();
    assert_eq!(res.status(), 422);
    let text = res.text().await.unwrap();
    assert!(text.contains(&escaped("\"two_words\" is not a tag name. A tag is 1 to 35")), "{text}");
    let res = edit("Go,+rust").await.unwrap();
    assert_eq!(res.status(), 303);
    let asked: Value = app.get(&format!("/api{question}")).await.json().await.unwrap();
    assert_eq!(asked["tags"], json!(["go", "rust"]));

    let (_, tokio) = page(&app, "/tags/tokio").await;
    assert!(!tokio.contains(&q.to_string()), "retagged away from tokio");
    let (_, go) = page(&app, "/tags/go").await;
    assert!(go.contains(&format!("data-question-id=\"{q}\"")), "retagged to go");
    let (_, tags) = page(&app, "/tags").await;
    assert!(tags.contains("data-tag=\"go\"") && !tags.contains("data-tag=\"tokio\""), "{tags}");

    let (_, revisions) = page(&app, &format!("{question}/revisions")).await;
    let shown: Vec<&str> = revisions.split("class=\"tags revision-tags\"").skip(1).collect();
    assert_eq!(shown.len(), 2, "{revisions}");
    assert!(
        shown[0].starts_with(&format!(
            " aria-label=\"Tags\"><li>{}</li><li>{}",
            tag_link("/tags/go", "go"),
            tag_link("/tags/rust", "rust")
        )),
        "newest first: {}",
        shown[0]
    );
    assert!(shown[1].contains(&tag_link("/tags/tokio", "tokio")), "as asked: {}", shown[1]);
}

/// What a list of questions shows, read in one script call.
#[derive(Debug, Deserialize)]
struct ListState {
    status: Option<String>,
    banner: Option<String>,
    ids: Vec<Uuid>,
    /// Each row's tags, as markup.
    tags: Vec<String>,
    list_seq: i64,
}

const READ_LIST: &str = r#"
    const q = (s) => document.querySelector(s);
    const status = q('#live-status');
    const banner = q('#new-questions');
    const rows = [...document.querySelectorAll('#question-list li[data-question-id]')];
    return {
      status: status && !status.hidden ? status.dataset.status : null,
      banner: banner && !banner.hidden ? banner.textContent : null,
      ids: rows.map(li => li.dataset.questionId),
      tags: rows.map(li => { const ul = li.querySelector('ul.tags'); return ul ? ul.outerHTML : ''; }),
      list_seq: Number(q('#question-list').dataset.listSeq),
    };
"#;

async fn until_list(client: &Client, what: &str, pred: impl Fn(&ListState) -> bool) -> ListState {
    let mut last = None;
    let found = tokio::time::timeout(LIVE, async {
        loop {
            let value = client.execute(READ_LIST, vec![]).await.expect("read the list");
            let s: ListState = serde_json::from_value(value).expect("list state shape");
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

/// In Chromium: the ask form's tags error shows beside the field with the form kept; asked,
/// the question shows its tags; on the home page a question that arrives live shows its tags
/// as a reloaded page does.
async fn asking_with_tags_in_the_browser(backend: Backend) {
    let app = app(backend).await;
    let driver = Driver::start().await;
    let Browser { client: c, _profile } = driver.browser(true).await;
    c.goto(&app.url("/")).await.unwrap();
    until_list(&c, "the home page is live", |s| s.status.as_deref() == Some("live")).await;

    type_into(&c, "#title", "Which runtime?").await;
    type_into(&c, "#body", "Kept as typed.").await;
    type_into(&c, "#tags", "rust two_words").await;
    type_into(&c, "#author", "ann").await;
    click(&c, "#ask button[type=submit]").await;
    let error = eventually("the tags error shows", LIVE, || async {
        c.find(Locator::Css("#tags-error")).await.ok()?.text().await.ok()
    })
    .await;
    assert!(error.starts_with("\"two_words\" is not a tag name. A tag is 1 to 35 characters"), "{error}");
    let kept = c.find(Locator::Css("#body")).await.unwrap().prop("value").await.unwrap();
    assert_eq!(kept.as_deref(), Some("Kept as typed."));
    let kept = c.find(Locator::Css("#tags")).await.unwrap().prop("value").await.unwrap();
    assert_eq!(kept.as_deref(), Some("rust two_words"));

    type_into(&c, "#tags", "rust, async c#").await;
    click(&c, "#ask button[type=submit]").await;
    eventually("the question page", LIVE, || async {
        path_of(&c).await.starts_with("/questions/").then_some(())
    })
    .await;
    let names: Vec<String> = c
        .execute("return [...document.querySelectorAll('#question-tags a')].map(a => a.textContent + ' ' + a.getAttribute('href'))", vec![])
        .await
        .map(|v| serde_json::from_value(v).unwrap())
        .unwrap();
    assert_eq!(names, ["rust /tags/rust", "async /tags/async", "c# /tags/c%23"]);

    // Live on the home page: the row the script builds shows the tags as a reload does.
    c.goto(&app.url("/")).await.unwrap();
    until_list(&c, "the home page is live", |s| s.status.as_deref() == Some("live")).await;
    let q = ask_tagged(&app, &user("bob"), "Asked elsewhere", &["c++", "rust"]).await;
    until_list(&c, "the banner", |s| s.banner.as_deref() == Some("1 new question")).await;
    click(&c, "#new-questions").await;
    let live = until_list(&c, "the new question shows", |s| s.ids.first() == Some(&q)).await;
    c.goto(&app.url("/")).await.unwrap();
    let reloaded = until_list(&c, "the reloaded page", |s| s.status.as_deref() == Some("live")).await;
    assert_eq!(live.tags[0], reloaded.tags[0], "the same markup live and reloaded");
    assert!(reloaded.tags[0].contains("href=\"/tags/c%2B%2B\""), "{}", reloaded.tags[0]);
    c.close().await.unwrap();
}

/// A tag's page is live on `tag:{name}`: a question asked in the tag (over REST) raises the
/// banner and shows with its tags; one asked in another tag does not; one retagged away or
/// deleted leaves the page; the live page ends where a fresh load starts.
async fn a_tag_page_is_live(backend: Backend) {
    let app = app(backend).await;
    let (ann, bob) = (user("ann"), user("bob"));
    let before = ask_tagged(&app, &ann, "Before the page", &["rust"]).await;
    let driver = Driver::start().await;
    let Browser { client: c, _profile } = driver.browser(true).await;
    c.goto(&app.url("/tags/rust")).await.unwrap();
    let s = until_list(&c, "the tag's page is live", |s| s.status.as_deref() == Some("live")).await;
    assert_eq!((s.ids, s.list_seq), (vec![before], 1));

    let other = ask_tagged(&app, &bob, "Another tag", &["go"]).await;
    let first = ask_tagged(&app, &bob, "In the tag", &["go", "rust"]).await;
    let s =
        until_list(&c, "the banner says 1 new question", |s| s.banner.as_deref() == Some("1 new question"))
            .await;
    assert_eq!(s.list_seq, 2, "the other tag's question is not on this topic");
    click(&c, "#new-questions").await;
    let s = until_list(&c, "the new question shows", |s| s.ids == [first, before]).await;
    assert!(!s.ids.contains(&other));
    assert!(s.tags[0].contains(&tag_link("/tags/go", "go")), "{}", s.tags[0]);

    // Retagged away: it leaves the page. Deleted: the same.
    let (status, body) = app
        .send(Method::PATCH, &format!("/api/questions/{first}"), Some(&bob), json!({"tags": ["go"]}))
        .await;
    assert_eq!(status, 200, "{body}");
    until_list(&c, "the retagged question leaves", |s| s.ids == [before]).await;
    let (status, body) =
        app.send(Method::DELETE, &format!("/api/questions/{before}"), Some(&ann), json!(null)).await;
    assert!(status == 204 || status == 200, "{status} {body}");
    let s = until_list(&c, "the deleted question leaves", |s| s.ids.is_empty()).await;

    c.goto(&app.url("/tags/rust")).await.unwrap();
    let fresh = until_list(&c, "the reloaded page is live", |s| s.status.as_deref() == Some("live")).await;
    assert_eq!((fresh.ids, fresh.list_seq), (s.ids, s.list_seq));
    c.close().await.unwrap();
}

/// On a question's page, a retag (an `edit` that carries the new tags) shows live under the
/// question, linked as a reload shows them, and in the edit form's field.
async fn a_retag_shows_live_on_the_question_page(backend: Backend) {
    let app = app(backend).await;
    let bob = user("bob");
    let q = ask_tagged(&app, &bob, "Retagged while watched", &["rust"]).await;
    let driver = Driver::start().await;
    let Browser { client: c, _profile } = driver.browser(true).await;
    c.goto(&app.url(&format!("/questions/{q}"))).await.unwrap();
    const READ: &str = "const s = document.getElementById('live-status'); \
        return [s.hidden ? '' : s.dataset.status, document.getElementById('question-tags').outerHTML];";
    let read = || async {
        serde_json::from_value::<(String, String)>(c.execute(READ, vec![]).await.unwrap()).unwrap()
    };
    eventually("the question page is live", LIVE, || async { (read().await.0 == "live").then_some(()) })
        .await;

    let (status, body) = app
        .send(Method::PATCH, &format!("/api/questions/{q}"), Some(&bob), json!({"tags": ["c#", "rust"]}))
        .await;
    assert_eq!(status, 200, "{body}");
    let want = format!("{}</li><li>{}", tag_link("/tags/c%23", "c#"), tag_link("/tags/rust", "rust"));
    let live = eventually("the new tags show", LIVE, || async {
        let (_, tags) = read().await;
        tags.contains(&want).then_some(tags)
    })
    .await;
    c.goto(&app.url(&format!("/questions/{q}"))).await.unwrap();
    let (_, reloaded) = read().await;
    assert_eq!(live, reloaded, "the same markup live and reloaded");
    c.close().await.unwrap();
}

on_both_backends!(
    the_ask_form_takes_tags,
    tags_show_and_link_to_their_page,
    the_tags_page_shows_counts,
    retagging_with_the_edit_form,
    asking_with_tags_in_the_browser,
    a_tag_page_is_live,
    a_retag_shows_live_on_the_question_page,
);
