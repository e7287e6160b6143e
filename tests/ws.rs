//! The WebSocket hub: fan-out, subscriptions, resume with after_seq, slow consumers, and bad
//! frames. Absence of a message is checked by order, not by waiting: if a client should not
//! have heard X, the next thing it hears after a later event Y must be Y.

use crate::common::{Backend, TestApp, WAIT, WsClient, close, eventually, spawn, spawn_with};
use futures_util::{SinkExt, future::join_all};
use serde_json::json;
use tokio_tungstenite::tungstenite::{
    Message,
    protocol::frame::{
        Frame,
        coding::{Data, OpCode},
    },
};

async fn fan_out_reaches_every_subscriber_once(backend: Backend) {
    let app = spawn(backend).await;
    let (q1, q2) = (app.question().await, app.question().await);
    let mut watchers = join_all((0..500).map(|_| async {
        let mut ws = app.ws().await;
        ws.subscribe_legacy(q1, None).await;
        ws
    }))
    .await;
    let mut others = join_all((0..20).map(|_| async {
        let mut ws = app.ws().await;
        ws.subscribe_legacy(q2, None).await;
        ws
    }))
    .await;

    app.answer(q1, "for the many").await;
    join_all(watchers.iter_mut().map(|ws| async move { assert_eq!(ws.answers(1).await, vec![(q1, 1)]) }))
        .await;

    // Exactly once: had anyone received a second copy, it would come before this answer.
    app.answer(q1, "second").await;
    join_all(watchers.iter_mut().map(|ws| async move { assert_eq!(ws.answers(1).await, vec![(q1, 2)]) }))
        .await;
    // The other question's subscribers heard nothing of q1: their first message is q2's.
    app.answer(q2, "for the few").await;
    join_all(others.iter_mut().map(|ws| async move { assert_eq!(ws.answers(1).await, vec![(q2, 1)]) })).await;
}

async fn one_connection_many_subscriptions_and_unsubscribe(backend: Backend) {
    let app = spawn(backend).await;
    let qs = [app.question().await, app.question().await, app.question().await];
    let mut ws = app.ws().await;
    for q in qs {
        assert_eq!(ws.subscribe_legacy(q, None).await, 0);
    }
    for q in qs {
        app.answer(q, "hello").await;
        assert_eq!(ws.answers(1).await, vec![(q, 1)]);
    }

    ws.send(json!({"type": "unsubscribe", "question_id": qs[0]})).await;
    let reply = ws.recv().await;
    assert_eq!(reply["type"], "unsubscribed");
    assert_eq!(reply["question_id"], json!(qs[0]));
    app.answer(qs[0], "unheard").await;
    app.answer(qs[1], "heard").await;
    assert_eq!(ws.answers(1).await, vec![(qs[1], 2)]);

    ws.send(json!({"type": "unsubscribe", "question_id": qs[0]})).await;
    let reply = ws.recv().await;
    assert_eq!((reply["type"].as_str(), reply["code"].as_str()), (Some("error"), Some("not_subscribed")));
}

/// Answers 1..=20 exist; a client subscribes with after_seq=5 while 21..=40 are being posted.
/// It must see 6..=40, each once, in order.
async fn resume_with_after_seq_during_posts(backend: Backend) {
    let app = spawn(backend).await;
    let q = app.question().await;
    for i in 1..=20 {
        app.answer(q, &format!("old {i}")).await;
    }
    let poster = {
        let (http, url) = (app.http.clone(), app.url(&format!("/api/questions/{q}/answers")));
        tokio::spawn(async move {
            for i in 21..=40 {
                let res =
                    http.post(&url).json(&json!({"body": format!("new {i}"), "author": "p"})).send().await;
                assert_eq!(res.unwrap().status(), 201);
            }
        })
    };
    let mut ws = app.ws().await;
    let count = ws.subscribe_legacy(q, Some(5)).await;
    assert!((20..=40).contains(&count), "answer_count {count}");
    let got = ws.answers(35).await;
    assert_eq!(got.iter().map(|(_, seq)| *seq).collect::<Vec<_>>(), (6..=40).collect::<Vec<_>>());
    poster.await.unwrap();
    // No duplicate is still on its way: the next message is the next answer.
    app.answer(q, "41").await;
    assert_eq!(ws.answers(1).await, vec![(q, 41)]);
}

/// after_seq beyond the last answer resumes from the last answer; after_seq=0 replays all.
async fn after_seq_edges(backend: Backend) {
    let app = spawn(backend).await;
    let q = app.question().await;
    for i in 1..=3 {
        app.answer(q, &format!("{i}")).await;
    }
    let mut all = app.ws().await;
    assert_eq!(all.subscribe_legacy(q, Some(0)).await, 3);
    assert_eq!(all.answers(3).await, vec![(q, 1), (q, 2), (q, 3)]);
    let mut ahead = app.ws().await;
    assert_eq!(ahead.subscribe_legacy(q, Some(99)).await, 3);
    app.answer(q, "4").await;
    assert_eq!(ahead.answers(1).await, vec![(q, 4)]);
    assert_eq!(all.answers(1).await, vec![(q, 4)]);
}

/// A client that never reads is closed with 1013 once its queue is full, and the others get
/// every answer meanwhile.
async fn slow_consumer_is_closed_without_delaying_others(backend: Backend) {
    let app = spawn_with(backend, |c| c.realtime.outbound_queue = 4).await;
    let q = app.question().await;
    let mut fast = app.ws().await;
    fast.subscribe_legacy(q, None).await;
    let mut slow = slow_client(&app).await;
    slow.subscribe_legacy(q, None).await;

    // Big answers fill the socket buffers quickly; post until the hub gives up on `slow`.
    let body = "x".repeat(20_000);
    let mut posted = 0;
    while app.metric("qa_hub_queue_overflows_total").await == 0.0 {
        assert!(posted < 5_000, "the slow client never overflowed");
        posted += 1;
        app.answer(q, &body).await;
        // The fast client keeps up the whole time.
        assert_eq!(fast.answers(1).await, vec![(q, posted)]);
    }
    for _ in 0..5 {
        posted += 1;
        app.answer(q, &body).await;
        assert_eq!(fast.answers(1).await, vec![(q, posted)]);
    }

    let (code, frames) = slow.until_close().await;
    assert_eq!(code, Some(close::AGAIN), "closed with 1013");
    // What it did get was a gap-free prefix.
    let seqs: Vec<i64> = frames.iter().map(|f| f["answer"]["seq"].as_i64().unwrap()).collect();
    assert_eq!(seqs, (1..=seqs.len() as i64).collect::<Vec<_>>());
    assert!((seqs.len() as i64) < posted);
}

/// A client whose socket has a tiny receive buffer, so it stops taking data quickly.
async fn slow_client(app: &TestApp) -> WsClient {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let tcp = socket.connect(app.addr).await.unwrap();
    WsClient::over(app.addr, tcp).await.unwrap()
}

/// Each bad frame gets an error message, and the connection keeps working.
async fn bad_frames_get_errors_and_the_connection_stays(backend: Backend) {
    let app = spawn_with(backend, |c| c.realtime.max_subscriptions = 2).await;
    let (q, q2, q3) = (app.question().await, app.question().await, app.question().await);
    let missing = uuid::Uuid::now_v7();
    let mut ws = app.ws().await;
    let cases = [
        ("not json".to_owned(), "invalid_json"),
        ("[]".to_owned(), "invalid_message"),
        (json!({"question_id": q}).to_string(), "invalid_message"),
        (json!({"type": "shout", "question_id": q}).to_string(), "unknown_type"),
        (json!({"type": "subscribe", "question_id": "abc"}).to_string(), "invalid_question_id"),
        (json!({"type": "subscribe"}).to_string(), "invalid_question_id"),
        (json!({"type": "subscribe", "question_id": q, "after_seq": -3}).to_string(), "invalid_after_seq"),
        (json!({"type": "subscribe", "question_id": q, "after_seq": "1"}).to_string(), "invalid_after_seq"),
        (json!({"type": "subscribe", "question_id": missing}).to_string(), "question_not_found"),
        (json!({"type": "unsubscribe", "question_id": q}).to_string(), "not_subscribed"),
    ];
    for (frame, code) in &cases {
        ws.send_text(frame).await;
        let reply = ws.recv().await;
        assert_eq!(reply["type"], "error", "{frame}");
        assert_eq!(reply["code"], *code, "{frame}");
        assert!(reply["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    ws.conn.get_mut().send(Message::binary(vec![1, 2, 3])).await.unwrap();
    assert_eq!(ws.recv().await["code"], "unsupported_frame");

    // The unknown question's error names it.
    ws.send(json!({"type": "subscribe", "question_id": missing})).await;
    assert_eq!(ws.recv().await["question_id"], json!(missing));

    ws.subscribe_legacy(q, None).await;
    ws.send(json!({"type": "subscribe", "question_id": q})).await;
    assert_eq!(ws.recv().await["code"], "already_subscribed");
    ws.subscribe_legacy(q2, None).await;
    ws.send(json!({"type": "subscribe", "question_id": q3})).await;
    let reply = ws.recv().await;
    assert_eq!(
        (reply["code"].as_str(), reply["question_id"].clone()),
        (Some("too_many_subscriptions"), json!(q3))
    );

    // Still usable after all that.
    app.answer(q, "still here").await;
    assert_eq!(ws.answers(1).await, vec![(q, 1)]);
}

/// A frame over the size cap closes the connection with 1009.
async fn oversized_frame_closes_with_1009(backend: Backend) {
    let app = spawn(backend).await;
    let mut ws = app.ws().await;
    let frame = json!({"type": "subscribe", "question_id": "x".repeat(70 * 1024)}).to_string();
    ws.send_text(&frame).await;
    let (code, _) = ws.until_close().await;
    assert_eq!(code, Some(close::SIZE));
}

/// A message sent in fragments counts whole against the frame cap: fragments each under
/// `--max-frame-bytes` that add up to more close the connection with 1009, as one frame over
/// it does; a fragmented message under the cap is read as one message.
async fn a_fragmented_message_over_the_cap_closes_with_1009(backend: Backend) {
    let app = spawn_with(backend, |c| c.realtime.max_frame_bytes = 1024).await;
    let q = app.question().await;
    let mut ws = app.ws().await;
    let small = json!({"type": "subscribe", "question_id": q}).to_string();
    send_fragments(&mut ws, small.as_bytes(), 3).await;
    let reply = ws.recv().await;
    assert_eq!(reply["type"], "subscribed", "{reply}");

    // Three fragments of 500 bytes: the third takes the message past 1,024.
    let big = json!({"type": "subscribe", "question_id": "x".repeat(1500 - 40)}).to_string();
    assert!(big.len() > 1024 && big.len() / 3 < 1024);
    send_fragments(&mut ws, big.as_bytes(), 3).await;
    let (code, _) = ws.until_close().await;
    assert_eq!(code, Some(close::SIZE));
}

/// Sends `message` as a text frame and continuation frames, `parts` frames in all.
async fn send_fragments(ws: &mut WsClient, message: &[u8], parts: usize) {
    let chunks: Vec<&[u8]> = message.chunks(message.len().div_ceil(parts)).collect();
    for (i, chunk) in chunks.iter().enumerate() {
        let opcode = if i == 0 { Data::Text } else { Data::Continue };
        let frame = Frame::message(chunk.to_vec(), OpCode::Data(opcode), i == chunks.len() - 1);
        ws.conn.get_mut().send(Message::Frame(frame)).await.expect("fragment sent");
    }
}

/// Stopping the server closes sockets with 1001, and the subscription is released.
async fn shutdown_closes_with_1001(backend: Backend) {
    let app = spawn(backend).await;
    let q = app.question().await;
    let mut ws = app.ws().await;
    ws.subscribe_legacy(q, None).await;
    assert_eq!(app.metric("qa_hub_subscriptions").await, 1.0);
    let stopping = tokio::spawn({
        let stopper = app.stopper.clone();
        async move { stopper.stop().await }
    });
    let (code, _) = ws.until_close().await;
    assert_eq!(code, Some(close::AWAY));
    assert_eq!(stopping.await.unwrap(), 0, "the connection finished within the grace period");
}

/// A peer that stops answering pings is dropped, and its subscriptions with it.
/// A storm of requests on one connection: past the burst they are refused with `rate_limited`
/// (unread, so no database work), the connection stays up, and once the bucket refills
/// requests work again.
async fn request_storms_are_rate_limited(backend: Backend) {
    let app = spawn_with(backend, |c| c.realtime.ws_requests_per_second = 5).await;
    let q = app.question().await;
    let mut ws = app.ws().await;
    for _ in 0..20 {
        ws.send(json!({"type": "unsubscribe", "question_id": q})).await;
    }
    let mut codes = Vec::new();
    for _ in 0..20 {
        let reply = ws.recv().await;
        assert_eq!(reply["type"], "error", "{reply}");
        codes.push(reply["code"].as_str().unwrap().to_owned());
    }
    assert!(codes[..5].iter().all(|c| c == "not_subscribed"), "the burst is served: {codes:?}");
    assert!(codes.iter().any(|c| c == "rate_limited"), "the storm is not: {codes:?}");
    assert!(codes.iter().all(|c| c == "not_subscribed" || c == "rate_limited"), "{codes:?}");

    // Still connected: retry until the bucket has a token again (the state we wait for is
    // the subscription itself).
    let deadline = tokio::time::Instant::now() + crate::common::WAIT;
    loop {
        ws.send(json!({"type": "subscribe", "question_id": q})).await;
        let reply = ws.recv().await;
        if reply["type"] == "subscribed" {
            break;
        }
        assert_eq!(reply["code"], "rate_limited", "{reply}");
        assert!(tokio::time::Instant::now() < deadline, "never subscribed");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    app.answer(q, "still here").await;
    assert_eq!(ws.answers(1).await, vec![(q, 1)]);
}

/// Opens a WebSocket whose upgrade carries `origin`; Err holds the refusal's status and body.
async fn upgrade_from(
    app: &TestApp,
    origin: Option<&str>,
) -> Result<tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>, (u16, serde_json::Value)> {
    use tokio_tungstenite::tungstenite::{Error, client::IntoClientRequest};
    let mut request = format!("ws://{}/ws", app.addr).into_client_request().unwrap();
    if let Some(origin) = origin {
        request.headers_mut().insert("origin", origin.parse().unwrap());
    }
    let tcp = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    match tokio_tungstenite::client_async(request, tcp).await {
        Ok((ws, _)) => Ok(ws),
        Err(Error::Http(res)) => Err((
            res.status().as_u16(),
            serde_json::from_slice(res.body().as_deref().unwrap_or_default()).unwrap_or_default(),
        )),
        Err(e) => panic!("handshake failed: {e}"),
    }
}

/// A page from another site gets 403 before the upgrade (no place taken); the hub's own
/// pages and clients that send no Origin are let in; `--allowed-origins` adds sites, `*` all.
async fn foreign_origins_are_refused_before_the_upgrade(backend: Backend) {
    let app = spawn(backend).await;
    let own = format!("http://{}", app.addr);
    let _plain = upgrade_from(&app, None).await.expect("no Origin: not a browser");
    let _own = upgrade_from(&app, Some(&own)).await.expect("our own pages");
    let (status, body) = upgrade_from(&app, Some("http://evil.example")).await.expect_err("refused");
    assert_eq!((status, body["error"]["code"].as_str()), (403, Some("forbidden_origin")), "{body}");
    assert_eq!(upgrade_from(&app, Some("null")).await.err().map(|e| e.0), Some(403), "sandboxed pages");
    eventually("only the two allowed sockets to be counted", WAIT, || async {
        app.metric("qa_hub_ws_connections").await == 2.0
    })
    .await;
    app.stop().await;

    let app =
        spawn_with(backend, |c| c.server.allowed_origins = "https://site.example".parse().unwrap()).await;
    assert!(upgrade_from(&app, Some("https://site.example")).await.is_ok());
    assert_eq!(upgrade_from(&app, Some("http://site.example")).await.err().map(|e| e.0), Some(403));
    app.stop().await;
    let app = spawn_with(backend, |c| c.server.allowed_origins = "*".parse().unwrap()).await;
    assert!(upgrade_from(&app, Some("http://evil.example")).await.is_ok(), "any, when configured so");
}

async fn silent_peer_is_dropped(backend: Backend) {
    let app = spawn_with(backend, |c| c.realtime.ping_interval_secs = 1).await;
    let q = app.question().await;
    // Not polling the client means it never answers the server's pings.
    let mut silent = app.ws().await;
    silent.subscribe_legacy(q, None).await;
    assert_eq!(app.metric("qa_hub_subscriptions").await, 1.0);
    eventually("the silent peer is dropped", WAIT, || async {
        app.metric("qa_hub_subscriptions").await == 0.0
    })
    .await;
    let (code, _) = silent.until_close().await;
    assert_eq!(code, Some(close::POLICY));
}

on_both_backends!(
    request_storms_are_rate_limited,
    foreign_origins_are_refused_before_the_upgrade,
    silent_peer_is_dropped,
    fan_out_reaches_every_subscriber_once,
    one_connection_many_subscriptions_and_unsubscribe,
    resume_with_after_seq_during_posts,
    after_seq_edges,
    slow_consumer_is_closed_without_delaying_others,
    bad_frames_get_errors_and_the_connection_stays,
    oversized_frame_closes_with_1009,
    a_fragmented_message_over_the_cap_closes_with_1009,
    shutdown_closes_with_1001,
);
