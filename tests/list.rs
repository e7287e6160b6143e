//! The list of questions is live: the topic `questions` carries a `question` event for each
//! new question and a `question-delete` tombstone for each deleted one, with its own
//! contiguous seq, live and on resume from any seq; a deleted question's title never comes
//! back from the log.

use futures_util::{FutureExt, future::join_all};
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::common::{Backend, events, hub, id_of, user};

/// The question id a list event is about.
fn about(event: &Value) -> Uuid {
    let id = match event["type"].as_str() {
        Some("question") => &event["question"]["id"],
        Some("question-delete") => &event["question_id"],
        _ => panic!("not a list event: {event}"),
    };
    id_of(&json!({ "id": id }))
}

/// Twelve questions, nine of them asked at once, and a retried Idempotency-Key: a subscriber
/// gets each new question once, in seq order, with its summary (not its body); a client
/// resuming from any seq gets exactly the rest; the socket refuses bad requests about the
/// topic and stays open.
async fn each_new_question_once_in_seq_order(backend: Backend) {
    let app = hub(backend).await;
    let ann = user("ann");
    let mut live = app.ws().await;
    let mut last = live.subscribe("questions", None).await;
    assert_eq!(last, 0, "the list starts empty");

    let first = app.ask_as(&ann, "The first question", "The body.").await;
    let asked_at_once = join_all((0..9).map(|i| {
        let (app, token) = (&app, user(&format!("asker-{i}")));
        async move { app.ask_as(&token, &format!("Question {i}"), "The body.").await }
    }))
    .await;
    // The same Idempotency-Key twice stores (and announces) one question.
    let keyed = |key: &str| {
        app.http
            .post(app.url("/api/questions"))
            .bearer_auth(&ann)
            .header("idempotency-key", key)
            .json(&json!({"title": "Asked twice", "body": "b"}))
            .send()
    };
    let once = id_of(&keyed("k-1").await.unwrap().json::<Value>().await.unwrap());
    let again = id_of(&keyed("k-1").await.unwrap().json::<Value>().await.unwrap());
    assert_eq!(once, again);
    let last_one = app.ask_as(&ann, "The last question", "The body.").await;

    let got = events(&mut live, &mut last, 12).await;
    assert!(got.iter().all(|e| e["type"] == "question" && e["topic"] == "questions"), "{got:?}");
    let ids: Vec<Uuid> = got.iter().map(about).collect();
    let mut expected: Vec<Uuid> = [first, once, last_one].into_iter().chain(asked_at_once.clone()).collect();
    let mut sorted = ids.clone();
    sorted.sort();
    expected.sort();
    assert_eq!(sorted, expected, "each question once");
    assert_eq!((ids[0], ids[11]), (first, last_one), "in commit order");
    // A summary: what the list shows, not the body.
    let summary = &got[0]["question"];
    assert_eq!(summary["title"], "The first question");
    assert_eq!(summary["author"], "ann");
    assert!(summary["author_id"].is_string() && summary["created_at"].is_string(), "{summary}");
    assert!(summary.get("body").is_none(), "{summary}");
    // Nothing more: a repeat would come before this.
    assert!(live.recv_within(std::time::Duration::from_millis(300)).await.is_none());

    // Resuming from every seq gives exactly the rest, in the same order.
    for from in 0..=12 {
        let mut ws = app.ws().await;
        let mut seen = from;
        assert_eq!(ws.subscribe("questions", Some(from)).await, 12);
        let rest = events(&mut ws, &mut seen, (12 - from) as usize).await;
        assert_eq!(rest, got[from as usize..], "resuming after seq {from}");
    }
    // After the head: from now on.
    let mut ws = app.ws().await;
    assert_eq!(ws.subscribe("questions", Some(99)).await, 12);
    let next = app.ask_as(&ann, "One more", "The body.").await;
    let mut seen = 12;
    assert_eq!(about(&events(&mut ws, &mut seen, 1).await[0]), next);

    // Reading is public: no identity needed. Bad requests get an error and the socket stays.
    for (bad, code) in [
        (json!({"type": "subscribe", "topic": "questions:"}), "invalid_topic"),
        (json!({"type": "subscribe", "topic": "Questions"}), "invalid_topic"),
        (json!({"type": "subscribe", "topic": "questions", "after_seq": -1}), "invalid_after_seq"),
        (json!({"type": "subscribe", "topic": "questions", "question_id": first}), "invalid_topic"),
        (json!({"type": "subscribe", "topic": "questions"}), "already_subscribed"),
    ] {
        ws.send(bad.clone()).await;
        let reply = ws.recv().await;
        assert_eq!(
            (reply["type"].as_str(), reply["code"].as_str()),
            (Some("error"), Some(code)),
            "{bad}: {reply}"
        );
    }
    ws.send(json!({"type": "unsubscribe", "topic": "questions"})).await;
    let reply = ws.recv().await;
    assert_eq!((reply["type"].as_str(), reply["seq"].as_i64()), (Some("unsubscribed"), Some(13)), "{reply}");
}

/// Deleting a question: a live subscriber gets the `question-delete` tombstone at the next
/// seq; a resume replays its `question` event as `redacted` (the title is nowhere in the log),
/// the others as they were.
async fn a_deleted_question_leaves_the_list(backend: Backend) {
    let app = hub(backend).await;
    let ann = user("ann");
    let mut live = app.ws().await;
    let mut last = live.subscribe("questions", None).await;
    let kept = app.ask_as(&ann, "A question that stays", "The body.").await;
    let secret = "A title nobody may read again";
    let gone = app.ask_as(&ann, secret, "The body.").await;
    let after = app.ask_as(&ann, "A question asked later", "The body.").await;
    let asked = events(&mut live, &mut last, 3).await;
    assert_eq!(asked.iter().map(about).collect::<Vec<_>>(), vec![kept, gone, after]);

    let (status, reply) =
        app.send(Method::DELETE, &format!("/api/questions/{gone}"), Some(&ann), Value::Null).await;
    assert_eq!(status, 204, "{reply}");
    let tombstone = &events(&mut live, &mut last, 1).await[0];
    assert_eq!(
        tombstone,
        &json!({"type": "question-delete", "topic": "questions", "seq": 4, "question_id": gone})
    );
    // Deleting it again changes nothing and announces nothing.
    let (status, _) =
        app.send(Method::DELETE, &format!("/api/questions/{gone}"), Some(&ann), Value::Null).await;
    assert_eq!(status, 410);

    // On resume, from any seq: the deleted question's event is redacted, the rest unchanged.
    let mut expected = asked.clone();
    expected[1] = json!({"type": "redacted", "topic": "questions", "seq": 2});
    expected.push(tombstone.clone());
    for from in 0..=4 {
        let mut ws = app.ws().await;
        let mut seen = from;
        assert_eq!(ws.subscribe("questions", Some(from)).await, 4);
        let rest = events(&mut ws, &mut seen, (4 - from) as usize).await;
        assert_eq!(rest, expected[from as usize..], "resuming after seq {from}");
        assert!(!rest.iter().any(|e| e.to_string().contains(secret)), "{rest:?}");
    }
    let sql = format!("SELECT count(*) FROM events WHERE payload LIKE '%{secret}%'");
    assert_eq!(app.db.count(&sql).await, 0, "the title is gone from the log");
    // The question's own topic ended with its own tombstone, as before.
    let sql = format!("SELECT count(*) FROM events WHERE topic = 'question:{gone}' AND kind = 'delete'");
    assert_eq!(app.db.count(&sql).await, 1);
    // The REST list no longer has it either.
    let list: Value = app.get("/api/questions").await.json().await.unwrap();
    let ids: Vec<Uuid> = list["items"].as_array().unwrap().iter().map(id_of).collect();
    assert_eq!(ids, vec![after, kept]);
}

/// Asks, deletes and answers at once (on Postgres: deletes lock a question row, then the
/// list's row; asks only the list's row; answers only question rows): nothing deadlocks, the
/// list's seqs stay contiguous, a live subscriber and a resume from 0 both end with the list
/// REST shows.
async fn asks_and_deletes_at_once_keep_the_list_exact(backend: Backend) {
    let app = hub(backend).await;
    let ann = user("ann");
    let mut old = Vec::new();
    for i in 0..10 {
        old.push(app.ask_as(&ann, &format!("Old question {i}"), "The body.").await);
    }
    let mut live = app.ws().await;
    let mut last = live.subscribe("questions", None).await;
    assert_eq!(last, 10);
    let asks = (0..10).map(|i| {
        let (app, token) = (&app, user(&format!("asker-{i}")));
        async move { app.ask_as(&token, &format!("New question {i}"), "The body.").await }
    });
    let deletes = old[..8].iter().map(|q| {
        let (app, ann) = (&app, &ann);
        async move {
            let (status, reply) =
                app.send(Method::DELETE, &format!("/api/questions/{q}"), Some(ann), Value::Null).await;
            assert_eq!(status, 204, "{reply}");
        }
    });
    let answers = old[8..].iter().map(|q| {
        let (app, token) = (&app, user("answerer"));
        async move {
            for i in 0..5 {
                let path = format!("/api/questions/{q}/answers");
                let (status, reply) =
                    app.send(Method::POST, &path, Some(&token), json!({"body": format!("a{i}")})).await;
                assert_eq!(status, 201, "{reply}");
            }
        }
    });
    let ((asked, ()), ()) = futures_util::join!(
        futures_util::future::join(join_all(asks), join_all(deletes).map(drop)),
        join_all(answers).map(drop)
    );

    // What a client shows: the list it loaded, then each event applied in order.
    fn apply(list: &mut Vec<Uuid>, event: &Value) {
        match event["type"].as_str() {
            // By id, as REST lists them (UUIDv7: time order), which can differ from seq
            // (commit) order for questions asked at the same moment.
            Some("question") => {
                let id = about(event);
                let at = list.iter().position(|q| *q < id).unwrap_or(list.len());
                list.insert(at, id);
            }
            Some("question-delete") => list.retain(|q| *q != about(event)),
            Some("redacted") => {}
            _ => panic!("not a list event: {event}"),
        }
    }
    let rest: Value = app.get("/api/questions?limit=100").await.json().await.unwrap();
    let expected: Vec<Uuid> = rest["items"].as_array().unwrap().iter().map(id_of).collect();
    assert_eq!(expected.len(), 12);
    let mut shown: Vec<Uuid> = old.iter().rev().copied().collect();
    for event in events(&mut live, &mut last, 18).await {
        apply(&mut shown, &event);
    }
    assert_eq!(shown, expected, "live");
    let mut resumed = Vec::new();
    let mut ws = app.ws().await;
    let mut seen = 0;
    assert_eq!(ws.subscribe("questions", Some(0)).await, 28);
    for event in events(&mut ws, &mut seen, 28).await {
        apply(&mut resumed, &event);
    }
    assert_eq!(resumed, expected, "resumed from 0");
    assert!(asked.iter().all(|q| expected.contains(q)));
}

on_both_backends!(
    each_new_question_once_in_seq_order,
    a_deleted_question_leaves_the_list,
    asks_and_deletes_at_once_keep_the_list_exact,
);
