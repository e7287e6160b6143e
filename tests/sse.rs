//! The Server-Sent Events fallback: the same topics and the same exactly-once contract as the
//! WebSocket, resumed by `Last-Event-ID` across several topics in one stream.

use qa_hub_client::{Event, EventBody, EventFrame, ServerMessage, Status, Subscriber, Topic};
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::common::{Backend, NoUpgradeProxy, SseClient, WAIT, hub, id_of, spawn, user};

fn seqs(events: &[(String, Value)]) -> Vec<i64> {
    events.iter().map(|(_, e)| e["seq"].as_i64().unwrap()).collect()
}

async fn every_answer_once_in_order_and_resume_by_last_event_id(backend: Backend) {
    let app = spawn(backend).await;
    let q = app.question().await;
    let topic = format!("question:{q}");
    let mut stream = SseClient::open(&app, &topic, None, None).await;
    let (id, subscribed) = stream.next().await;
    assert_eq!((id, subscribed["type"].as_str()), (None, Some("subscribed")), "{subscribed}");
    let mut posted = Vec::new();
    for i in 0..3 {
        posted.push(id_of(&app.answer(q, &format!("a{i}")).await));
    }
    let first = stream.events(3).await;
    assert_eq!(seqs(&first), [1, 2, 3]);
    assert_eq!(first.iter().map(|(_, e)| id_of(&e["answer"])).collect::<Vec<Uuid>>(), posted);
    assert_eq!(first[2].0, format!("{topic}=3"));

    // Dropped (a proxy cut it); two answers meanwhile; the browser comes back with its last id.
    drop(stream);
    for i in 3..5 {
        app.answer(q, &format!("a{i}")).await;
    }
    let last = first[2].0.clone();
    let mut stream = SseClient::open(&app, &topic, Some(&last), None).await;
    assert_eq!(stream.next().await.1["type"], "subscribed");
    app.answer(q, "a5").await;
    let resumed = stream.events(3).await;
    assert_eq!(seqs(&resumed), [4, 5, 6], "the missed ones once, then live");

    // Several topics in one stream: the id carries the position in each.
    let last = resumed[2].0.clone();
    let mut both = SseClient::open(&app, &format!("{topic},questions"), Some(&last), None).await;
    for _ in 0..2 {
        assert_eq!(both.next().await.1["type"], "subscribed");
    }
    let other = app.question().await;
    app.answer(q, "a6").await;
    let got = both.events(2).await;
    let mut kinds: Vec<&Value> = got.iter().map(|(_, e)| e).collect();
    kinds.sort_by_key(|e| e["type"].as_str().unwrap().to_owned());
    assert_eq!((kinds[0]["type"].as_str(), kinds[0]["seq"].as_i64()), (Some("answer"), Some(7)));
    assert_eq!(kinds[1]["question"]["id"], json!(other));
    // The last id names both positions, whichever topic's event came last.
    assert_eq!(got[1].0, format!("{topic}=7,questions=2"));
}

/// A topic with no event yet still has its place in every id (from its subscribe on), so a
/// reconnect resumes it exactly; positions of topics the stream does not ask for are ignored,
/// and an id longer than any stream's is refused.
async fn a_quiet_topic_resumes_exactly(backend: Backend) {
    let app = spawn(backend).await;
    let (a, b) = (app.question().await, app.question().await);
    let topics = format!("question:{a},question:{b}");
    let foreign = format!("question:{}=7", Uuid::now_v7());
    let mut stream = SseClient::open(&app, &topics, Some(&foreign), None).await;
    for _ in 0..2 {
        assert_eq!(stream.next().await.1["type"], "subscribed");
    }
    app.answer(a, "on A").await;
    let (id, event) = stream.events(1).await.remove(0);
    assert_eq!(event["topic"], format!("question:{a}"));
    let mut expected = [format!("question:{a}=1"), format!("question:{b}=0")];
    expected.sort();
    assert_eq!(id, expected.join(","), "both topics, and not the foreign one");

    // B's first answer comes while the stream is away; the id brings it back.
    drop(stream);
    app.answer(b, "on B").await;
    let mut stream = SseClient::open(&app, &topics, Some(&id), None).await;
    for _ in 0..2 {
        assert_eq!(stream.next().await.1["type"], "subscribed");
    }
    let (_, resumed) = stream.events(1).await.remove(0);
    assert_eq!(
        (resumed["topic"].as_str(), resumed["seq"].as_i64()),
        (Some(&*format!("question:{b}")), Some(1))
    );

    // An id longer than a stream of --max-subscriptions (100) topics can carry.
    let long: Vec<String> = (0..101).map(|_| format!("question:{}=1", Uuid::now_v7())).collect();
    let res = app
        .http
        .get(app.url(&format!("/sse?topics={topics}")))
        .header("Last-Event-ID", long.join(","))
        .send()
        .await;
    let res = res.unwrap();
    assert_eq!(res.status(), 400);
    assert_eq!(res.json::<Value>().await.unwrap()["error"]["code"], "invalid_last_event_id");
}

/// A stream left with no subscription (here: its one topic refused) is closed after
/// `--idle-timeout-secs`, as a socket is, and gives its place back.
async fn a_stream_with_nothing_to_stream_closes_after_the_idle_timeout(backend: Backend) {
    let app = crate::common::spawn_with(backend, |c| {
        c.realtime.idle_timeout_secs = 1;
        c.realtime.max_connections_per_ip = 1;
    })
    .await;
    let refused = format!("/sse?topics=user:{}", Uuid::now_v7());
    let mut stream = SseClient::open(&app, &refused[12..], None, None).await;
    assert_eq!(stream.next().await.1["code"], "forbidden");
    // It holds this address's one place meanwhile.
    assert_eq!(app.get(&refused).await.status(), 503);
    let end = tokio::time::timeout(WAIT, async {
        loop {
            match stream.res.chunk().await {
                Ok(Some(_)) => continue, // a heartbeat
                Ok(None) | Err(_) => return,
            }
        }
    });
    end.await.expect("the stream ends");
    crate::common::eventually("its place given back", WAIT, || async {
        app.get(&refused).await.status() == 200
    })
    .await;
}

async fn bad_requests_are_refused_with_a_json_error(backend: Backend) {
    let app = spawn(backend).await;
    for (path, code) in [
        ("/sse", "invalid_topic"),
        ("/sse?topics=", "invalid_topic"),
        ("/sse?topics=question:nope", "invalid_topic"),
        ("/sse?topics=questions&last_event_id=questions%3Dx", "invalid_last_event_id"),
    ] {
        let res = app.get(path).await;
        assert_eq!(res.status(), 400, "{path}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["error"]["code"], code, "{path}: {body}");
    }
    let res = app
        .http
        .get(app.url("/sse?topics=questions"))
        .header("Origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    // A topic that does not exist is the session's `error`, as on the WebSocket.
    let mut stream = SseClient::open(&app, &format!("question:{}", Uuid::now_v7()), None, None).await;
    let (id, reply) = stream.next().await;
    assert_eq!(
        (id, reply["type"].as_str(), reply["code"].as_str()),
        (None, Some("error"), Some("question_not_found"))
    );
}

async fn an_inbox_streams_to_its_owner_only(backend: Backend) {
    let app = hub(backend).await;
    let (asker, answerer) = (user("asker"), user("answerer"));
    app.thread(&asker, &answerer).await;
    let (_, me) = app.send(Method::GET, "/api/me", Some(&asker), Value::Null).await;
    let inbox = format!("user:{}", me["id"].as_str().unwrap());
    let mut theirs = SseClient::open(&app, &inbox, None, Some(&answerer)).await;
    let (_, refused) = theirs.next().await;
    assert_eq!(
        (refused["type"].as_str(), refused["code"].as_str()),
        (Some("error"), Some("forbidden")),
        "{refused}"
    );
    let mut mine = SseClient::open(&app, &inbox, Some(&format!("{inbox}=0")), Some(&asker)).await;
    assert_eq!(mine.next().await.1["type"], "subscribed");
    let (id, entry) = mine.events(1).await.remove(0);
    assert_eq!((entry["type"].as_str(), entry["entry"]["reason"].as_str()), (Some("inbox"), Some("answer")));
    assert_eq!(id, format!("{inbox}=1"));
}

/// The Rust client behind a proxy that refuses WebSockets: over the event stream it gets every
/// answer once, in order, also across the proxy dropping it.
async fn the_client_streams_through_a_proxy_that_refuses_websockets(backend: Backend) {
    let app = spawn(backend).await;
    let proxy = NoUpgradeProxy::start(app.addr).await;
    let q = app.question().await;
    let refused = qa_hub_client::Connection::connect(&format!("ws://{}/ws", proxy.addr)).await;
    assert!(refused.is_err() && proxy.refused() == 1, "the proxy refuses WebSockets");

    let mut subscriber = Subscriber::new(&format!("http://{}/sse", proxy.addr))
        .unwrap()
        .with_topic(Topic::Question(q), Some(0));
    let mut seqs = Vec::new();
    let next = async |subscriber: &mut Subscriber| {
        tokio::time::timeout(WAIT, subscriber.next())
            .await
            .expect("an event within the wait")
            .expect("an event")
    };
    assert_eq!(next(&mut subscriber).await, Event::Status(Status::Connected));
    for i in 0..3 {
        app.answer(q, &format!("a{i}")).await;
    }
    while seqs.len() < 3 {
        if let Event::Message(ServerMessage::Event(EventFrame {
            seq, body: EventBody::Answer { .. }, ..
        })) = next(&mut subscriber).await
        {
            seqs.push(seq);
        }
    }
    proxy.drop_connections();
    for i in 3..5 {
        app.answer(q, &format!("a{i}")).await;
    }
    let mut reconnected = false;
    while seqs.len() < 5 {
        match next(&mut subscriber).await {
            Event::Message(ServerMessage::Event(EventFrame {
                seq, body: EventBody::Answer { .. }, ..
            })) => seqs.push(seq),
            Event::Status(Status::Connected) => reconnected = true,
            _ => {}
        }
    }
    app.answer(q, "a5").await;
    while seqs.len() < 6 {
        if let Event::Message(ServerMessage::Event(EventFrame {
            seq, body: EventBody::Answer { .. }, ..
        })) = next(&mut subscriber).await
        {
            seqs.push(seq);
        }
    }
    assert!(reconnected, "the proxy's drop was noticed");
    assert_eq!(seqs, [1, 2, 3, 4, 5, 6], "each answer once, in order");
}

/// Only `/ws` is upgraded: an event stream (or any other page) asked for with `Upgrade:
/// websocket` gets its answer if that answer is sized, and a 400 if it would stream, rather than
/// holding the connection for as long as the stream lasts.
async fn an_upgrade_elsewhere_than_ws_is_answered_or_refused(backend: Backend) {
    let app = crate::common::spawn(backend).await;
    let upgrade = |path: String| {
        reqwest::Client::new()
            .get(app.url(&path))
            .header("connection", "Upgrade")
            .header("upgrade", "websocket")
            .timeout(crate::common::WAIT)
            .send()
    };
    let res = upgrade("/sse?topics=questions".into()).await.expect("an answer, not a held stream");
    assert_eq!(res.status(), 400);
    assert_eq!(res.json::<Value>().await.unwrap()["error"]["code"], "upgrade_not_supported");
    let res = upgrade("/api/questions".into()).await.unwrap();
    assert_eq!(res.status(), 200, "a sized answer is given as it is");
}

on_both_backends!(
    an_upgrade_elsewhere_than_ws_is_answered_or_refused,
    a_quiet_topic_resumes_exactly,
    a_stream_with_nothing_to_stream_closes_after_the_idle_timeout,
    the_client_streams_through_a_proxy_that_refuses_websockets,
    every_answer_once_in_order_and_resume_by_last_event_id,
    bad_requests_are_refused_with_a_json_error,
    an_inbox_streams_to_its_owner_only,
);
