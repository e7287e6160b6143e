//! The event log: every topic's seq stays contiguous under concurrent writers, every message
//! about a topic carries `topic` and `seq`, topics can be named on the wire, and an event kind
//! the server does not model still reaches clients in seq order.

use futures_util::future::join_all;
use serde_json::{Value, json};

use crate::common::{Backend, TestApp, TestDb, spawn};

/// Records an event of a kind no code path writes, as a newer node (or a test) might, under
/// the topic's next seq. Returns that seq.
async fn record_probe_event(db: &TestDb, question: uuid::Uuid) -> i64 {
    use sqlx::Connection;
    let topic = format!("question:{question}");
    let id = question;
    let payload = r#"{"note":"from a newer node"}"#;
    // The same statements on either engine, in one transaction.
    macro_rules! record {
        ($conn:expr) => {{
            let mut conn = $conn;
            let mut tx = conn.begin().await.unwrap();
            let seq: i64 =
                sqlx::query_scalar("UPDATE questions SET last_seq = last_seq + 1 WHERE id = $1 RETURNING last_seq")
                    .bind(id)
                    .fetch_one(&mut *tx)
                    .await
                    .unwrap();
            sqlx::query(
                "INSERT INTO events (topic, seq, kind, payload, created_at) VALUES ($1, $2, 'test_probe', $3, $4)",
            )
            .bind(&topic)
            .bind(seq)
            .bind(payload)
            .bind(chrono::Utc::now())
            .execute(&mut *tx)
            .await
            .unwrap();
            tx.commit().await.unwrap();
            seq
        }};
    }
    if db.url.starts_with("sqlite:") {
        record!(sqlx::SqliteConnection::connect(&db.url).await.unwrap())
    } else {
        record!(sqlx::PgConnection::connect(&db.url).await.unwrap())
    }
}

/// 120 posts at once, interleaved over two questions: each topic's events are exactly 1..=60,
/// each subscriber sees its own topic's seqs once, in order, and nothing of the other.
async fn concurrent_writers_on_two_topics_keep_each_seq_contiguous(backend: Backend) {
    let app = spawn(backend).await;
    let (a, b) = (app.question().await, app.question().await);
    let (mut wa, mut wb) = (app.ws().await, app.ws().await);
    wa.subscribe_legacy(a, None).await;
    wb.subscribe_legacy(b, None).await;
    let posts = (0..120).map(|i| {
        let app: &TestApp = &app;
        let q = if i % 2 == 0 { a } else { b };
        async move { app.answer(q, &format!("answer {i}")).await }
    });
    join_all(posts).await;
    let expected = |q| (1..=60).map(|seq| (q, seq)).collect::<Vec<_>>();
    assert_eq!(wa.answers(60).await, expected(a));
    assert_eq!(wb.answers(60).await, expected(b));
    for q in [a, b] {
        let topic = format!("question:{q}");
        let sql = format!("SELECT count(*) FROM events WHERE topic = '{topic}' AND seq BETWEEN 1 AND 60");
        assert_eq!(app.db.count(&sql).await, 60, "{topic}");
    }
    assert_eq!(app.db.count("SELECT count(*) FROM events WHERE topic LIKE 'question:%'").await, 120);
}

/// The topic form of subscribe, and `topic` + `seq` on every message about a topic.
async fn topics_on_the_wire(backend: Backend) {
    let app = spawn(backend).await;
    let q = app.question().await;
    app.answer(q, "first").await;
    let topic = format!("question:{q}");
    let mut ws = app.ws().await;
    ws.send(json!({"type": "subscribe", "topic": topic, "after_seq": 0})).await;
    let subscribed = ws.recv().await;
    assert_eq!(
        (subscribed["type"].as_str(), subscribed["topic"].as_str(), subscribed["seq"].as_i64()),
        (Some("subscribed"), Some(topic.as_str()), Some(1))
    );
    assert_eq!((subscribed["question_id"].clone(), subscribed["answer_count"].as_i64()), (json!(q), Some(1)));
    let replayed = ws.recv().await;
    assert_eq!(
        (replayed["type"].as_str(), replayed["topic"].as_str(), replayed["seq"].as_i64()),
        (Some("answer"), Some(topic.as_str()), Some(1))
    );
    app.answer(q, "second").await;
    let live = ws.recv().await;
    assert_eq!(
        (live["seq"].as_i64(), live["answer"]["seq"].as_i64(), live["answer"]["body"].as_str()),
        (Some(2), Some(2), Some("second"))
    );

    // The legacy form names the same topic.
    ws.send(json!({"type": "subscribe", "question_id": q})).await;
    let again = ws.recv().await;
    assert_eq!(
        (again["code"].as_str(), again["topic"].as_str()),
        (Some("already_subscribed"), Some(topic.as_str()))
    );
    for (bad, code) in [
        (json!({"type": "subscribe", "topic": "user:1"}), "invalid_topic"),
        (
            json!({"type": "subscribe", "topic": format!("question:{}", uuid::Uuid::now_v7()), "question_id": q}),
            "invalid_topic",
        ),
        (
            json!({"type": "subscribe", "topic": format!("question:{}", uuid::Uuid::now_v7())}),
            "question_not_found",
        ),
    ] {
        ws.send(bad.clone()).await;
        assert_eq!(ws.recv().await["code"], code, "{bad}");
    }
    ws.send(json!({"type": "unsubscribe", "topic": topic})).await;
    let unsubscribed = ws.recv().await;
    assert_eq!(
        (unsubscribed["type"].as_str(), unsubscribed["topic"].as_str(), unsubscribed["seq"].as_i64()),
        (Some("unsubscribed"), Some(topic.as_str()), Some(2))
    );
}

/// An event of a kind this build does not model (recorded by a newer node) reaches clients
/// with its own `type` in seq order — live, where it shows up as a gap the session fills from
/// the log, and on resume — so a client that skips unknown types still counts its seq.
async fn an_unknown_event_kind_is_passed_on_in_seq_order(backend: Backend) {
    let app = spawn(backend).await;
    let q = app.question().await;
    let mut live = app.ws().await;
    live.subscribe_legacy(q, None).await;
    let probe = record_probe_event(&app.db, q).await;
    assert_eq!(probe, 1);
    // The next answer is answer 1 of the question but event 2 of its topic.
    app.answer(q, "after the probe").await;
    let first: Value = live.recv().await;
    assert_eq!((first["type"].as_str(), first["seq"].as_i64()), (Some("test_probe"), Some(1)), "{first}");
    assert_eq!(first["payload"]["note"], "from a newer node");
    let second = live.recv().await;
    assert_eq!(
        (second["type"].as_str(), second["seq"].as_i64(), second["answer"]["seq"].as_i64()),
        (Some("answer"), Some(2), Some(1))
    );

    // A resume from 0 replays both; from 1, only the answer.
    let mut resumed = app.ws().await;
    resumed.send(json!({"type": "subscribe", "topic": format!("question:{q}"), "after_seq": 0})).await;
    assert_eq!(resumed.recv().await["seq"], 2, "subscribed at the head");
    assert_eq!(resumed.recv().await["type"], "test_probe");
    assert_eq!(resumed.recv().await["type"], "answer");
    let mut from_one = app.ws().await;
    from_one.send(json!({"type": "subscribe", "topic": format!("question:{q}"), "after_seq": 1})).await;
    from_one.recv().await;
    let next = from_one.recv().await;
    assert_eq!((next["type"].as_str(), next["seq"].as_i64()), (Some("answer"), Some(2)));
}

/// A database made before the event log (only the first migration) upgrades in place: the
/// existing answers become their questions' first events, so a client resumes across the
/// upgrade by the same seqs, and new answers continue the count.
async fn existing_answers_become_events_on_upgrade(backend: Backend) {
    use sqlx::{Connection, migrate::Migrator};

    let db = TestDb::new(backend).await;
    let engine = if backend == Backend::Sqlite { "sqlite" } else { "postgres" };
    // The migrations as they were before the event log: the first one alone.
    let old = tempfile::tempdir().unwrap();
    let first = std::fs::read_dir(format!("{}/migrations/{engine}", env!("CARGO_MANIFEST_DIR")))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .min()
        .unwrap();
    std::fs::copy(&first, old.path().join(first.file_name().unwrap())).unwrap();
    let migrator = Migrator::new(old.path()).await.unwrap();
    let (q, created) = (uuid::Uuid::now_v7(), chrono::Utc::now());
    macro_rules! old_schema_with_two_answers {
        ($conn:expr) => {{
            let mut conn = $conn;
            migrator.run(&mut conn).await.unwrap();
            sqlx::query("INSERT INTO questions (id, title, body, author, created_at, answer_count) VALUES ($1, 't', 'b', 'ann', $2, 2)")
                .bind(q)
                .bind(created)
                .execute(&mut conn)
                .await
                .unwrap();
            for seq in 1..=2_i64 {
                sqlx::query("INSERT INTO answers (id, question_id, seq, body, author, created_at) VALUES ($1, $2, $3, $4, 'bob', $5)")
                    .bind(uuid::Uuid::now_v7())
                    .bind(q)
                    .bind(seq)
                    .bind(format!("old {seq}"))
                    .bind(created)
                    .execute(&mut conn)
                    .await
                    .unwrap();
            }
        }};
    }
    if backend == Backend::Sqlite {
        let options: sqlx::sqlite::SqliteConnectOptions = db.url.parse().unwrap();
        old_schema_with_two_answers!(
            sqlx::SqliteConnection::connect_with(&options.create_if_missing(true)).await.unwrap()
        );
    } else {
        old_schema_with_two_answers!(sqlx::PgConnection::connect(&db.url).await.unwrap());
    }

    let app = crate::common::start_on(db, |_| {}).await;
    assert_eq!(app.answer(q, "new 3").await["seq"], 3);
    let mut ws = app.ws().await;
    ws.send(json!({"type": "subscribe", "topic": format!("question:{q}"), "after_seq": 1})).await;
    let subscribed = ws.recv().await;
    assert_eq!((subscribed["seq"].as_i64(), subscribed["answer_count"].as_i64()), (Some(3), Some(3)));
    for (seq, body) in [(2, "old 2"), (3, "new 3")] {
        let event = ws.recv().await;
        assert_eq!(
            (event["seq"].as_i64(), event["answer"]["body"].as_str()),
            (Some(seq), Some(body)),
            "{event}"
        );
    }
    assert_eq!(app.db.count("SELECT count(*) FROM events").await, 3);
}

on_both_backends!(
    concurrent_writers_on_two_topics_keep_each_seq_contiguous,
    topics_on_the_wire,
    an_unknown_event_kind_is_passed_on_in_seq_order,
    existing_answers_become_events_on_upgrade,
);
