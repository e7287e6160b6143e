//! The web pages over plain HTTP (no browser): status codes, pagination, form errors, the
//! static files, that a form-posted answer reaches WebSocket watchers, the answers' reading
//! order, the edit, delete and comment forms (CSRF, who may, what the page shows after), and
//! where a redirect built from a form's input may lead.

use crate::common::{Backend, TestApp, no_redirects, spawn};
use serde_json::{Value, json};
use uuid::Uuid;

const FORM: &str = "application/x-www-form-urlencoded";

async fn post_form(app: &TestApp, path: &str, body: impl Into<reqwest::Body>) -> reqwest::Response {
    no_redirects().post(app.url(path)).header("content-type", FORM).body(body).send().await.unwrap()
}

fn assert_html_page(res: &reqwest::Response) {
    let headers = res.headers();
    assert!(headers["content-type"].to_str().unwrap().starts_with("text/html"), "{headers:?}");
    assert!(headers.contains_key("content-security-policy"), "{headers:?}");
}

async fn list_paginates_newest_first(backend: Backend) {
    let app = spawn(backend).await;
    let res = app.get("/").await;
    assert_eq!(res.status(), 200);
    assert_html_page(&res);
    assert!(res.text().await.unwrap().contains("No questions yet"));

    for i in 1..=23 {
        let res = app
            .post_json(
                "/api/questions",
                &json!({"title": format!("Question number {i:02}"), "body": "b", "author": "a"}),
            )
            .await;
        assert_eq!(res.status(), 201);
    }
    let first = app.get("/").await.text().await.unwrap();
    assert_eq!(first.matches("class=\"question-item\"").count(), 20);
    let newest = first.find("Question number 23").expect("newest on page 1");
    assert!(newest < first.find("Question number 22").unwrap(), "newest first");
    assert!(!first.contains("Question number 03"));
    let at = first.find("href=\"/?before=").expect("a link to older questions") + "href=\"".len();
    let link = &first[at..first[at..].find('"').unwrap() + at];

    let second = app.get(link).await.text().await.unwrap();
    assert_eq!(second.matches("class=\"question-item\"").count(), 3);
    assert!(second.contains("Question number 01") && second.contains("Question number 03"));
    assert!(!second.contains("?before="), "the last page has no older link");
    assert!(second.contains("« Newest"));

    let res = app.get("/?before=not-a-uuid").await;
    assert_eq!(res.status(), 400);
    assert_html_page(&res);
}

async fn bad_forms_get_clear_errors(backend: Backend) {
    let app = spawn(backend).await;
    let long_title = "x".repeat(301);
    let res = post_form(&app, "/questions", format!("title={long_title}&body=keep+me&author=ann")).await;
    assert_eq!(res.status(), 422);
    assert_html_page(&res);
    let page = res.text().await.unwrap();
    assert!(page.contains("Title must be at most 300 characters (it has 301)."), "{page}");
    assert!(page.contains(">keep me</textarea>"), "what was typed is kept");

    // Missing fields count as empty, not as a malformed request.
    let res = post_form(&app, "/questions", "").await;
    assert_eq!(res.status(), 422);
    let page = res.text().await.unwrap();
    for field in ["Title", "Body", "Author"] {
        assert!(page.contains(&format!("{field} must not be empty.")), "{field}");
    }

    let res = no_redirects().post(app.url("/questions")).json(&json!({"title": "t"})).send().await.unwrap();
    assert_eq!(res.status(), 415);
    assert_html_page(&res);

    let res =
        post_form(&app, "/questions", format!("title=t&author=a&body={}", "y".repeat(600 * 1024))).await;
    assert_eq!(res.status(), 413);
    assert_html_page(&res);

    for path in [format!("/questions/{}/answers", Uuid::new_v4()), "/questions/nope/answers".into()] {
        let res = post_form(&app, &path, "body=hello&author=ann").await;
        assert_eq!(res.status(), 404, "{path}");
        assert_html_page(&res);
    }
    for path in [format!("/questions/{}", Uuid::new_v4()), "/questions/nope".into(), "/static/nope.js".into()]
    {
        let res = app.get(&path).await;
        assert_eq!(res.status(), 404, "{path}");
        assert_html_page(&res);
    }
    // Reloading a form's error page (a GET of the form's URL) leads back to the page.
    let q = app.question().await;
    let res = no_redirects().get(app.url(&format!("/questions/{q}/answers"))).send().await.unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()["location"], format!("/questions/{q}").as_str());
    let res = no_redirects().get(app.url("/questions")).send().await.unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()["location"], "/");
    // Other unknown paths keep the API's JSON 404.
    let res = app.get("/nothing-here").await;
    assert_eq!(res.status(), 404);
    assert!(res.headers()["content-type"].to_str().unwrap().starts_with("application/json"));
}

async fn form_answer_reaches_watchers(backend: Backend) {
    let app = spawn(backend).await;
    let q = app.question().await;
    let mut ws = app.ws().await;
    ws.subscribe_legacy(q, None).await;
    let res = post_form(
        &app,
        &format!("/questions/{q}/answers"),
        "body=Via+the+form%0Awith+a+newline&author=+zoe+",
    )
    .await;
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()["location"], format!("/questions/{q}#answer-1").as_str());
    let msg = ws.recv().await;
    assert_eq!(msg["type"], "answer");
    assert_eq!(msg["answer"]["body"], "Via the form\nwith a newline");
    assert_eq!(msg["answer"]["author"], "zoe", "one-line fields are trimmed, as in the API");
    let page = app.get(&format!("/questions/{q}")).await.text().await.unwrap();
    assert!(page.contains("data-last-seq=\"1\""));
    assert!(page.contains("Via the form\nwith a newline"));
}

/// A long question's page shows 30 answers at a time (page p: answers 30(p-1)+1 to 30p), so a
/// request's memory is bounded whatever the question's size; the script still resumes from
/// the newest answer, and a form answer redirects to the page that shows it.
async fn a_long_question_is_paged(backend: Backend) {
    let app = spawn(backend).await;
    let q = app.question().await;
    for chunk in 0..13 {
        let posts = (0..5).map(|i| {
            let app = &app;
            async move { app.answer(q, &format!("answer {}", chunk * 5 + i)).await }
        });
        futures_util::future::join_all(posts).await;
    }
    let seqs_on = |page: &str| -> Vec<i64> {
        page.split("<li class=\"answer\" id=\"answer-")
            .skip(1)
            .map(|rest| rest[..rest.find('"').unwrap()].parse().unwrap())
            .collect()
    };
    let first = app.get(&format!("/questions/{q}")).await.text().await.unwrap();
    assert_eq!(seqs_on(&first), (1..=30).collect::<Vec<_>>());
    assert!(first.contains("data-last-seq=\"65\""), "resumes from the newest answer");
    assert!(first.contains(">65</span>"), "the count is the question's");
    assert!(first.contains("Page 1 of 3"));
    assert!(first.contains(&format!("href=\"/questions/{q}?page=2\" rel=\"next\"")));
    assert!(!first.contains("rel=\"prev\""));
    let second = app.get(&format!("/questions/{q}?page=2")).await.text().await.unwrap();
    assert_eq!(seqs_on(&second), (31..=60).collect::<Vec<_>>());
    assert!(second.contains(&format!("href=\"/questions/{q}\" rel=\"prev\"")));
    let last = app.get(&format!("/questions/{q}?page=3")).await.text().await.unwrap();
    assert_eq!(seqs_on(&last), (61..=65).collect::<Vec<_>>());
    assert!(last.contains("Page 3 of 3") && !last.contains("rel=\"next\""));

    assert_eq!(app.get(&format!("/questions/{q}?page=4")).await.status(), 404);
    for bad in ["0", "-1", "two", "99999999999999999999"] {
        assert_eq!(app.get(&format!("/questions/{q}?page={bad}")).await.status(), 400, "page={bad}");
    }
    let res = post_form(&app, &format!("/questions/{q}/answers"), "body=Sixty-six&author=zoe").await;
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()["location"], format!("/questions/{q}?page=3#answer-66").as_str());

    let empty = app.question().await;
    assert_eq!(app.get(&format!("/questions/{empty}?page=1")).await.status(), 200);
    assert_eq!(app.get(&format!("/questions/{empty}?page=2")).await.status(), 404);
}

/// A form posted from another site's page (cross-site request forgery) gets 403 and changes
/// nothing, whether the browser says so in `Sec-Fetch-Site` or only in `Origin`; our own
/// pages' forms and clients that send neither are served.
async fn cross_site_forms_are_refused(backend: Backend) {
    let app = spawn(backend).await;
    let q = app.question().await;
    let own = format!("http://{}", app.addr);
    let post = |path: String, headers: Vec<(&'static str, String)>| {
        let mut req = no_redirects().post(app.url(&path)).header("content-type", FORM);
        for (name, value) in headers {
            req = req.header(name, value);
        }
        req.body("title=Forged&body=forged&author=mallory").send()
    };
    let forged = [
        vec![("origin", "http://evil.example".to_owned())],
        vec![("sec-fetch-site", "cross-site".to_owned()), ("origin", "http://evil.example".to_owned())],
        vec![("sec-fetch-site", "same-site".to_owned())],
    ];
    for headers in forged {
        for path in ["/questions".to_owned(), format!("/questions/{q}/answers")] {
            let res = post(path.clone(), headers.clone()).await.unwrap();
            assert_eq!(res.status(), 403, "{path} {headers:?}");
            assert!(res.text().await.unwrap().contains("another site"));
        }
    }
    let all: Value = app.get("/api/questions").await.json().await.unwrap();
    assert_eq!(all["items"].as_array().unwrap().len(), 1, "no forged question");
    let question: Value = app.get(&format!("/api/questions/{q}")).await.json().await.unwrap();
    assert_eq!(question["answer_count"], 0, "no forged answer");

    let same = vec![("sec-fetch-site", "same-origin".to_owned()), ("origin", own.clone())];
    assert_eq!(post(format!("/questions/{q}/answers"), same).await.unwrap().status(), 303);
    assert_eq!(post(format!("/questions/{q}/answers"), vec![("origin", own)]).await.unwrap().status(), 303);
    assert_eq!(post(format!("/questions/{q}/answers"), vec![]).await.unwrap().status(), 303, "not a browser");
}

async fn static_files_are_served(backend: Backend) {
    let app = spawn(backend).await;
    for (path, kind) in [
        ("/static/app.css", "text/css"),
        ("/static/qa-hub-client.js", "text/javascript"),
        ("/static/question.js", "text/javascript"),
        ("/static/home.js", "text/javascript"),
    ] {
        let res = app.get(path).await;
        assert_eq!(res.status(), 200, "{path}");
        assert!(res.headers()["content-type"].to_str().unwrap().starts_with(kind), "{path}");
        assert!(!res.text().await.unwrap().is_empty());
    }
}

/// The answers' ids in the order a page shows them (`<li class="answer…" id="answer-N"`).
fn answer_seqs(page: &str) -> Vec<i64> {
    page.split("<li class=\"answer")
        .skip(1)
        .map(|rest| {
            let at = rest.find("id=\"answer-").unwrap() + "id=\"answer-".len();
            rest[at..at + rest[at..].find('"').unwrap()].parse().unwrap()
        })
        .collect()
}

/// Answers are shown accepted first, then by score, then oldest first, and pages follow that
/// order: an answer voted up moves to an earlier page, and the link with its number
/// (`/questions/{id}/answers/{seq}`) finds it there.
async fn answers_are_ordered_accepted_then_score_then_age(backend: Backend) {
    use crate::common::{hub, user};
    let app = hub(backend).await;
    let (ann, bob, cat) = (user("ann"), user("bob"), user("cat"));
    let (_, q) = app
        .send(reqwest::Method::POST, "/api/questions", Some(&ann), json!({"title": "t", "body": "b"}))
        .await;
    let q = crate::common::id_of(&q);
    let mut ids = vec![];
    for i in 1..=32 {
        let (status, a) = app
            .send(
                reqwest::Method::POST,
                &format!("/api/questions/{q}/answers"),
                Some(&bob),
                json!({"body": format!("answer {i}")}),
            )
            .await;
        assert_eq!(status, 201);
        ids.push(crate::common::id_of(&a));
    }
    let page = |n: i64| {
        let app = &app;
        async move { app.get(&format!("/questions/{q}?page={n}")).await.text().await.unwrap() }
    };
    assert_eq!(answer_seqs(&page(1).await), (1..=30).collect::<Vec<_>>(), "equal scores: oldest first");
    // 31 and 5 get two votes, 32 and 3 one, 4 one down; the asker accepts 2.
    for (seq, voter, value) in
        [(31, &ann, 1), (31, &cat, 1), (5, &ann, 1), (5, &cat, 1), (32, &ann, 1), (3, &cat, 1), (4, &ann, -1)]
    {
        let (status, _) = app.vote(voter, &format!("/api/answers/{}/vote", ids[seq - 1]), value).await;
        assert_eq!(status, 200);
    }
    let (status, _) = app
        .send(reqwest::Method::PUT, &format!("/api/answers/{}/accept", ids[1]), Some(&ann), Value::Null)
        .await;
    assert_eq!(status, 200);
    let first = page(1).await;
    let mut expected = vec![2, 5, 31, 3, 32, 1];
    expected.extend((6..=29).filter(|s| *s != 4));
    assert_eq!(answer_seqs(&first), expected[..30].to_vec());
    assert!(first.contains("<li class=\"answer accepted\" id=\"answer-2\""));
    assert_eq!(answer_seqs(&page(2).await), [30, 4], "the rest, the down-voted last");
    for (seq, location) in [
        (31, format!("/questions/{q}#answer-31")),
        (30, format!("/questions/{q}?page=2#answer-30")),
        (4, format!("/questions/{q}?page=2#answer-4")),
        (99, format!("/questions/{q}")),
    ] {
        let res = no_redirects().get(app.url(&format!("/questions/{q}/answers/{seq}"))).send().await.unwrap();
        assert_eq!(res.status(), 303);
        assert_eq!(res.headers()["location"].to_str().unwrap(), location, "answer {seq}");
    }
    assert_eq!(app.get(&format!("/questions/{q}/answers/x")).await.status(), 404);
}

/// Without JavaScript, editing, deleting and commenting are forms: they need the session and
/// its CSRF token (refused without, changing nothing), do what the REST API does, and return
/// to the page; the page then shows the edit with its "edited" link, the comment, and none of
/// a deleted answer's text.
async fn edit_delete_and_comment_forms(backend: Backend) {
    use crate::common::{csrf_of, log_in, session_of, user_with_token};
    let app = crate::common::hub(backend).await;
    let (_, ann) = user_with_token(&app, "ann").await;
    let (_, bob) = user_with_token(&app, "bob").await;
    crate::common::moderator(&app).await;
    let rest = |path: String, token: &str, body: Value| {
        app.http.post(app.url(&path)).bearer_auth(token).json(&body).send()
    };
    let q = rest("/api/questions".into(), &ann, json!({"title": "Forms", "body": "Asked."})).await.unwrap();
    let q = crate::common::id_of(&q.json::<Value>().await.unwrap());
    let mut answers = vec![];
    for body in ["First answer.", "Second answer, to be deleted."] {
        let a = rest(format!("/api/questions/{q}/answers"), &bob, json!({"body": body})).await.unwrap();
        answers.push(crate::common::id_of(&a.json::<Value>().await.unwrap()));
    }
    let (a1, a2) = (answers[0], answers[1]);
    let session = |handle: &'static str| {
        let app = &app;
        async move {
            let cookie = session_of(&log_in(app, handle, "correct horse").await);
            let csrf = csrf_of(app, &cookie).await;
            (cookie, csrf)
        }
    };
    let (bob_cookie, bob_csrf) = session("bob").await;
    let (ann_cookie, ann_csrf) = session("ann").await;
    let form = |path: String, body: String, cookie: Option<&str>| {
        let mut req = no_redirects().post(app.url(&path)).header("content-type", FORM).body(body);
        if let Some(cookie) = cookie {
            req = req.header("cookie", cookie);
        }
        req.send()
    };
    let page = |cookie: Option<String>| {
        let app = &app;
        async move {
            let mut req = no_redirects().get(app.url(&format!("/questions/{q}")));
            if let Some(cookie) = cookie {
                req = req.header("cookie", cookie);
            }
            req.send().await.unwrap().text().await.unwrap()
        }
    };
    let bobs = page(Some(bob_cookie.clone())).await;
    assert_eq!(
        bobs.matches("class=\"edit-form\"").count(),
        2,
        "bob may edit his two answers, not the question"
    );
    assert_eq!(bobs.matches("class=\"comment-form\"").count(), 3, "and comment on all three posts");
    assert!(!page(None).await.contains("class=\"comment-form\""), "not when signed out");

    let (edit, delete, comment) = (
        format!("/questions/{q}/edit"),
        format!("/questions/{q}/delete"),
        format!("/questions/{q}/comments"),
    );
    let back = format!("%2Fquestions%2F{q}%23answer-1");
    let count = |sql: &'static str| app.db.count(sql);
    // Refused: no session (to log in), no or a forged CSRF token; nothing changes.
    for csrf in ["", "forged"] {
        let writes = [
            (&edit, format!("kind=answer&post={a1}&body=Forged&back={back}")),
            (&delete, format!("kind=answer&post={a2}&back={back}")),
            (&comment, format!("kind=answer&post={a1}&body=Forged&back={back}")),
        ];
        for (path, body) in writes {
            let res = form(path.clone(), format!("csrf={csrf}&{body}"), Some(&bob_cookie)).await.unwrap();
            assert_eq!(res.status(), 403, "{path} csrf={csrf:?}");
            let res = form(path.clone(), body, None).await.unwrap();
            assert_eq!(res.status(), 303, "{path} without a session");
            assert!(res.headers()["location"].to_str().unwrap().starts_with("/login?next="));
        }
    }
    assert_eq!(count("SELECT count(*) FROM comments").await, 0);
    assert_eq!(count("SELECT count(*) FROM answers WHERE deleted_at IS NOT NULL").await, 0);
    assert_eq!(count("SELECT count(*) FROM answers WHERE revision > 1").await, 0);
    assert!(page(None).await.contains("First answer."));

    // Someone else's answer: 403, as over REST.
    let res =
        form(edit.clone(), format!("csrf={ann_csrf}&kind=answer&post={a1}&body=Mine"), Some(&ann_cookie))
            .await
            .unwrap();
    assert_eq!(res.status(), 403);

    let res = form(
        edit.clone(),
        format!("csrf={bob_csrf}&kind=answer&post={a1}&body=First+answer%2C+edited.&back={back}"),
        Some(&bob_cookie),
    )
    .await
    .unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()["location"].to_str().unwrap(), format!("/questions/{q}#answer-1"));
    let revisions = format!("/questions/{q}/revisions?answer={a1}");
    let now = page(None).await;
    assert!(now.contains("First answer, edited.") && !now.contains("First answer.<"), "{now}");
    assert!(now.contains(&format!("href=\"{revisions}\" data-revision=\"2\"")), "the edited link");
    let history = app.get(&revisions).await;
    assert_eq!(history.status(), 200);
    let history = history.text().await.unwrap();
    assert!(history.contains("First answer, edited.") && history.contains("First answer."));
    assert!(history.find("Revision 2").unwrap() < history.find("Revision 1").unwrap(), "newest first");
    assert_eq!(app.get(&format!("/questions/{q}/revisions?answer=nope")).await.status(), 400);

    let res = form(
        comment.clone(),
        format!(
            "csrf={bob_csrf}&kind=question&post={q}&body=Which+version%3F&back=%2Fquestions%2F{q}%23question"
        ),
        Some(&bob_cookie),
    )
    .await
    .unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()["location"].to_str().unwrap(), format!("/questions/{q}#question"));
    let now = page(None).await;
    assert!(now.contains("<span class=\"comment-body\">Which version?</span>"), "{now}");
    let comments: Value = app.get(&format!("/api/questions/{q}/comments")).await.json().await.unwrap();
    let c = crate::common::id_of(&comments["items"][0]);
    // Bad input: a clear 4xx page, nothing written.
    let res =
        form(comment.clone(), format!("csrf={bob_csrf}&kind=question&post={q}&body=+"), Some(&bob_cookie))
            .await
            .unwrap();
    assert_eq!(res.status(), 422);
    assert_html_page(&res);
    let res = form(comment.clone(), format!("csrf={bob_csrf}&kind=bogus&post={q}&body=x"), Some(&bob_cookie))
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    assert_eq!(count("SELECT count(*) FROM comments").await, 1);
    // Only its author (or a moderator) deletes a comment.
    let delete_comment = format!("/questions/{q}/comments/delete");
    let res = form(delete_comment.clone(), format!("csrf={ann_csrf}&comment={c}"), Some(&ann_cookie))
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    let res = form(delete_comment.clone(), format!("comment={c}"), Some(&bob_cookie)).await.unwrap();
    assert_eq!(res.status(), 403, "no CSRF token");
    assert_eq!(count("SELECT count(*) FROM comments WHERE deleted_at IS NULL").await, 1);
    let res = form(delete_comment, format!("csrf={bob_csrf}&comment={c}"), Some(&bob_cookie)).await.unwrap();
    assert_eq!(res.status(), 303);
    assert!(!page(None).await.contains("Which version?"));

    let res =
        form(delete.clone(), format!("csrf={bob_csrf}&kind=answer&post={a2}&back={back}"), Some(&bob_cookie))
            .await
            .unwrap();
    assert_eq!(res.status(), 303);
    let now = page(Some(bob_cookie.clone())).await;
    assert!(!now.contains("to be deleted"), "a deleted answer's text is not on the page");
    assert!(now.contains("data-count=\"1\""), "nor in the count");
    assert_eq!(answer_seqs(&now), [1]);

    // The asker may not delete a question with answers; a moderator may, and lands on the list.
    let res = form(delete.clone(), format!("csrf={ann_csrf}&kind=question&post={q}"), Some(&ann_cookie))
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    assert!(!page(Some(ann_cookie)).await.contains("Delete this question"), "so the page offers no button");
    let (mod_cookie, mod_csrf) = session("mod").await;
    assert!(page(Some(mod_cookie.clone())).await.contains("Delete this question"));
    let res =
        form(delete, format!("csrf={mod_csrf}&kind=question&post={q}"), Some(&mod_cookie)).await.unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()["location"].to_str().unwrap(), "/");
    assert_eq!(app.get(&format!("/questions/{q}")).await.status(), 404);
}

/// After logging in, `next` leads back to a page of this site and nowhere else: a tab or a
/// line break that a browser drops (`/\t/evil.com` is `//evil.com` to it), another host, a
/// control character each go to `/` (never a 500); a path of this site is kept, its query and
/// fragment too, percent-encoded. The forms' `back` holds to the same rule.
async fn redirects_stay_on_this_site(backend: Backend) {
    use crate::common::{csrf_of, session_of, user_with_token};
    let app = spawn(backend).await;
    user_with_token(&app, "ann").await;
    let encode = |raw: &str| url::form_urlencoded::byte_serialize(raw.as_bytes()).collect::<String>();
    let cases = [
        ("/\t/evil.com", "/"),
        ("/\n/x", "/"),
        ("/\r\nSet-Cookie: x=1", "/"),
        ("/\x7f", "/"),
        ("//evil.com", "/"),
        ("/\\evil.com", "/"),
        ("https://evil.com/", "/"),
        ("javascript:alert(1)", "/"),
        ("questions", "/"),
        ("/questions?page=2#ask", "/questions?page=2#ask"),
        ("/questions/é", "/questions/%C3%A9"),
    ];
    for (next, to) in cases {
        let res =
            post_form(&app, "/login", format!("handle=ann&password=correct+horse&next={}", encode(next)))
                .await;
        assert_eq!(res.status(), 303, "next={next:?}");
        assert_eq!(res.headers()["location"], to, "next={next:?}");
        // The log-in page carries `next` in its form; the same rule decides what it holds.
        let page = app.get(&format!("/login?next={}", encode(next))).await;
        assert_eq!(page.status(), 200, "next={next:?}");
        let page = page.text().await.unwrap();
        assert!(page.contains(&format!("name=\"next\" value=\"{to}\"")), "next={next:?}: {page}");
    }

    let q = app.question().await;
    let res = post_form(&app, "/login", "handle=ann&password=correct+horse").await;
    let cookie = session_of(&res);
    let csrf = csrf_of(&app, &cookie).await;
    let page = format!("/questions/{q}");
    for (back, to) in [
        (format!("{page}?\n"), page.clone()),
        (format!("{page}#\r\nx"), page.clone()),
        (format!("{page}?page=2#answer-31"), format!("{page}?page=2#answer-31")),
    ] {
        let res = no_redirects()
            .post(app.url(&format!("{page}/comments")))
            .header("content-type", FORM)
            .header("cookie", &cookie)
            .body(format!("csrf={csrf}&kind=question&post={q}&body=Noted.&back={}", encode(&back)))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 303, "back={back:?}");
        assert_eq!(res.headers()["location"], to.as_str(), "back={back:?}");
    }
}

/// The follow control on the question page: a form (session + CSRF) that follows, unfollows
/// and mutes; what it says follows from what the viewer wrote; without the token, nothing.
async fn the_follow_form(backend: Backend) {
    use crate::common::{csrf_of, log_in, session_of, user_with_token};
    let app = crate::common::hub(backend).await;
    let (_, ann) = user_with_token(&app, "ann").await;
    user_with_token(&app, "bob").await;
    let q = app
        .http
        .post(app.url("/api/questions"))
        .bearer_auth(&ann)
        .json(&json!({"title": "Follow me", "body": "Please."}))
        .send()
        .await
        .unwrap();
    let q = crate::common::id_of(&q.json::<Value>().await.unwrap());
    let page = |cookie: String| {
        let app = &app;
        async move {
            let res = app
                .http
                .get(app.url(&format!("/questions/{q}")))
                .header("cookie", cookie)
                .send()
                .await
                .unwrap();
            res.text().await.unwrap()
        }
    };
    let ann_cookie = session_of(&log_in(&app, "ann", "correct horse").await);
    assert!(page(ann_cookie).await.contains("You follow this question (you asked it)."));
    let cookie = session_of(&log_in(&app, "bob", "correct horse").await);
    let csrf = csrf_of(&app, &cookie).await;
    assert!(page(cookie.clone()).await.contains("You do not follow this question."));
    let send = |body: String| {
        no_redirects()
            .post(app.url(&format!("/questions/{q}/follow")))
            .header("content-type", FORM)
            .header("cookie", cookie.clone())
            .body(body)
            .send()
    };
    let res = send("csrf=forged&state=following".into()).await.unwrap();
    assert_eq!(res.status(), 403);
    assert!(page(cookie.clone()).await.contains("You do not follow this question."), "nothing changed");
    for (state, says) in [
        ("following", "You follow this question."),
        ("muted", "Muted: you hear nothing about this question."),
        ("unfollowed", "You do not follow this question."),
    ] {
        let res = send(format!("csrf={csrf}&state={state}")).await.unwrap();
        assert_eq!(res.status(), 303);
        assert_eq!(res.headers()["location"].to_str().unwrap(), format!("/questions/{q}#follow"));
        assert!(page(cookie.clone()).await.contains(says), "after {state}");
    }
    let res = send(format!("csrf={csrf}&state=maybe")).await.unwrap();
    assert_eq!(res.status(), 422);
    // The inbox page: a bad page link gets this site's page, not the framework's text.
    let res =
        app.http.get(app.url("/inbox?before=nope")).header("cookie", cookie.clone()).send().await.unwrap();
    assert_eq!(res.status(), 400);
    assert_html_page(&res);
}

on_both_backends!(
    list_paginates_newest_first,
    bad_forms_get_clear_errors,
    form_answer_reaches_watchers,
    a_long_question_is_paged,
    cross_site_forms_are_refused,
    static_files_are_served,
    answers_are_ordered_accepted_then_score_then_age,
    edit_delete_and_comment_forms,
    the_follow_form,
    redirects_stay_on_this_site,
);
