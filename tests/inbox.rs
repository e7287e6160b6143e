//! The inbox: notifications grouped into entries on each user's topic `user:{id}`, an unread
//! count that follows reads on every tab, only one's own inbox over the WebSocket, and exact
//! resume, also across a restart.

use reqwest::Method;
use serde_json::{Value, json};

use crate::common::{
    Backend, ISSUER, SECRET, TestApp, WAIT, events, eventually, hub, inbox_socket, me, start_on, user,
};

async fn inbox(app: &TestApp, token: &str) -> Value {
    let (status, body) = app.send(Method::GET, "/api/inbox", Some(token), Value::Null).await;
    assert_eq!(status, 200, "{body}");
    body
}

/// (reason, count, read) of an inbox event's entry, and the unread count it carries.
fn entry_of(e: &Value) -> (String, i64, bool, i64) {
    assert_eq!(e["type"], "inbox", "{e}");
    let entry = &e["entry"];
    (
        entry["reason"].as_str().unwrap().to_owned(),
        entry["count"].as_i64().unwrap(),
        entry["read"].as_bool().unwrap(),
        e["unread"].as_i64().unwrap(),
    )
}

async fn the_asker_hears_of_answers_grouped_while_unread(backend: Backend) {
    let app = hub(backend).await;
    let (asker, u1, u2) = (user("asker"), user("u1"), user("u2"));
    let (q, a1) = app.thread(&asker, &u1).await;
    let (mut tab, _) = inbox_socket(&app, &asker, 0).await;
    let mut last = 0;
    let first = events(&mut tab, &mut last, 1).await;
    assert_eq!(entry_of(&first[0]), ("answer".into(), 1, false, 1));
    assert_eq!(first[0]["entry"]["ref_id"], json!(a1));
    assert_eq!(first[0]["entry"]["title"], "t");

    // A second answer by someone else folds into the unread entry.
    app.answer_as(&u2, q, "two").await;
    let second = &events(&mut tab, &mut last, 1).await[0];
    assert_eq!(entry_of(second), ("answer".into(), 2, false, 1));
    assert_eq!(second["entry"]["id"], first[0]["entry"]["id"]);
    assert_eq!(second["entry"]["actor"], "u2");

    // Their own answer tells them nothing; a comment on their question does.
    app.answer_as(&asker, q, "mine").await;
    let (status, _) = app
        .send(Method::POST, &format!("/api/questions/{q}/comments"), Some(&u1), json!({"body": "hm"}))
        .await;
    assert_eq!(status, 201);
    let comment = &events(&mut tab, &mut last, 1).await[0];
    assert_eq!(entry_of(comment), ("comment".into(), 1, false, 2));

    // Read on one tab: the other hears it, and the next answer starts a new entry.
    let (mut other_tab, _) = inbox_socket(&app, &asker, last).await;
    let mut other_last = last;
    let entry = second["entry"]["id"].as_str().unwrap();
    let (status, body) =
        app.send(Method::PUT, &format!("/api/inbox/{entry}/read"), Some(&asker), Value::Null).await;
    assert_eq!((status, &body), (200, &json!({"unread": 1})));
    for (ws, last) in [(&mut tab, &mut last), (&mut other_tab, &mut other_last)] {
        let read = &events(ws, last, 1).await[0];
        assert_eq!(
            (&read["type"], &read["unread"], &read["entry_ids"]),
            (&json!("read"), &json!(1), &json!([entry]))
        );
    }
    app.answer_as(&u1, q, "three").await;
    let third = &events(&mut tab, &mut last, 1).await[0];
    assert_eq!(entry_of(third), ("answer".into(), 1, false, 2));
    assert_ne!(third["entry"]["id"], second["entry"]["id"]);

    // REST agrees: newest first, the unread count, the topic's seq.
    let listed = inbox(&app, &asker).await;
    let items: Vec<_> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["reason"].as_str().unwrap().to_owned(),
                e["count"].as_i64().unwrap(),
                e["read"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        items,
        [("answer".into(), 1, false), ("comment".into(), 1, false), ("answer".into(), 2, true)]
    );
    assert_eq!((&listed["unread"], &listed["last_seq"]), (&json!(2), &json!(last)));

    // Followers: u1 answered, so u1 heard of u2's answer and the asker's (grouped), not of
    // their own; then the accept.
    app.send(Method::PUT, &format!("/api/answers/{a1}/accept"), Some(&asker), Value::Null).await;
    eventually("u1's accepted notification", WAIT, || async {
        let items = inbox(&app, &u1).await["items"].clone();
        items.as_array().unwrap().iter().any(|e| e["reason"] == "accepted")
    })
    .await;
    let items = inbox(&app, &u1).await["items"].clone();
    let reasons: Vec<_> = items
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["reason"].clone(), e["count"].clone(), e["actor"].clone()))
        .collect();
    assert_eq!(
        reasons,
        [(json!("accepted"), json!(1), json!("asker")), (json!("followed_answer"), json!(2), json!("asker"))]
    );

    // Mark all read: one event, unread 0; doing it again writes nothing.
    let (status, body) = app.send(Method::POST, "/api/inbox/read-all", Some(&asker), Value::Null).await;
    assert_eq!((status, body), (200, json!({"unread": 0})));
    let read = &events(&mut tab, &mut last, 1).await[0];
    assert_eq!(
        (&read["type"], &read["unread"], read["entry_ids"].as_array().unwrap().len()),
        (&json!("read"), &json!(0), 2)
    );
    let (status, _) = app.send(Method::POST, "/api/inbox/read-all", Some(&asker), Value::Null).await;
    assert_eq!(status, 200);
    assert_eq!(inbox(&app, &asker).await["last_seq"], json!(last), "nothing unread: no event");
}

async fn only_the_owner_subscribes_to_an_inbox(backend: Backend) {
    let app = hub(backend).await;
    let (asker, other) = (user("asker"), user("other"));
    let (q, _) = app.thread(&asker, &user("answerer")).await;
    let asker_id = me(&app, &asker).await;
    let topic = format!("user:{asker_id}");
    // Without an identity, and as someone else: refused, the connection stays up.
    let mut ws = app.ws().await;
    for token in [None, Some(&other)] {
        if let Some(token) = token {
            ws.auth(token).await;
        }
        ws.send(json!({"type": "subscribe", "topic": topic, "after_seq": 0})).await;
        let reply = ws.recv().await;
        assert_eq!(
            (&reply["type"], &reply["code"], &reply["topic"]),
            (&json!("error"), &json!("forbidden"), &json!(topic))
        );
        assert!(reply.get("seq").is_none(), "nothing about the inbox: {reply}");
    }
    assert_eq!(ws.subscribe_legacy(q, None).await, 1, "the connection still works");
    // Someone else's entry cannot be marked read.
    let entries = {
        eventually("the asker's notification", WAIT, || async {
            !inbox(&app, &asker).await["items"].as_array().unwrap().is_empty()
        })
        .await;
        inbox(&app, &asker).await["items"].clone()
    };
    let entry = entries[0]["id"].as_str().unwrap();
    let (status, body) =
        app.send(Method::PUT, &format!("/api/inbox/{entry}/read"), Some(&other), Value::Null).await;
    assert_eq!((status, body["error"]["code"].as_str()), (404, Some("entry_not_found")));
    let (status, _) = app.send(Method::GET, "/api/inbox", None, Value::Null).await;
    assert_eq!(status, 401);
    assert_eq!(inbox(&app, &asker).await["unread"], json!(1), "nothing changed");
}

/// Answers from 10 users and reads from two tabs, all at once: the unread count every tab
/// ends with is the number of unread entries, and each tab's stream is contiguous.
async fn the_unread_count_is_exact_under_concurrent_answers_and_reads(backend: Backend) {
    let app = hub(backend).await;
    let asker = user("asker");
    let mut questions = Vec::new();
    for _ in 0..3 {
        questions.push(app.thread(&asker, &user("first")).await.0);
    }
    let (mut tab1, _) = inbox_socket(&app, &asker, 0).await;
    let (mut tab2, _) = inbox_socket(&app, &asker, 0).await;
    let (mut last1, mut last2) = (0, 0);
    let answers = (0..10).map(|i| {
        let (app, questions) = (&app, &questions);
        async move {
            let token = user(&format!("u{i}"));
            for k in 0..3 {
                app.answer_as(&token, questions[(i + k) % 3], "a").await;
            }
        }
    });
    let reads = (0..5).map(|_| async {
        app.send(Method::POST, "/api/inbox/read-all", Some(&asker), Value::Null).await;
    });
    futures_util::future::join(
        futures_util::future::join_all(answers),
        futures_util::future::join_all(reads),
    )
    .await;
    // 33 answers in all (3 first ones, 30 more): every one has reached an entry's count.
    eventually("every answer notified", WAIT, || async {
        let items = inbox(&app, &asker).await["items"].clone();
        items.as_array().unwrap().iter().map(|e| e["count"].as_i64().unwrap()).sum::<i64>() == 33
    })
    .await;
    let listed = inbox(&app, &asker).await;
    let unread = listed["items"].as_array().unwrap().iter().filter(|e| e["read"] == false).count() as i64;
    assert_eq!(listed["unread"], json!(unread));
    let head = listed["last_seq"].as_i64().unwrap();
    for (ws, last) in [(&mut tab1, &mut last1), (&mut tab2, &mut last2)] {
        let stream = events(ws, last, (head - *last) as usize).await;
        assert_eq!(stream.last().unwrap()["unread"], json!(unread), "the badge ends at the truth");
    }
}

async fn an_inbox_resumes_exactly_across_a_restart(backend: Backend) {
    let app = hub(backend).await;
    let (asker, u1, u2) = (user("asker"), user("u1"), user("u2"));
    let (q, _) = app.thread(&asker, &u1).await;
    let (mut live, _) = inbox_socket(&app, &asker, 0).await;
    let mut last = 0;
    app.answer_as(&u2, q, "two").await;
    let (status, _) = app
        .send(Method::POST, &format!("/api/questions/{q}/comments"), Some(&u2), json!({"body": "c"}))
        .await;
    assert_eq!(status, 201);
    let streamed = events(&mut live, &mut last, 3).await;
    app.send(Method::POST, "/api/inbox/read-all", Some(&asker), Value::Null).await;
    app.answer_as(&u1, q, "three").await;
    let streamed = [streamed, events(&mut live, &mut last, 2).await].concat();
    drop(live);

    app.stop().await;
    let (db, addr) = (app.db, app.addr);
    let app = start_on(db, |c| {
        c.server.bind = addr.to_string();
        c.identity.anonymous_writes = false;
        c.identity.jwt_secret = Some(SECRET.into());
        c.identity.jwt_issuer = Some(ISSUER.into());
    })
    .await;
    // A resume after any seq sends the rest, each once, in order; replayed entries are as
    // they are now, and the last event's unread count is the truth.
    for from in 0..last {
        let (mut ws, head) = inbox_socket(&app, &asker, from).await;
        assert_eq!(head, last);
        let mut seen = from;
        let resumed = events(&mut ws, &mut seen, (head - from) as usize).await;
        let kinds: Vec<_> = resumed.iter().map(|e| e["type"].clone()).collect();
        let expected: Vec<_> = streamed[from as usize..].iter().map(|e| e["type"].clone()).collect();
        assert_eq!(kinds, expected, "resuming after seq {from}");
        assert_eq!(resumed.last(), streamed.last(), "the last event is the same");
    }
    assert_eq!(inbox(&app, &asker).await["unread"], json!(1));
}

on_both_backends!(
    the_asker_hears_of_answers_grouped_while_unread,
    only_the_owner_subscribes_to_an_inbox,
    the_unread_count_is_exact_under_concurrent_answers_and_reads,
    an_inbox_resumes_exactly_across_a_restart,
);

/// The scale of a popular question: an answer to a question with N followers
/// (QA_HUB_BENCH_FOLLOWERS, default 10,000). Prints the answer POST's latency (beside one to a
/// question nobody follows), the time until every follower's inbox holds the entry, and until
/// 100 followers' live sockets have its event. Run with `--ignored --nocapture`.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "measurement; see docs/benchmarks.md"]
async fn an_answer_to_a_question_with_ten_thousand_followers() {
    use std::time::Instant;
    let n: usize =
        std::env::var("QA_HUB_BENCH_FOLLOWERS").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000);
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let app = crate::common::spawn_with(backend, |c| {
            c.identity.anonymous_writes = false;
            c.identity.jwt_secret = Some(SECRET.into());
            c.identity.jwt_issuer = Some(ISSUER.into());
            c.limits.posts_per_minute = 0;
        })
        .await;
        let asker = user("asker");
        let (quiet, _) = app.thread(&asker, &user("first")).await;
        let (q, _) = app.thread(&asker, &user("first")).await;
        let started = Instant::now();
        let followers: Vec<String> = (0..n).map(|i| user(&format!("f{i}"))).collect();
        let follow = |token: &String| {
            let path = format!("/api/questions/{q}/follow");
            let app = &app;
            let token = token.clone();
            async move {
                let (status, body) =
                    app.send(Method::PUT, &path, Some(&token), json!({"state": "following"})).await;
                assert_eq!(status, 200, "{body}");
            }
        };
        for chunk in followers.chunks(200) {
            futures_util::future::join_all(chunk.iter().map(follow)).await;
        }
        let set_up = started.elapsed();
        let mut sample = Vec::new();
        for token in followers.iter().step_by((n / 100).max(1)).take(100) {
            let (ws, _) = inbox_socket(&app, token, 0).await;
            sample.push(ws);
        }
        // Warm both paths, then time one answer to each question.
        app.answer_as(&user("warm"), quiet, "warm").await;
        let t = Instant::now();
        app.answer_as(&user("poster"), quiet, "nobody follows this").await;
        let post_quiet = t.elapsed();
        let t = Instant::now();
        app.answer_as(&user("poster"), q, "everyone follows this").await;
        let post_popular = t.elapsed();
        // One transaction writes every follower's entry: once the first and the last follower
        // have theirs, all have.
        let (first, last) = (&followers[0], &followers[n - 1]);
        eventually("every follower's inbox", WAIT, || async {
            inbox(&app, first).await["unread"] == json!(1) && inbox(&app, last).await["unread"] == json!(1)
        })
        .await;
        let stored = t.elapsed();
        for ws in &mut sample {
            let mut last = 0;
            let got = events(ws, &mut last, 1).await;
            assert_eq!(got[0]["entry"]["question_id"], json!(q));
        }
        let delivered = t.elapsed();
        println!(
            "{backend:?}: {n} followers (set up in {set_up:.1?}): answer POST {post_popular:.1?} (to an unfollowed question: {post_quiet:.1?}); every inbox written after {stored:.1?}; 100 sampled live sockets had it after {delivered:.1?}"
        );
    }
}
