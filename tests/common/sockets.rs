//! Sockets: a WebSocket client that reads frames as raw JSON (so tests check the wire format
//! itself), the one `subscribe` (topic as argument), an event-stream (SSE) reader, and a proxy
//! that refuses WebSocket upgrades as some corporate proxies do.

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use qa_hub_client::Connection as WsConnection;
use serde_json::{Value, json};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    sync::watch,
};
use tokio_tungstenite::MaybeTlsStream;
use uuid::Uuid;

use super::{TestApp, WAIT, users};

/// Close codes the tests expect (RFC 6455 and the hub's own use of them).
pub mod close {
    pub const NORMAL: u16 = 1000;
    pub const AWAY: u16 = 1001;
    pub const POLICY: u16 = 1008;
    pub const SIZE: u16 = 1009;
    pub const AGAIN: u16 = 1013;
}

/// A WebSocket client for tests, on the client crate's one-connection API: frames are read as
/// raw JSON so that tests can check the wire format itself.
pub struct WsClient {
    pub conn: WsConnection<MaybeTlsStream<tokio::net::TcpStream>>,
}

impl WsClient {
    pub async fn connect(addr: SocketAddr) -> Self {
        Self { conn: WsConnection::connect(&format!("ws://{addr}/ws")).await.expect("ws connects") }
    }

    /// The WebSocket handshake over a socket the test opened itself (a chosen source address,
    /// a small receive buffer); `Err` carries the client's error, e.g. an HTTP 503 refusal.
    pub async fn over(addr: SocketAddr, tcp: tokio::net::TcpStream) -> Result<Self, qa_hub_client::Error> {
        let conn =
            WsConnection::handshake(&format!("ws://{addr}/ws"), MaybeTlsStream::Plain(tcp), None).await?;
        Ok(Self { conn })
    }

    pub async fn send_text(&mut self, text: &str) {
        self.conn.send_text(text).await.expect("ws send");
    }

    pub async fn send(&mut self, v: Value) {
        self.send_text(&v.to_string()).await;
    }

    /// Authenticates the connection as `token`'s user (the `auth` message).
    pub async fn auth(&mut self, token: &str) {
        self.send(json!({"type": "auth", "token": token})).await;
        assert_eq!(self.recv().await["type"], "authenticated");
    }

    /// Sends `subscribe` for `topic` (from `after_seq` when given) and returns the reply as it
    /// came: `subscribed`, or an error when the hub refuses.
    pub async fn subscribe_reply(&mut self, topic: &str, after_seq: Option<i64>) -> Value {
        let mut msg = json!({"type": "subscribe", "topic": topic});
        if let Some(seq) = after_seq {
            msg["after_seq"] = json!(seq);
        }
        self.send(msg).await;
        self.recv().await
    }

    /// Subscribes to `topic` (`questions`, `user:{id}`, or [`question_topic`]) and waits for the
    /// `subscribed` reply; returns the topic's seq at that moment. Only a question's topic
    /// carries the legacy `question_id` / `answer_count` fields.
    pub async fn subscribe(&mut self, topic: &str, after_seq: Option<i64>) -> i64 {
        let reply = self.subscribe_reply(topic, after_seq).await;
        assert_eq!(reply["type"], "subscribed", "{reply}");
        if !topic.starts_with("question:") {
            assert_eq!(reply["topic"], topic, "{reply}");
            assert!(reply.get("question_id").is_none() && reply.get("answer_count").is_none(), "{reply}");
        }
        reply["seq"].as_i64().unwrap()
    }

    /// Subscribes with the legacy `question_id` form, which the hub keeps accepting, and waits
    /// for the `subscribed` reply; returns its answer_count.
    pub async fn subscribe_legacy(&mut self, question_id: Uuid, after_seq: Option<i64>) -> i64 {
        let mut msg = json!({"type": "subscribe", "question_id": question_id});
        if let Some(seq) = after_seq {
            msg["after_seq"] = json!(seq);
        }
        self.send(msg).await;
        let reply = self.recv().await;
        assert_eq!(reply["type"], "subscribed", "subscribe reply: {reply}");
        assert_eq!(reply["question_id"], json!(question_id));
        reply["answer_count"].as_i64().unwrap()
    }

    /// The next JSON message, failing the test after [`WAIT`].
    pub async fn recv(&mut self) -> Value {
        self.recv_within(WAIT).await.expect("a message within the wait")
    }

    /// The next JSON message, or None when `wait` passes first.
    pub async fn recv_within(&mut self, wait: Duration) -> Option<Value> {
        let text = tokio::time::timeout(wait, self.conn.recv_text()).await.ok()?;
        match text {
            Ok(text) => Some(serde_json::from_str(&text).expect("JSON frame")),
            Err(other) => panic!("expected a text frame, got {other}"),
        }
    }

    /// Reads until the server closes; returns the close code and the text frames before it.
    pub async fn until_close(&mut self) -> (Option<u16>, Vec<Value>) {
        let mut seen = Vec::new();
        loop {
            let frame =
                tokio::time::timeout(WAIT, self.conn.recv_text()).await.expect("close within the wait");
            match frame {
                Ok(text) => seen.push(serde_json::from_str(&text).unwrap()),
                Err(qa_hub_client::Error::Closed(close)) => return (close.map(|c| c.code), seen),
                Err(_) => return (None, seen),
            }
        }
    }

    /// Receives `n` answer notifications and returns their (question_id, seq) pairs.
    pub async fn answers(&mut self, n: usize) -> Vec<(Uuid, i64)> {
        let mut got = Vec::with_capacity(n);
        while got.len() < n {
            let msg = self.recv().await;
            assert_eq!(msg["type"], "answer", "expected an answer, got {msg}");
            got.push((
                Uuid::parse_str(msg["question_id"].as_str().unwrap()).unwrap(),
                msg["answer"]["seq"].as_i64().unwrap(),
            ));
        }
        got
    }
}

/// A question's topic, `question:{id}`.
pub fn question_topic(q: Uuid) -> String {
    format!("question:{q}")
}

/// The next `n` events of the socket (each checked to be the next seq after `last`).
pub async fn events(ws: &mut WsClient, last: &mut i64, n: usize) -> Vec<Value> {
    let mut got = Vec::with_capacity(n);
    while got.len() < n {
        let msg = ws.recv().await;
        let seq = msg["seq"].as_i64().unwrap_or_else(|| panic!("an event: {msg}"));
        assert_eq!(seq, *last + 1, "contiguous seqs: {msg}");
        *last = seq;
        got.push(msg);
    }
    got
}

/// A socket authenticated as `token`'s user, subscribed to their inbox after `after_seq`;
/// returns it and the topic's seq at subscription. The events after `after_seq` follow.
pub async fn inbox_socket(app: &TestApp, token: &str, after_seq: i64) -> (WsClient, i64) {
    let id = users::me(app, token).await;
    let mut ws = app.ws_as(token).await;
    let seq = ws.subscribe(&format!("user:{id}"), Some(after_seq)).await;
    (ws, seq)
}

/// An event-stream reader over a plain HTTP response.
pub struct SseClient {
    pub res: reqwest::Response,
    buf: String,
}

impl SseClient {
    pub async fn open(app: &TestApp, topics: &str, last_id: Option<&str>, token: Option<&str>) -> Self {
        let mut req = app.http.get(app.url(&format!("/sse?topics={topics}")));
        if let Some(id) = last_id {
            req = req.header("Last-Event-ID", id);
        }
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        Self::open_request(req).await
    }

    /// Opens the stream `req` asks for (a page's cookie, say).
    pub async fn open_request(req: reqwest::RequestBuilder) -> Self {
        // The test client's overall timeout would cut a stream off; this one has none.
        let res = req.timeout(std::time::Duration::from_secs(3600)).send().await.unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers()["content-type"], "text/event-stream");
        Self { res, buf: String::new() }
    }

    /// The next message (skipping comments and `retry:`): its `id:`, if any, and its data.
    pub async fn next(&mut self) -> (Option<String>, Value) {
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                let (mut id, mut data) = (None, None);
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("id: ") {
                        id = Some(v.to_owned());
                    } else if let Some(v) = line.strip_prefix("data: ") {
                        data = Some(serde_json::from_str(v).expect("JSON data"));
                    }
                }
                if let Some(data) = data {
                    return (id, data);
                }
                continue;
            }
            let chunk =
                tokio::time::timeout(WAIT, self.res.chunk()).await.expect("a message within the wait");
            let chunk = chunk.expect("the stream is readable").expect("the stream is open");
            self.buf.push_str(std::str::from_utf8(&chunk).unwrap());
        }
    }

    /// The next `n` events, each checked to carry an id.
    pub async fn events(&mut self, n: usize) -> Vec<(String, Value)> {
        let mut got = Vec::new();
        while got.len() < n {
            let (id, data) = self.next().await;
            got.push((id.unwrap_or_else(|| panic!("an event with an id: {data}")), data));
        }
        got
    }
}

/// A reverse proxy on 127.0.0.1 that passes plain HTTP through and answers every WebSocket
/// upgrade with 502, as some corporate proxies do. It checks the first request of each
/// connection only: browsers open a WebSocket on a connection of its own.
pub struct NoUpgradeProxy {
    pub addr: SocketAddr,
    cut: watch::Sender<u64>,
    refused: Arc<AtomicUsize>,
}

impl NoUpgradeProxy {
    pub async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (cut, cuts) = watch::channel(0u64);
        let refused = Arc::new(AtomicUsize::new(0));
        let counter = refused.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                tokio::spawn(relay(client, upstream, cuts.clone(), counter.clone()));
            }
        });
        Self { addr, cut, refused }
    }

    /// Drops every connection open through the proxy now, as a proxy restart would.
    pub fn drop_connections(&self) {
        self.cut.send_modify(|generation| *generation += 1);
    }

    /// WebSocket upgrades refused so far.
    pub fn refused(&self) -> usize {
        self.refused.load(Ordering::SeqCst)
    }
}

async fn relay(
    mut client: TcpStream,
    upstream: SocketAddr,
    mut cut: watch::Receiver<u64>,
    refused: Arc<AtomicUsize>,
) {
    cut.mark_unchanged();
    let mut head = Vec::new();
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let mut buf = [0u8; 4096];
        match client.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    if String::from_utf8_lossy(&head).to_ascii_lowercase().contains("upgrade: websocket") {
        refused.fetch_add(1, Ordering::SeqCst);
        let _ = client
            .write_all(b"HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
            .await;
        return;
    }
    let Ok(mut server) = TcpStream::connect(upstream).await else { return };
    if server.write_all(&head).await.is_err() {
        return;
    }
    tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
        _ = cut.changed() => {}
    }
}
