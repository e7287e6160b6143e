//! Votes and the accepted answer: an exact score under concurrency, `score` events with the
//! absolute score, `accept` / `unaccept` events, delivered live and on resume, and who may
//! do what. Users come from host-signed tokens (one per `sub`),
//! which the hub accepts without a password hash per user.

use std::collections::HashMap;

use serde_json::{Value, json};
use uuid::Uuid;

use crate::common::{Backend, ISSUER, SECRET, events, hub, id_of, question_topic, spawn_with, user};

fn score_of(event: &Value) -> (String, Uuid, i64) {
    assert_eq!(event["type"], "score", "{event}");
    (
        event["post_kind"].as_str().unwrap().to_owned(),
        id_of(&json!({"id": event["post_id"]})),
        event["score"].as_i64().unwrap(),
    )
}

async fn votes_are_exact_and_announced_as_absolute_scores(backend: Backend) {
    let app = hub(backend).await;
    let (asker, answerer, v1, v2) = (user("asker"), user("answerer"), user("v1"), user("v2"));
    let (q, a) = app.thread(&asker, &answerer).await;
    let mut live = app.ws().await;
    let mut last = live.subscribe(&question_topic(q), None).await;
    assert_eq!(last, 1, "the answer is seq 1");

    let answer = format!("/api/answers/{a}/vote");
    let steps = [(&v1, 1, 1), (&v1, 1, 1), (&v2, -1, 0), (&v1, 0, -1), (&v1, -1, -2)];
    for (token, value, score) in steps {
        let (status, body) = app.vote(token, &answer, value).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body, json!({"post_kind": "answer", "post_id": a, "score": score, "vote": value}));
    }
    let (status, body) = app.vote(&v2, &format!("/api/questions/{q}/vote"), 1).await;
    assert_eq!((status, body["score"].as_i64()), (200, Some(1)), "{body}");

    // Repeating the standing vote (step 2) changed nothing and announced nothing.
    let expected =
        [("answer", a, 1), ("answer", a, 0), ("answer", a, -1), ("answer", a, -2), ("question", q, 1)];
    let got: Vec<_> = events(&mut live, &mut last, expected.len()).await.iter().map(score_of).collect();
    let expected: Vec<_> = expected.iter().map(|(k, id, s)| ((*k).to_owned(), *id, *s)).collect();
    assert_eq!(got, expected);

    // REST shows the same state, and the seq to resume from.
    let question: Value = app.get(&format!("/api/questions/{q}")).await.json().await.unwrap();
    assert_eq!((question["score"].as_i64(), question["last_seq"].as_i64()), (Some(1), Some(6)), "{question}");
    let answers: Value = app.get(&format!("/api/questions/{q}/answers")).await.json().await.unwrap();
    assert_eq!(answers["items"][0]["score"].as_i64(), Some(-2), "{answers}");

    // A client resuming from any seq in the middle reads the same events from the log.
    for from in 1..=5 {
        let mut ws = app.ws().await;
        let mut seen = from;
        let head = ws.subscribe(&question_topic(q), Some(from)).await;
        assert_eq!(head, 6);
        let resumed: Vec<_> =
            events(&mut ws, &mut seen, (head - from) as usize).await.iter().map(score_of).collect();
        assert_eq!(resumed, expected[(from - 1) as usize..], "resuming after seq {from}");
    }
}

async fn who_may_vote(backend: Backend) {
    let app = hub(backend).await;
    let (asker, answerer, other) = (user("asker"), user("answerer"), user("other"));
    let (q, a) = app.thread(&asker, &answerer).await;
    let answer = format!("/api/answers/{a}/vote");
    let missing = Uuid::now_v7();
    let cases: [(Option<&str>, String, Value, u16, &str); 7] = [
        (None, answer.clone(), json!({"value": 1}), 401, "unauthorized"),
        (Some(&answerer), answer.clone(), json!({"value": 1}), 403, "own_post"),
        (Some(&asker), format!("/api/questions/{q}/vote"), json!({"value": -1}), 403, "own_post"),
        (Some(&other), format!("/api/answers/{missing}/vote"), json!({"value": 1}), 404, "answer_not_found"),
        (
            Some(&other),
            format!("/api/questions/{missing}/vote"),
            json!({"value": 1}),
            404,
            "question_not_found",
        ),
        (Some(&other), answer.clone(), json!({"value": 2}), 422, "invalid_field"),
        (Some(&other), "/api/answers/nope/vote".to_owned(), json!({"value": 1}), 400, "invalid_id"),
    ];
    for (token, path, body, status, code) in cases {
        let (got, reply) = app.send(reqwest::Method::PUT, &path, token, body).await;
        assert_eq!((got, reply["error"]["code"].as_str()), (status, Some(code)), "{path}: {reply}");
    }
    // Nothing changed: no vote, no score, no event.
    assert_eq!(app.db.count("SELECT count(*) FROM votes").await, 0);
    assert_eq!(app.db.count("SELECT count(*) FROM events WHERE kind = 'score'").await, 0);
    let mut ws = app.ws().await;
    assert_eq!(ws.subscribe(&question_topic(q), None).await, 1);
}

async fn concurrent_votes_keep_the_score_exact(backend: Backend) {
    let app = hub(backend).await;
    let (q, a) = app.thread(&user("asker"), &user("answerer")).await;
    let mut live = app.ws().await;
    let mut last = live.subscribe(&question_topic(q), None).await;
    let path = format!("/api/answers/{a}/vote");

    // 100 users, 10 votes each, all users at once; each user's votes in order, so their last
    // one stands. Values cycle so that users change and withdraw their votes.
    let voters = (0..100).map(|i| {
        let (app, path) = (&app, &path);
        async move {
            let token = user(&format!("voter-{i}"));
            let mut standing = 0;
            for k in 0..10 {
                let value = [1, -1, 0, 1, 1, -1, 0, -1, 1, -1][(i + k) % 10];
                let (status, body) = app.vote(&token, path, value).await;
                assert_eq!(status, 200, "{body}");
                standing = value;
            }
            standing
        }
    });
    let standing: i64 = futures_util::future::join_all(voters).await.into_iter().sum();

    let (_, body) = app.vote(&user("voter-0"), &path, [1, -1, 0, 1, 1, -1, 0, -1, 1, -1][9]).await;
    assert_eq!(body["score"].as_i64(), Some(standing), "the score is the sum of the standing votes");
    assert_eq!(
        app.db.count("SELECT COALESCE(SUM(value), 0) FROM votes").await,
        standing,
        "the stored votes agree"
    );
    // The live stream is contiguous and ends at the true score.
    let mut ws = app.ws().await;
    let head = ws.subscribe(&question_topic(q), Some(last)).await;
    let mut by_post: HashMap<Uuid, i64> = HashMap::new();
    for event in events(&mut live, &mut last, (head - 1) as usize).await {
        let (_, post, score) = score_of(&event);
        by_post.insert(post, score);
    }
    assert_eq!(by_post.get(&a), Some(&standing));
}

fn accept_of(event: &Value) -> (String, Uuid) {
    (event["type"].as_str().unwrap().to_owned(), id_of(&json!({"id": event["answer_id"]})))
}

async fn the_asker_accepts_changes_and_withdraws(backend: Backend) {
    let app = hub(backend).await;
    let (asker, u1, u2) = (user("asker"), user("u1"), user("u2"));
    let (q, a1) = app.thread(&asker, &u1).await;
    let (status, a2) = app
        .send(reqwest::Method::POST, &format!("/api/questions/{q}/answers"), Some(&u2), json!({"body": "a2"}))
        .await;
    assert_eq!(status, 201);
    let a2 = id_of(&a2);
    let mut live = app.ws().await;
    let mut last = live.subscribe(&question_topic(q), None).await;
    assert_eq!(last, 2);

    let path = |a: Uuid| format!("/api/answers/{a}/accept");
    let missing = Uuid::now_v7();
    // Refused, and nothing changes.
    for (token, path, status, code) in [
        (None, path(a1), 401, "unauthorized"),
        (Some(&u1), path(a1), 403, "not_asker"),
        (Some(&u2), path(a1), 403, "not_asker"),
        (Some(&asker), path(missing), 404, "answer_not_found"),
    ] {
        let (got, reply) =
            app.send(reqwest::Method::PUT, &path, token.map(String::as_str), Value::Null).await;
        assert_eq!((got, reply["error"]["code"].as_str()), (status, Some(code)), "{path}: {reply}");
    }
    let steps = [
        (reqwest::Method::PUT, a1, Some(a1)),
        (reqwest::Method::PUT, a1, Some(a1)), // already accepted: nothing to announce
        (reqwest::Method::PUT, a2, Some(a2)),
        (reqwest::Method::DELETE, a1, Some(a2)), // not the accepted one: nothing changes
        (reqwest::Method::DELETE, a2, None),
    ];
    for (method, answer, accepted) in steps {
        let (status, body) = app.send(method, &path(answer), Some(&asker), Value::Null).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body, json!({"question_id": q, "accepted_answer_id": accepted}));
    }
    let (_, body) = app.send(reqwest::Method::PUT, &path(a1), Some(&asker), Value::Null).await;
    assert_eq!(body["accepted_answer_id"], json!(a1));
    let question: Value = app.get(&format!("/api/questions/{q}")).await.json().await.unwrap();
    assert_eq!(question["accepted_answer_id"], json!(a1), "REST shows the accepted answer");
    let expected: Vec<(String, Uuid)> = [("accept", a1), ("unaccept", a1), ("accept", a2), ("unaccept", a2)]
        .iter()
        .map(|(k, a)| ((*k).to_owned(), *a))
        .collect();
    let got: Vec<_> = events(&mut live, &mut last, 4).await.iter().map(accept_of).collect();
    assert_eq!(got, expected);
    let question: Value = app.get(&format!("/api/questions/{q}")).await.json().await.unwrap();
    assert_eq!((&question["accepted_answer_id"], question["last_seq"].as_i64()), (&json!(a1), Some(7)));
    // The same from the log.
    let mut ws = app.ws().await;
    let mut seen = 2;
    assert_eq!(ws.subscribe(&question_topic(q), Some(2)).await, 7);
    let resumed: Vec<_> = events(&mut ws, &mut seen, 4).await.iter().map(accept_of).collect();
    assert_eq!(resumed, expected);
}

/// A flood of votes meets the same per-user budget as posts (429 with Retry-After), and a
/// refused vote changes nothing.
async fn votes_share_the_post_budget(backend: Backend) {
    let app = spawn_with(backend, |config| {
        config.identity.anonymous_writes = false;
        config.identity.jwt_secret = Some(SECRET.into());
        config.identity.jwt_issuer = Some(ISSUER.into());
        config.limits.posts_per_minute = 3;
    })
    .await;
    let (q, a) = app.thread(&user("asker"), &user("answerer")).await;
    let voter = user("voter");
    let path = format!("/api/answers/{a}/vote");
    for value in [1, -1, 1] {
        assert_eq!(app.vote(&voter, &path, value).await.0, 200);
    }
    let res =
        app.http.put(app.url(&path)).bearer_auth(&voter).json(&json!({"value": -1})).send().await.unwrap();
    assert_eq!(res.status(), 429);
    assert!(res.headers().contains_key("retry-after"));
    let (status, _) = app
        .send(reqwest::Method::PUT, &format!("/api/questions/{q}/vote"), Some(&voter), json!({"value": 1}))
        .await;
    assert_eq!(status, 429, "one budget for every post of the user");
    assert_eq!(
        app.db.count("SELECT COALESCE(SUM(value), 0) FROM votes").await,
        1,
        "the refused votes changed nothing"
    );
}

on_both_backends!(
    the_asker_accepts_changes_and_withdraws,
    votes_share_the_post_budget,
    votes_are_exact_and_announced_as_absolute_scores,
    who_may_vote,
    concurrent_votes_keep_the_score_exact,
);
