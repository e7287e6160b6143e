//! Tags: a question carries one to five, given when it is asked, checked against the rules
//! (422 with the rule), returned as stored, and announced with it on the list of questions.

use reqwest::Method;
use serde_json::{Value, json};

use crate::common::{Backend, events, hub, user};

async fn a_question_keeps_its_tags_and_the_list_announces_them(backend: Backend) {
    let app = hub(backend).await;
    let ann = user("ann");
    let mut list = app.ws().await;
    let mut last = list.subscribe("questions", None).await;

    let (status, asked) = app
        .send(
            Method::POST,
            "/api/questions",
            Some(&ann),
            json!({"title": "Tagged", "body": "b", "tags": ["Rust", "tokio", "rust", "c#"]}),
        )
        .await;
    assert_eq!(status, 201, "{asked}");
    assert_eq!(asked["tags"], json!(["rust", "tokio", "c#"]), "folded to lower case, each once, in order");
    let path = format!("/api/questions/{}", asked["id"].as_str().unwrap());
    let fetched: Value = app.get(&path).await.json().await.unwrap();
    assert_eq!(fetched["tags"], asked["tags"]);

    // A client built before tags sends none: the question has none.
    let (status, untagged) =
        app.send(Method::POST, "/api/questions", Some(&ann), json!({"title": "Plain", "body": "b"})).await;
    assert_eq!((status, &untagged["tags"]), (201, &json!([])));

    let got = events(&mut list, &mut last, 2).await;
    assert_eq!(got[0]["question"]["tags"], json!(["rust", "tokio", "c#"]), "{got:?}");
    assert_eq!(got[1]["question"]["tags"], json!([]), "{got:?}");
    // A resume reads the summary back from the log with its tags.
    let mut again = app.ws().await;
    again.subscribe("questions", Some(0)).await;
    let mut from = 0;
    assert_eq!(events(&mut again, &mut from, 2).await, got);
}

async fn tags_that_break_the_rules_are_refused_with_the_rule(backend: Backend) {
    let app = hub(backend).await;
    let ann = user("ann");
    for (tags, says) in [
        (json!([]), "1 to 5 tags"),
        (json!(["a", "b", "c", "d", "e", "f"]), "1 to 5 tags"),
        (json!(["two words"]), "a-z, 0-9"),
        (json!(["-rust"]), "a-z, 0-9"),
        (json!(["a234567890123456789012345678901234567"]), "1 to 35 characters"),
        (json!(["rüst"]), "a-z, 0-9"),
    ] {
        let (status, body) = app
            .send(
                Method::POST,
                "/api/questions",
                Some(&ann),
                json!({"title": "T", "body": "b", "tags": tags}),
            )
            .await;
        assert_eq!(status, 422, "{tags} → {body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains(says), "{tags} → {message}");
    }
    let (status, body) = app
        .send(Method::POST, "/api/questions", Some(&ann), json!({"title": "T", "body": "b", "tags": "rust"}))
        .await;
    assert_eq!(status, 422, "a string is not a list of tags: {body}");
    let listed: Value = app.get("/api/questions").await.json().await.unwrap();
    assert_eq!(listed["items"], json!([]), "nothing refused was stored");
}

on_both_backends!(
    a_question_keeps_its_tags_and_the_list_announces_them,
    tags_that_break_the_rules_are_refused_with_the_rule,
);
