//! Following questions: asking, answering or commenting follows one; a user may follow any
//! question, unfollow one or mute it; who may ask and what bad input changes (nothing).

use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::common::{Backend, Case, TestApp, hub, moderator, user};

async fn status(app: &TestApp, token: &str, q: Uuid) -> Value {
    let (code, body) =
        app.send(Method::GET, &format!("/api/questions/{q}/follow"), Some(token), Value::Null).await;
    assert_eq!(code, 200, "{body}");
    body
}

async fn choose(app: &TestApp, token: &str, q: Uuid, state: &str) -> Value {
    let path = format!("/api/questions/{q}/follow");
    let (code, body) = app.send(Method::PUT, &path, Some(token), json!({"state": state})).await;
    assert_eq!(code, 200, "{body}");
    body
}

/// (following, muted, choice, involvement) of a follow status.
fn summary(v: &Value) -> (bool, bool, Value, Value) {
    (
        v["following"].as_bool().unwrap(),
        v["muted"].as_bool().unwrap(),
        v["choice"].clone(),
        v["involvement"].clone(),
    )
}

async fn writing_on_a_question_follows_it_and_choices_override(backend: Backend) {
    let app = hub(backend).await;
    let (asker, answerer, commenter, reader) =
        (user("asker"), user("answerer"), user("commenter"), user("reader"));
    let (q, a) = app.thread(&asker, &answerer).await;
    let (code, _) = app
        .send(Method::POST, &format!("/api/questions/{q}/comments"), Some(&commenter), json!({"body": "hm"}))
        .await;
    assert_eq!(code, 201);

    assert_eq!(summary(&status(&app, &asker, q).await), (true, false, Value::Null, json!(["asked"])));
    assert_eq!(summary(&status(&app, &answerer, q).await), (true, false, Value::Null, json!(["answered"])));
    assert_eq!(summary(&status(&app, &commenter, q).await), (true, false, Value::Null, json!(["commented"])));
    assert_eq!(summary(&status(&app, &reader, q).await), (false, false, Value::Null, json!([])));

    // Choices override what posts imply, and each stands until the next.
    assert!(summary(&choose(&app, &reader, q, "following").await).0);
    assert_eq!(
        summary(&choose(&app, &answerer, q, "unfollowed").await),
        (false, false, json!("unfollowed"), json!(["answered"]))
    );
    assert_eq!(
        summary(&choose(&app, &asker, q, "muted").await),
        (false, true, json!("muted"), json!(["asked"]))
    );
    assert_eq!(summary(&choose(&app, &asker, q, "muted").await).2, json!("muted"), "repeating is harmless");
    assert_eq!(summary(&status(&app, &reader, q).await), (true, false, json!("following"), json!([])));
    assert_eq!(app.db.count("SELECT count(*) FROM follows").await, 3);

    // A deleted answer no longer implies a follow.
    let (code, _) =
        app.send(Method::DELETE, &format!("/api/answers/{a}"), Some(&answerer), Value::Null).await;
    assert_eq!(code, 204);
    choose(&app, &answerer, q, "following").await;
    assert_eq!(summary(&status(&app, &answerer, q).await), (true, false, json!("following"), json!([])));
}

async fn bad_follow_requests_change_nothing(backend: Backend) {
    let app = hub(backend).await;
    let reader = user("reader");
    let (q, _) = app.thread(&user("asker"), &user("answerer")).await;
    let missing = Uuid::now_v7();
    let follow = format!("/api/questions/{q}/follow");
    let cases: [Case; 6] = [
        (Method::GET, follow.clone(), None, Value::Null, 401, "unauthorized"),
        (Method::PUT, follow.clone(), None, json!({"state": "following"}), 401, "unauthorized"),
        (Method::PUT, follow.clone(), Some(&reader), json!({"state": "yes"}), 422, "invalid_field"),
        (Method::PUT, follow.clone(), Some(&reader), json!({}), 422, "invalid_field"),
        (
            Method::PUT,
            format!("/api/questions/{missing}/follow"),
            Some(&reader),
            json!({"state": "muted"}),
            404,
            "question_not_found",
        ),
        (Method::GET, "/api/questions/nope/follow".into(), Some(&reader), Value::Null, 400, "invalid_id"),
    ];
    for (method, path, token, body, code, error) in cases {
        let (got, reply) = app.send(method.clone(), &path, token, body).await;
        assert_eq!((got, reply["error"]["code"].as_str()), (code, Some(error)), "{method} {path}: {reply}");
    }
    assert_eq!(app.db.count("SELECT count(*) FROM follows").await, 0);
    // A deleted question cannot be followed.
    let (id, _) = app.thread(&user("asker2"), &user("answerer2")).await;
    let moderator = moderator(&app).await;
    let (code, _) =
        app.send(Method::DELETE, &format!("/api/questions/{id}"), Some(&moderator), Value::Null).await;
    assert_eq!(code, 204);
    let (code, _) = app
        .send(
            Method::PUT,
            &format!("/api/questions/{id}/follow"),
            Some(&reader),
            json!({"state": "following"}),
        )
        .await;
    assert_eq!(code, 404);
}

on_both_backends!(writing_on_a_question_follows_it_and_choices_override, bad_follow_requests_change_nothing);
