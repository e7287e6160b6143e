//! The REST contract: create, read, list and paginate, and every way input can be wrong.

use std::time::Duration;

use crate::common::{Backend, TestApp, WAIT, id_of, spawn, spawn_with};
use futures_util::future::join_all;
use serde_json::{Value, json};
use uuid::Uuid;

async fn error_of(res: reqwest::Response, status: u16, code: &str) {
    assert_eq!(res.status(), status);
    let body: Value = res.json().await.expect("a JSON error body");
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
}

async fn create_get_and_list_questions(backend: Backend) {
    let app = spawn(backend).await;
    let res = app
        .post_json("/api/questions", &json!({"title": " Why? ", "body": "Tell me.", "author": "ann"}))
        .await;
    assert_eq!(res.status(), 201);
    let location = res.headers()["location"].to_str().unwrap().to_owned();
    let created: Value = res.json().await.unwrap();
    assert_eq!(location, format!("/api/questions/{}", created["id"].as_str().unwrap()));
    assert_eq!(created["title"], "Why?", "one-line fields are trimmed");
    assert_eq!(created["answer_count"], 0);
    assert!(chrono::DateTime::parse_from_rfc3339(created["created_at"].as_str().unwrap()).is_ok());
    assert_eq!(Uuid::parse_str(created["id"].as_str().unwrap()).unwrap().get_version_num(), 7);

    let fetched: Value = app.get(&location).await.json().await.unwrap();
    assert_eq!(fetched, created);

    // Five more; page through newest first, two at a time.
    let mut ids = vec![id_of(&created)];
    for _ in 0..5 {
        ids.push(app.question().await);
    }
    ids.reverse();
    let mut seen = Vec::new();
    let mut before: Option<String> = None;
    loop {
        let path = match &before {
            Some(b) => format!("/api/questions?limit=2&before={b}"),
            None => "/api/questions?limit=2".to_owned(),
        };
        let page: Value = app.get(&path).await.json().await.unwrap();
        seen.extend(page["items"].as_array().unwrap().iter().map(id_of));
        match page["next"].as_str() {
            Some(next) => before = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, ids);
    let all: Value = app.get("/api/questions").await.json().await.unwrap();
    assert_eq!(all["items"].as_array().unwrap().len(), 6);
    assert_eq!(all["next"], Value::Null);
}

async fn post_and_page_answers(backend: Backend) {
    let app = spawn(backend).await;
    let q = app.question().await;
    for i in 1..=7 {
        let answer = app.answer(q, &format!("answer {i}")).await;
        assert_eq!(answer["seq"], i);
        assert_eq!(answer["question_id"], json!(q));
    }
    let question: Value = app.get(&format!("/api/questions/{q}")).await.json().await.unwrap();
    assert_eq!(question["answer_count"], 7);

    let mut seqs = Vec::new();
    let mut after = 0;
    loop {
        let page: Value = app
            .get(&format!("/api/questions/{q}/answers?after_seq={after}&limit=3"))
            .await
            .json()
            .await
            .unwrap();
        seqs.extend(page["items"].as_array().unwrap().iter().map(|a| a["seq"].as_i64().unwrap()));
        match page["next_after_seq"].as_i64() {
            Some(next) => after = next,
            None => break,
        }
    }
    assert_eq!(seqs, (1..=7).collect::<Vec<_>>());
    let tail: Value = app.get(&format!("/api/questions/{q}/answers?after_seq=5")).await.json().await.unwrap();
    assert_eq!(tail["items"].as_array().unwrap().len(), 2);
    assert_eq!(tail["items"][0]["body"], "answer 6");
}

/// Every bad request gets its 4xx JSON error, and none of them writes anything.
async fn bad_input_is_refused_and_changes_nothing(backend: Backend) {
    let app = spawn(backend).await;
    let q = app.question().await;
    let answers = format!("/api/questions/{q}/answers");
    let cases: Vec<(&str, Value)> = vec![
        ("title", json!({"title": "", "body": "b", "author": "a"})),
        ("title", json!({"title": "   ", "body": "b", "author": "a"})),
        ("title", json!({"title": "t".repeat(301), "body": "b", "author": "a"})),
        ("body", json!({"title": "t", "body": "b".repeat(30_001), "author": "a"})),
        ("author", json!({"title": "t", "body": "b", "author": "a".repeat(65)})),
        ("author", json!({"title": "t", "body": "b"})),
        ("title", json!({"title": 5, "body": "b", "author": "a"})),
        // Postgres cannot store NUL; refused alike on both databases.
        ("title", json!({"title": "a\u{0}b", "body": "b", "author": "a"})),
        ("body", json!({"title": "t", "body": "b\u{0}", "author": "a"})),
        ("author", json!({"title": "t", "body": "b", "author": "\u{0}a"})),
        ("title", json!({"title": "two\nlines", "body": "b", "author": "a"})),
        ("author", json!({"title": "t", "body": "b", "author": "ann\u{202E}nimda"})),
    ];
    for (field, body) in &cases {
        let res = app.post_json("/api/questions", body).await;
        assert_eq!(res.status(), 422, "{field}: {body}");
        error_of(res, 422, "invalid_field").await;
    }
    let res = app.post_json("/api/questions", &json!(["a title", "a body", "an author"])).await;
    error_of(res, 422, "invalid_body").await;
    // Limits count characters, not bytes: 300 three-byte characters are fine.
    let res =
        app.post_json("/api/questions", &json!({"title": "é".repeat(300), "body": "b", "author": "a"})).await;
    assert_eq!(res.status(), 201);
    let res = app.post_json(&answers, &json!({"body": "", "author": "a"})).await;
    error_of(res, 422, "invalid_field").await;
    let res = app.post_json(&answers, &json!({"body": "b", "author": ""})).await;
    error_of(res, 422, "invalid_field").await;
    // A NUL among valid posts to the same question: refused alone, the others are stored.
    let posts = ["fine 1", "bad \u{0}", "fine 2"].map(|body| {
        let (app, answers) = (&app, &answers);
        async move { app.post_json(answers, &json!({"body": body, "author": "a"})).await }
    });
    let statuses: Vec<u16> = join_all(posts).await.iter().map(|r| r.status().as_u16()).collect();
    assert_eq!(statuses, [201, 422, 201]);

    let raw = |path: &str, content_type: &'static str, body: Vec<u8>| {
        app.http.post(app.url(path)).header("content-type", content_type).body(body).send()
    };
    error_of(
        raw("/api/questions", "application/json", b"{\"title\": ".to_vec()).await.unwrap(),
        400,
        "invalid_json",
    )
    .await;
    error_of(raw(&answers, "application/json", b"not json".to_vec()).await.unwrap(), 400, "invalid_json")
        .await;
    error_of(raw(&answers, "text/plain", b"{}".to_vec()).await.unwrap(), 415, "unsupported_media_type").await;
    let huge = format!("{{\"body\":\"{}\",\"author\":\"a\"}}", "x".repeat(300 * 1024)).into_bytes();
    error_of(raw(&answers, "application/json", huge).await.unwrap(), 413, "payload_too_large").await;

    error_of(app.get("/api/questions/not-a-uuid").await, 400, "invalid_id").await;
    error_of(
        app.post_json("/api/questions/42/answers", &json!({"body": "b", "author": "a"})).await,
        400,
        "invalid_id",
    )
    .await;
    let missing = Uuid::now_v7();
    error_of(app.get(&format!("/api/questions/{missing}")).await, 404, "question_not_found").await;
    error_of(app.get(&format!("/api/questions/{missing}/answers")).await, 404, "question_not_found").await;
    for query in ["limit=0", "limit=101", "limit=ten", "before=nope", "limit=-1"] {
        error_of(app.get(&format!("/api/questions?{query}")).await, 400, "invalid_query").await;
    }
    for query in ["after_seq=-1", "after_seq=x", "limit=0", "limit=1000"] {
        error_of(app.get(&format!("{answers}?{query}")).await, 400, "invalid_query").await;
    }
    error_of(app.get("/no/such/path").await, 404, "not_found").await;
    error_of(app.get("/ws").await, 400, "websocket_upgrade_required").await;

    // Nothing else was stored: one valid question besides `q`, and `q` has the two valid answers.
    let all: Value = app.get("/api/questions").await.json().await.unwrap();
    assert_eq!(all["items"].as_array().unwrap().len(), 2);
    let question: Value = app.get(&format!("/api/questions/{q}")).await.json().await.unwrap();
    assert_eq!(question["answer_count"], 2, "only the two valid answers");
    assert_eq!(app.metric("qa_hub_notifications_sent_total").await, 0.0);
    let on_questions = "SELECT count(*) FROM events WHERE topic LIKE 'question:%'";
    assert_eq!(app.db.count(on_questions).await, 2, "events for the two valid answers only");
    let on_the_list = "SELECT count(*) FROM events WHERE topic = 'questions'";
    assert_eq!(app.db.count(on_the_list).await, 2, "events for the two valid questions only");
}

/// An answer to a missing question: 404, no row, no notification.
async fn answer_to_missing_question_writes_nothing(backend: Backend) {
    let app = spawn(backend).await;
    let watched = app.question().await;
    let mut ws = app.ws().await;
    ws.subscribe_legacy(watched, None).await;
    let missing = Uuid::now_v7();
    let res = app
        .post_json(&format!("/api/questions/{missing}/answers"), &json!({"body": "b", "author": "a"}))
        .await;
    error_of(res, 404, "question_not_found").await;
    assert_eq!(app.db.count("SELECT count(*) FROM answers").await, 0);
    // Only the question's own `question` event, on the list of questions.
    assert_eq!(app.db.count("SELECT count(*) FROM events WHERE topic LIKE 'question:%'").await, 0);
    // The next thing the subscriber hears is the next real answer, seq 1.
    app.answer(watched, "real").await;
    assert_eq!(ws.answers(1).await, vec![(watched, 1)]);
}

/// 100 posts to one question at once: seqs are exactly 1..=100.
async fn concurrent_posts_get_contiguous_seqs(backend: Backend) {
    let app = spawn(backend).await;
    let q = app.question().await;
    let posts = (0..100).map(|i| {
        let app: &TestApp = &app;
        async move { app.answer(q, &format!("answer {i}")).await["seq"].as_i64().unwrap() }
    });
    let mut seqs = join_all(posts).await;
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=100).collect::<Vec<_>>());
    let question: Value = app.get(&format!("/api/questions/{q}")).await.json().await.unwrap();
    assert_eq!(question["answer_count"], 100);
    let stored: Value = app.get(&format!("/api/questions/{q}/answers?limit=100")).await.json().await.unwrap();
    let stored: Vec<i64> =
        stored["items"].as_array().unwrap().iter().map(|a| a["seq"].as_i64().unwrap()).collect();
    assert_eq!(stored, (1..=100).collect::<Vec<_>>());
}

/// A body trickled a byte at a time is cut off at the body timeout with 408, on the API (JSON)
/// and on the forms (a page), and nothing is stored.
async fn a_trickled_body_is_refused_with_408(backend: Backend) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let app = spawn_with(backend, |c| c.server.body_timeout_secs = 1).await;
    let cases = [
        ("/api/questions", "application/json", r#"{"title":"t","body":"b","author":"a"}"#, "request_timeout"),
        ("/questions", "application/x-www-form-urlencoded", "title=t&body=b&author=a", "Too slow"),
    ];
    for (path, content_type, body, expected) in cases {
        let (mut rd, mut wr) = tokio::net::TcpStream::connect(app.addr).await.unwrap().into_split();
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
            app.addr,
            body.len()
        );
        wr.write_all(head.as_bytes()).await.unwrap();
        // One byte every 200 ms: the whole body would take several times the timeout. The
        // pauses are the behaviour under test, not a wait for the server.
        let trickle = tokio::spawn(async move {
            for byte in body.bytes() {
                if wr.write_all(&[byte]).await.is_err() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            wr
        });
        let response = async {
            let mut got = Vec::new();
            let mut buf = [0u8; 4096];
            while !String::from_utf8_lossy(&got).contains(expected) {
                match rd.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                }
            }
            String::from_utf8_lossy(&got).into_owned()
        };
        let response = tokio::time::timeout(WAIT, response).await.expect("an answer in time");
        trickle.abort();
        assert!(response.starts_with("HTTP/1.1 408"), "{path}: {response}");
        assert!(response.contains(expected), "{path}: {response}");
    }
    let all: Value = app.get("/api/questions").await.json().await.unwrap();
    assert_eq!(all["items"].as_array().unwrap().len(), 0, "nothing was stored");
}

/// Posts over the limit (questions and answers, REST and forms alike) get 429 with
/// `Retry-After` and write nothing; another address has its own budget.
async fn posts_over_the_rate_limit_get_429(backend: Backend) {
    let app = spawn_with(backend, |c| c.limits.posts_per_minute = 3).await;
    let q = app.question().await;
    app.answer(q, "two").await;
    let form = |path: String| {
        app.http
            .post(app.url(&path))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("body=three&author=zoe&title=t")
            .send()
    };
    let res = form(format!("/questions/{q}/answers")).await.unwrap();
    assert!(res.status().is_success(), "the third post, by form: {}", res.status());

    let res =
        app.post_json(&format!("/api/questions/{q}/answers"), &json!({"body": "b", "author": "a"})).await;
    let retry: u64 = res.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=20).contains(&retry), "a post refills in 20 s: {retry}");
    error_of(res, 429, "rate_limited").await;
    let res = app.post_json("/api/questions", &json!({"title": "t", "body": "b", "author": "a"})).await;
    error_of(res, 429, "rate_limited").await;
    let res = form("/questions".into()).await.unwrap();
    assert_eq!(res.status(), 429);
    assert!(res.headers().contains_key("retry-after"));
    assert!(res.text().await.unwrap().contains("Slow down"));

    let question: Value = app.get(&format!("/api/questions/{q}")).await.json().await.unwrap();
    assert_eq!(question["answer_count"], 2, "nothing refused was written");
    let other =
        reqwest::Client::builder().local_address(std::net::IpAddr::from([127, 0, 0, 2])).build().unwrap();
    let res = other
        .post(app.url(&format!("/api/questions/{q}/answers")))
        .json(&json!({"body": "from elsewhere", "author": "a"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201, "another address, another budget");
}

async fn probes_and_openapi(backend: Backend) {
    let app = spawn(backend).await;
    assert_eq!(app.get("/healthz").await.status(), 200);
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status(), 200);
    let doc: Value = app.get("/api/openapi.json").await.json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for path in [
        "/api/questions",
        "/api/questions/{question_id}",
        "/api/questions/{question_id}/answers",
        "/api/tags",
        "/api/tags/{tag}",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} is documented");
    }
    assert!(doc["components"]["schemas"]["Answer"]["properties"]["seq"].is_object());
    // OpenAPI requires unique operationIds; tools that key on them (schemathesis' link
    // inference) mix two operations up otherwise.
    let mut ids: Vec<&str> = doc["paths"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|ops| ops.as_object().unwrap().values().filter_map(|op| op["operationId"].as_str()))
        .collect();
    let count = ids.len();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), count, "operationIds are unique: {ids:?}");
}

on_both_backends!(
    create_get_and_list_questions,
    post_and_page_answers,
    bad_input_is_refused_and_changes_nothing,
    answer_to_missing_question_writes_nothing,
    concurrent_posts_get_contiguous_seqs,
    a_trickled_body_is_refused_with_408,
    posts_over_the_rate_limit_get_429,
    probes_and_openapi,
);
