//! Markdown: a post keeps its source (`body`, returned as written) and carries the HTML it
//! was rendered to when written (`body_html`), over REST, in live events and in events read
//! back from the log; comments get the inline subset; `POST /api/markdown` previews; rows from
//! before the `body_html` column are filled at start-up.

use reqwest::Method;
use serde_json::{Value, json};

use crate::common::{Backend, TestApp, events, hub, id_of, question_topic, user};

const QUESTION: &str =
    "How do I *wait*?\n\n```rust\nlet x = a.lock();\n```\n\n<script>window.__pwned=1</script>";
const QUESTION_HTML: &str =
    "<p>How do I <em>wait</em>?</p>\n<pre><code class=\"language-rust\">let x = a.lock();\n</code></pre>";
const ANSWER: &str = "Use [a lock](https://example.com/lock) ~~or not~~.\n\n| a | b |\n|---|---|\n| 1 | 2 |";
const ANSWER_HTML: &str = "<p>Use <a href=\"https://example.com/lock\" rel=\"nofollow ugc noopener\">a lock</a> <del>or not</del>.</p>\n\
    <table><thead><tr><th>a</th><th>b</th></tr></thead><tbody>\n<tr><td>1</td><td>2</td></tr>\n</tbody></table>";
const EDITED: &str = "See https://example.org/x and `code`.";
const EDITED_HTML: &str = "<p>See <a href=\"https://example.org/x\" rel=\"nofollow ugc noopener\">https://example.org/x</a> and <code>code</code>.</p>";
const COMMENT: &str = "# not a *heading* ![img](https://example.com/x.png) [link](javascript:alert(1))";
const COMMENT_HTML: &str = "# not a <em>heading</em> img <a rel=\"nofollow ugc noopener\">link</a>";

async fn get(app: &TestApp, path: &str) -> Value {
    let res = app.get(path).await;
    assert_eq!(res.status(), 200, "{path}");
    res.json().await.unwrap()
}

/// A question, an answer, an edit of the answer and a comment on it, each with its source and
/// its HTML over REST; the live events carry the HTML, and so does a resume from seq 0.
async fn posts_keep_their_source_and_carry_their_html(backend: Backend) {
    let app = hub(backend).await;
    let (asker, answerer) = (user("asker"), user("answerer"));
    let (status, q) =
        app.send(Method::POST, "/api/questions", Some(&asker), json!({"title": "t", "body": QUESTION})).await;
    assert_eq!(status, 201, "{q}");
    assert_eq!((q["body"].as_str(), q["body_html"].as_str()), (Some(QUESTION), Some(QUESTION_HTML)));
    let q = id_of(&q);
    let shown = get(&app, &format!("/api/questions/{q}")).await;
    assert_eq!((shown["body"].as_str(), shown["body_html"].as_str()), (Some(QUESTION), Some(QUESTION_HTML)));

    let mut live = app.ws().await;
    let mut last = live.subscribe(&question_topic(q), None).await;
    let (status, a) = app
        .send(Method::POST, &format!("/api/questions/{q}/answers"), Some(&answerer), json!({"body": ANSWER}))
        .await;
    assert_eq!(status, 201, "{a}");
    assert_eq!((a["body"].as_str(), a["body_html"].as_str()), (Some(ANSWER), Some(ANSWER_HTML)));
    let a = id_of(&a);
    let (status, r) =
        app.send(Method::PATCH, &format!("/api/answers/{a}"), Some(&answerer), json!({"body": EDITED})).await;
    assert_eq!(status, 200, "{r}");
    assert_eq!((r["body"].as_str(), r["body_html"].as_str()), (Some(EDITED), Some(EDITED_HTML)));
    let (status, c) = app
        .send(Method::POST, &format!("/api/answers/{a}/comments"), Some(&asker), json!({"body": COMMENT}))
        .await;
    assert_eq!(status, 201, "{c}");
    assert_eq!((c["body"].as_str(), c["body_html"].as_str()), (Some(COMMENT), Some(COMMENT_HTML)));

    let got = events(&mut live, &mut last, 3).await;
    let html = |e: &Value| -> (String, Option<String>, Option<String>) {
        let post = match e["type"].as_str().unwrap() {
            "answer" => &e["answer"],
            "comment" => &e["comment"],
            _ => e,
        };
        (
            e["type"].as_str().unwrap().into(),
            post["body"].as_str().map(Into::into),
            post["body_html"].as_str().map(Into::into),
        )
    };
    let expected = [
        ("answer".to_owned(), Some(ANSWER.to_owned()), Some(ANSWER_HTML.to_owned())),
        ("edit".to_owned(), Some(EDITED.to_owned()), Some(EDITED_HTML.to_owned())),
        ("comment".to_owned(), Some(COMMENT.to_owned()), Some(COMMENT_HTML.to_owned())),
    ];
    // The answer event went out before the edit: it carries the text as first written.
    assert_eq!(got.iter().map(html).collect::<Vec<_>>(), expected);

    // From the log: the answer row is read as it is now (edited), the edit and the comment as
    // they were written; every one with its HTML.
    let mut ws = app.ws().await;
    let mut seen = 0;
    assert_eq!(ws.subscribe(&question_topic(q), Some(0)).await, 3);
    let resumed = events(&mut ws, &mut seen, 3).await;
    let mut from_log = expected.clone();
    from_log[0] = ("answer".to_owned(), Some(EDITED.to_owned()), Some(EDITED_HTML.to_owned()));
    assert_eq!(resumed.iter().map(html).collect::<Vec<_>>(), from_log);
    assert_eq!(resumed[1..], got[1..]);

    // Reads: the source as written, the HTML beside it; revisions each with their own.
    let answers = get(&app, &format!("/api/questions/{q}/answers")).await;
    assert_eq!(
        (answers["items"][0]["body"].as_str(), answers["items"][0]["body_html"].as_str()),
        (Some(EDITED), Some(EDITED_HTML))
    );
    let revisions = get(&app, &format!("/api/answers/{a}/revisions")).await;
    let items: Vec<_> = revisions["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["body"].as_str().unwrap().to_owned(), r["body_html"].as_str().unwrap().to_owned()))
        .collect();
    assert_eq!(
        items,
        [(ANSWER.to_owned(), ANSWER_HTML.to_owned()), (EDITED.to_owned(), EDITED_HTML.to_owned())]
    );
    let comments = get(&app, &format!("/api/questions/{q}/comments")).await;
    assert_eq!(comments["items"][0]["body_html"], COMMENT_HTML);
    // A question never edited has one revision, with its HTML.
    let revisions = get(&app, &format!("/api/questions/{q}/revisions")).await;
    assert_eq!(revisions["items"][0]["body_html"], QUESTION_HTML);
}

/// `POST /api/markdown`: the HTML a post (or a comment) would show, for writers only, as
/// long as a body may be.
async fn markdown_previews(backend: Backend) {
    let app = hub(backend).await;
    let token = user("writer");
    let preview = |body: Value| app.send(Method::POST, "/api/markdown", Some(&token), body);
    assert_eq!(preview(json!({"body": QUESTION})).await, (200, json!({"html": QUESTION_HTML})));
    assert_eq!(
        preview(json!({"body": COMMENT, "comment": true})).await,
        (200, json!({"html": COMMENT_HTML}))
    );
    assert_eq!(preview(json!({"body": "  "})).await, (200, json!({"html": ""})));
    let (status, err) = preview(json!({"body": "x".repeat(30_001)})).await;
    assert_eq!((status, &err["error"]["code"]), (422, &json!("invalid_field")), "{err}");
    let (status, err) = preview(json!({"body": "x".repeat(601), "comment": true})).await;
    assert_eq!(status, 422, "{err}");
    let (status, _) = app.send(Method::POST, "/api/markdown", None, json!({"body": "x"})).await;
    assert_eq!(status, 401);
    // The OpenAPI document has it.
    let doc = get(&app, "/api/openapi.json").await;
    assert!(doc["paths"]["/api/markdown"]["post"].is_object(), "{}", doc["paths"]);
}

/// Rows written before `body_html` existed (NULL there) are rendered once at start-up, and
/// read the same meanwhile.
async fn rows_from_before_body_html_are_filled_at_start(backend: Backend) {
    let app = hub(backend).await;
    let (asker, answerer) = (user("asker"), user("answerer"));
    let q = app.ask_as(&asker, "t", QUESTION).await;
    let a = app.answer_as(&answerer, q, ANSWER).await;
    let (status, _) =
        app.send(Method::PATCH, &format!("/api/answers/{a}"), Some(&answerer), json!({"body": EDITED})).await;
    assert_eq!(status, 200);
    let (status, _) = app
        .send(Method::POST, &format!("/api/answers/{a}/comments"), Some(&asker), json!({"body": COMMENT}))
        .await;
    assert_eq!(status, 201);
    const NULLS: &str = "SELECT (SELECT count(*) FROM questions WHERE body_html IS NULL) \
        + (SELECT count(*) FROM answers WHERE body_html IS NULL) \
        + (SELECT count(*) FROM revisions WHERE body_html IS NULL) \
        + (SELECT count(*) FROM comments WHERE body_html IS NULL)";
    assert_eq!(app.db.count(NULLS).await, 0, "new rows are written with their HTML");
    for table in ["questions", "answers", "revisions", "comments"] {
        app.db.execute(&format!("UPDATE {table} SET body_html = NULL")).await;
    }
    assert_eq!(app.db.count(NULLS).await, 5);
    // Not filled yet: read all the same.
    let shown = get(&app, &format!("/api/questions/{q}")).await;
    assert_eq!(shown["body_html"], QUESTION_HTML);

    app.stop().await;
    let app = app.start_again().await;
    assert_eq!(app.db.count(NULLS).await, 0, "filled at start-up");
    let shown = get(&app, &format!("/api/questions/{q}")).await;
    assert_eq!(shown["body_html"], QUESTION_HTML);
    let answers = get(&app, &format!("/api/questions/{q}/answers")).await;
    assert_eq!(answers["items"][0]["body_html"], EDITED_HTML);
    let revisions = get(&app, &format!("/api/answers/{a}/revisions")).await;
    assert_eq!(revisions["items"][0]["body_html"], ANSWER_HTML);
    let comments = get(&app, &format!("/api/questions/{q}/comments")).await;
    assert_eq!(comments["items"][0]["body_html"], COMMENT_HTML);
}

/// The forms' Preview buttons without JavaScript: the page again, the text kept, the preview
/// shown, nothing stored.
async fn forms_preview_without_javascript(backend: Backend) {
    let app = crate::common::spawn(backend).await;
    let form = |path: &str, body: &str| {
        app.http
            .post(app.url(path))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("title=A+title&author=ann&body={}", url_encode(body)))
            .send()
    };
    let res = form("/questions/preview", QUESTION).await.unwrap();
    assert_eq!(res.status(), 200);
    let page = res.text().await.unwrap();
    assert!(page.contains(QUESTION_HTML), "the preview: {page}");
    assert!(page.contains("How do I *wait*?"), "the text as typed, in the form");
    assert!(!page.contains("<script>window.__pwned"), "{page}");
    assert_eq!(app.db.count("SELECT count(*) FROM questions").await, 0, "nothing stored");

    let q = app.question().await;
    let res = form(&format!("/questions/{q}/answers/preview"), ANSWER).await.unwrap();
    assert_eq!(res.status(), 200);
    let page = res.text().await.unwrap();
    assert!(page.contains(ANSWER_HTML), "the preview: {page}");
    assert_eq!(app.db.count("SELECT count(*) FROM answers").await, 0, "nothing stored");
    // Too long: the form's error, no preview.
    let res = form(&format!("/questions/{q}/answers/preview"), &"x".repeat(30_001)).await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().contains("at most 30000 characters"));
}

fn url_encode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

on_both_backends!(
    posts_keep_their_source_and_carry_their_html,
    markdown_previews,
    rows_from_before_body_html_are_filled_at_start,
    forms_preview_without_javascript,
);
