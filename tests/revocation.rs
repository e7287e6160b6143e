//! A connection's private subscriptions rest on a live credential: a private subscribe checks
//! the credential against the store again, and revoking a service token, logging out or a
//! host-signed token reaching its `exp` ends a socket's or an event stream's inbox
//! subscriptions (an `error` with a code, then `unsubscribed`) on every node, while the
//! connection stays for public topics.

use futures_util::{SinkExt, StreamExt};
use reqwest::Method;
use serde_json::{Value, json};
use tokio_tungstenite::{
    MaybeTlsStream, WebSocketStream,
    tungstenite::{Message, client::IntoClientRequest},
};
use uuid::Uuid;

use crate::common::{
    Backend, ISSUER, SECRET, SseClient, TestApp, WAIT, csrf_of, jwt, log_in, now, session_of, spawn_with,
    start_on, user_with_token,
};

/// One node, or on Postgres two on one database (what one node commits reaches the other's
/// sockets through the broker).
async fn nodes(backend: Backend, tweak: fn(&mut qa_hub::Config)) -> (TestApp, Option<TestApp>) {
    let first = spawn_with(backend, |config| {
        config.identity.anonymous_writes = false;
        tweak(config);
    })
    .await;
    let second = match backend {
        Backend::Sqlite => None,
        Backend::Postgres => Some(
            start_on(first.db.shared(), |config| {
                config.identity.anonymous_writes = false;
                tweak(config);
            })
            .await,
        ),
    };
    (first, second)
}

/// A question by `asker` with one answer by `answerer`, so the asker's inbox holds an entry
/// (its title in it); returns the question.
async fn answered(app: &TestApp, asker: &str, answerer: &str, title: &str) -> Uuid {
    let q = app.ask_as(asker, title, "b").await;
    app.answer_as(answerer, q, "a").await;
    q
}

/// A new service token of the user behind `token`: (token, id).
async fn new_token(app: &TestApp, token: &str, name: &str) -> (String, String) {
    let (status, created) = app.send(Method::POST, "/api/tokens", Some(token), json!({"name": name})).await;
    assert_eq!(status, 201, "{created}");
    (created["token"].as_str().unwrap().to_owned(), created["id"].as_str().unwrap().to_owned())
}

/// (type, code) of a message, for comparing with what is expected.
fn kind(m: &Value) -> (String, String) {
    let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    (text(&m["type"]), text(&m["code"]))
}

/// What a connection resting on a revoked credential is told: the `revoked` event itself (at
/// `seq`), then why its inbox ended and the `unsubscribed` with that seq.
fn assert_ended(messages: &[Value], topic: &str, seq: i64, code: &str) {
    assert_eq!(messages.len(), 3, "{messages:?}");
    assert_eq!((messages[0]["type"].as_str(), messages[0]["seq"].as_i64()), (Some("revoked"), Some(seq)));
    assert_eq!(kind(&messages[1]), ("error".into(), code.into()), "{}", messages[1]);
    assert_eq!(messages[1]["topic"], topic);
    assert_eq!(messages[2], json!({"type": "unsubscribed", "topic": topic, "seq": seq}));
}

async fn revoking_a_token_ends_its_inbox_subscriptions_on_every_node(backend: Backend) {
    let (first, second) = nodes(backend, |_| {}).await;
    let other = second.as_ref().unwrap_or(&first);
    let (ann, admin) = user_with_token(&first, "ann").await;
    let (_, bob) = user_with_token(&first, "bob").await;
    let q = answered(&first, &admin, &bob, "Revocation").await;
    let inbox = format!("user:{ann}");
    let (token, token_id) = new_token(&first, &admin, "socket").await;

    // One socket on the token to be revoked, one on another token of ann's: both on the node
    // that does not revoke.
    let mut doomed = other.ws_as(&token).await;
    let mut kept = other.ws_as(&admin).await;
    for ws in [&mut doomed, &mut kept] {
        assert_eq!(ws.subscribe_reply(&inbox, Some(0)).await["type"], "subscribed");
        assert_eq!(ws.recv().await["type"], "inbox", "the entry, replayed");
        assert_eq!(ws.subscribe_reply(&format!("question:{q}"), Some(1)).await["type"], "subscribed");
    }

    let res =
        first.http.delete(first.url(&format!("/api/tokens/{token_id}"))).bearer_auth(&admin).send().await;
    assert_eq!(res.unwrap().status(), 204);
    let mut told = Vec::new();
    for _ in 0..3 {
        told.push(doomed.recv().await);
    }
    assert_ended(&told, &inbox, 2, "credential_revoked");
    // The other credential's socket sees the event and keeps its inbox.
    assert_eq!(kind(&kept.recv().await), ("revoked".into(), String::new()));

    // The socket stays for public topics; its inbox does not come back on the old token.
    first.answer_as(&bob, q, "a").await;
    let (public, private) = (doomed.recv().await, kept.recv().await);
    assert_eq!(
        (public["type"].as_str(), public["topic"].as_str()),
        (Some("answer"), Some(&*format!("question:{q}")))
    );
    assert_eq!(kind(&private), ("answer".into(), String::new()), "{private}");
    let inbox_event = kept.recv().await;
    assert_eq!((inbox_event["type"].as_str(), inbox_event["seq"].as_i64()), (Some("inbox"), Some(3)));
    let refused = doomed.subscribe_reply(&inbox, Some(2)).await;
    assert_eq!(kind(&refused), ("error".into(), "credential_revoked".into()), "{refused}");
    // Nothing else arrived on it meanwhile: the next message is the reply to this request.
    doomed.send(json!({"type": "unsubscribe", "topic": inbox})).await;
    assert_eq!(kind(&doomed.recv().await), ("error".into(), "not_subscribed".into()));
    // Revoking it again changes nothing and announces nothing.
    let res =
        first.http.delete(first.url(&format!("/api/tokens/{token_id}"))).bearer_auth(&admin).send().await;
    assert_eq!(res.unwrap().status(), 204);
    assert_eq!(first.db.count("SELECT count(*) FROM events WHERE kind = 'revoked'").await, 1);
    if let Some(second) = second {
        second.stop().await;
    }
}

/// The issue's reproduction: a socket that authenticated before its token was revoked, and
/// only then subscribes to its inbox from seq 0, is refused and gets no replay.
async fn a_private_subscribe_checks_the_credential_again(backend: Backend) {
    let (first, second) = nodes(backend, |_| {}).await;
    let other = second.as_ref().unwrap_or(&first);
    let (ann, admin) = user_with_token(&first, "ann").await;
    let (_, bob) = user_with_token(&first, "bob").await;
    answered(&first, &admin, &bob, "Checked again").await;
    let (token, token_id) = new_token(&first, &admin, "socket").await;
    let mut ws = other.ws_as(&token).await;
    let res =
        first.http.delete(first.url(&format!("/api/tokens/{token_id}"))).bearer_auth(&admin).send().await;
    assert_eq!(res.unwrap().status(), 204);
    let res = other.http.get(other.url("/api/me")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(res.status(), 401);

    let refused = ws.subscribe_reply(&format!("user:{ann}"), Some(0)).await;
    assert_eq!(kind(&refused), ("error".into(), "credential_revoked".into()), "{refused}");
    // Still up, and anonymous: a public topic works, the inbox stays refused.
    assert_eq!(ws.subscribe_reply("questions", Some(0)).await["type"], "subscribed");
    assert_eq!(ws.recv().await["type"], "question", "the list's replay");
    let refused = ws.subscribe_reply(&format!("user:{ann}"), Some(0)).await;
    assert_eq!(kind(&refused), ("error".into(), "forbidden".into()), "{refused}");
    if let Some(second) = second {
        second.stop().await;
    }
}

/// A WebSocket opened by a page: the session cookie is its identity.
async fn page_socket(app: &TestApp, cookie: &str) -> WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>> {
    let mut request = format!("ws://{}/ws", app.addr).into_client_request().unwrap();
    request.headers_mut().insert("cookie", cookie.parse().unwrap());
    let (ws, _) = tokio_tungstenite::connect_async(request).await.expect("the socket opens");
    ws
}

async fn next_json(ws: &mut WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>) -> Value {
    loop {
        let frame = tokio::time::timeout(WAIT, ws.next()).await.expect("a message within the wait");
        match frame.expect("the socket is open").expect("a frame") {
            Message::Text(text) => return serde_json::from_str(&text).unwrap(),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("expected a text frame, got {other:?}"),
        }
    }
}

async fn logging_out_ends_the_pages_inbox_socket_and_stream(backend: Backend) {
    let (first, second) = nodes(backend, |_| {}).await;
    let other = second.as_ref().unwrap_or(&first);
    let (ann, admin) = user_with_token(&first, "ann").await;
    let (_, bob) = user_with_token(&first, "bob").await;
    let q = answered(&first, &admin, &bob, "Logged out").await;
    let inbox = format!("user:{ann}");
    let cookie = session_of(&log_in(&first, "ann", "correct horse").await);

    let mut ws = page_socket(other, &cookie).await;
    ws.send(Message::text(json!({"type": "subscribe", "topic": inbox, "after_seq": 1}).to_string()))
        .await
        .unwrap();
    assert_eq!(next_json(&mut ws).await["type"], "subscribed");
    let topics = format!("{inbox},question:{q}");
    let request = other
        .http
        .get(other.url(&format!("/sse?topics={topics}&last_event_id={inbox}=1,question:{q}=1")))
        .header("cookie", &cookie);
    let mut stream = SseClient::open_request(request).await;
    for _ in 0..2 {
        assert_eq!(stream.next().await.1["type"], "subscribed");
    }

    let csrf = csrf_of(&first, &cookie).await;
    let res = first
        .http
        .post(first.url("/logout"))
        .header("cookie", &cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("csrf={csrf}"))
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success() || res.status().is_redirection(), "{}", res.status());

    let mut told = Vec::new();
    for _ in 0..3 {
        told.push(next_json(&mut ws).await);
    }
    assert_ended(&told, &inbox, 2, "credential_revoked");
    let mut told = Vec::new();
    for _ in 0..3 {
        told.push(stream.next().await.1);
    }
    assert_ended(&told, &inbox, 2, "credential_revoked");
    // The stream goes on with its public topic.
    first.answer_as(&bob, q, "a").await;
    let (_, next) = stream.next().await;
    assert_eq!((next["type"].as_str(), next["seq"].as_i64()), (Some("answer"), Some(2)), "{next}");
    if let Some(second) = second {
        second.stop().await;
    }
}

async fn an_expired_host_token_ends_the_inbox(backend: Backend) {
    let (app, second) = nodes(backend, |config| {
        config.identity.jwt_secret = Some(SECRET.into());
        config.identity.jwt_issuer = Some(ISSUER.into());
        // Expiry is noticed on the ping tick.
        config.realtime.ping_interval_secs = 1;
    })
    .await;
    let long = jwt(json!({"iss": ISSUER, "sub": "ann", "name": "ann", "exp": now() + 600}), SECRET);
    let short = jwt(json!({"iss": ISSUER, "sub": "ann", "name": "ann", "exp": now() + 2}), SECRET);
    let (status, me) = app.send(Method::GET, "/api/me", Some(&long), Value::Null).await;
    assert_eq!(status, 200);
    let inbox = format!("user:{}", me["id"].as_str().unwrap());
    let mut ws = app.ws_as(&short).await;
    assert_eq!(ws.subscribe_reply(&inbox, Some(0)).await["type"], "subscribed");
    assert_eq!(ws.subscribe_reply("questions", Some(0)).await["type"], "subscribed");
    // Answer the pings meanwhile (the client does), and wait for the end of the inbox.
    let ended = ws.recv().await;
    assert_eq!(kind(&ended), ("error".into(), "credential_expired".into()), "{ended}");
    assert_eq!(ws.recv().await, json!({"type": "unsubscribed", "topic": inbox, "seq": 0}));
    // A fresh token resumes it.
    ws.auth(&long).await;
    assert_eq!(ws.subscribe_reply(&inbox, Some(0)).await["type"], "subscribed");
    if let Some(second) = second {
        second.stop().await;
    }
}

on_both_backends!(
    revoking_a_token_ends_its_inbox_subscriptions_on_every_node,
    a_private_subscribe_checks_the_credential_again,
    logging_out_ends_the_pages_inbox_socket_and_stream,
    an_expired_host_token_ends_the_inbox,
);
