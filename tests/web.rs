//! The web pages over plain HTTP (no browser): status codes, pagination, form errors, the
//! static files, and that a form-posted answer reaches WebSocket watchers.

use crate::common::{Backend, TestApp, spawn};
use reqwest::redirect::Policy;
use serde_json::{Value, json};
use uuid::Uuid;

const FORM: &str = "application/x-www-form-urlencoded";

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder().redirect(Policy::none()).build().unwrap()
}

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
    ws.subscribe(q, None).await;
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

on_both_backends!(
    list_paginates_newest_first,
    bad_forms_get_clear_errors,
    form_answer_reaches_watchers,
    a_long_question_is_paged,
    cross_site_forms_are_refused,
    static_files_are_served,
);
