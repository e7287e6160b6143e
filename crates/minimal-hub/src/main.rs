//! qa-hub-minimal: the least a hub can do, as a yardstick for qa-hub's fan-out (issue 13).
//!
//! It speaks the part of qa-hub's protocol the load tool uses — `POST /api/questions`,
//! `POST /api/questions/{id}/answers`, `GET /ws` with `subscribe` — and nothing else: no
//! database (questions and answers live in memory), no identity, no resume, no limits. Each
//! answer is encoded once into a complete WebSocket text frame and the same bytes are handed to
//! every subscriber's queue; each connection's task writes them raw to its socket. The
//! upgrade is hyper's, the framing is written out here.
//!
//! `qa-hub-minimal --bind 127.0.0.1:8091`, then drive it with `qa-hub-bench` as a hub run with
//! `--anonymous-writes` (bench/side-by-side.sh does both).

use std::{
    collections::HashMap,
    convert::Infallible,
    net::SocketAddr,
    sync::{Arc, Mutex},
};

use base64::Engine;
use bytes::{BufMut, Bytes, BytesMut};
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request, Response, StatusCode, body::Incoming, header, service::service_fn};
use hyper_util::rt::TokioIo;
use qa_hub_protocol::{Answer, ClientMessage, ServerMessage, Topic};
use serde::Deserialize;
use sha1::{Digest, Sha1};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpListener,
    sync::mpsc,
};
use uuid::Uuid;

/// Frames queued per connection before it counts as too slow and is dropped.
const QUEUE: usize = 1024;

#[derive(Default)]
struct Question {
    answers: i64,
    subscribers: Vec<mpsc::Sender<Bytes>>,
}

#[derive(Default)]
struct Hub {
    questions: Mutex<HashMap<Uuid, Question>>,
}

#[derive(Deserialize)]
struct NewPost {
    #[serde(default)]
    title: String,
    body: String,
    #[serde(default)]
    author: String,
}

fn json(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(body)))
        .expect("a valid response")
}

/// A complete unmasked WebSocket frame (FIN set) with `opcode` and `payload`.
fn frame(opcode: u8, payload: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(payload.len() + 10);
    out.put_u8(0x80 | opcode);
    match payload.len() {
        n if n < 126 => out.put_u8(n as u8),
        n if n <= 0xffff => {
            out.put_u8(126);
            out.put_u16(n as u16);
        }
        n => {
            out.put_u8(127);
            out.put_u64(n as u64);
        }
    }
    out.put_slice(payload);
    out.freeze()
}

async fn handle(hub: Arc<Hub>, req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let path: Vec<String> = req.uri().path().trim_matches('/').split('/').map(str::to_owned).collect();
    let path: Vec<&str> = path.iter().map(String::as_str).collect();
    Ok(match (req.method(), path.as_slice()) {
        (&Method::GET, ["ws"]) => upgrade(hub, req),
        (&Method::POST, ["api", "questions"]) => {
            let Some(post) = read_post(req).await else {
                return Ok(json(StatusCode::BAD_REQUEST, "{}".into()));
            };
            let id = Uuid::now_v7();
            hub.questions.lock().unwrap().insert(id, Question::default());
            let question = serde_json::json!({
                "id": id, "title": post.title, "body": post.body, "author": post.author,
                "author_id": null, "created_at": chrono::Utc::now(), "answer_count": 0,
            });
            json(StatusCode::CREATED, question.to_string())
        }
        (&Method::POST, ["api", "questions", id, "answers"]) => {
            let Ok(question_id) = id.parse::<Uuid>() else {
                return Ok(json(StatusCode::BAD_REQUEST, "{}".into()));
            };
            let Some(post) = read_post(req).await else {
                return Ok(json(StatusCode::BAD_REQUEST, "{}".into()));
            };
            let mut questions = hub.questions.lock().unwrap();
            let Some(question) = questions.get_mut(&question_id) else {
                return Ok(json(StatusCode::NOT_FOUND, "{}".into()));
            };
            question.answers += 1;
            let answer = Answer {
                id: Uuid::now_v7(),
                question_id,
                seq: question.answers,
                body: post.body,
                // The baseline renders no Markdown (qa-hub renders once, at write).
                body_html: String::new(),
                author: post.author,
                author_id: None,
                created_at: chrono::Utc::now(),
            };
            // Encoded once, framed once; every subscriber gets the same bytes.
            let message = ServerMessage::answer(answer.clone()).encode();
            let bytes = frame(0x1, message.as_bytes());
            question.subscribers.retain(|s| s.try_send(bytes.clone()).is_ok());
            json(StatusCode::CREATED, serde_json::to_string(&answer).expect("an answer encodes"))
        }
        _ => json(StatusCode::NOT_FOUND, "{}".into()),
    })
}

async fn read_post(req: Request<Incoming>) -> Option<NewPost> {
    let body = req.into_body().collect().await.ok()?.to_bytes();
    serde_json::from_slice(&body).ok()
}

fn upgrade(hub: Arc<Hub>, mut req: Request<Incoming>) -> Response<Full<Bytes>> {
    let Some(key) = req.headers().get("sec-websocket-key").cloned() else {
        return json(StatusCode::BAD_REQUEST, "{}".into());
    };
    let mut sha = Sha1::new();
    sha.update(key.as_bytes());
    sha.update(b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
    let accept = base64::engine::general_purpose::STANDARD.encode(sha.finalize());
    let upgraded = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        if let Ok(io) = upgraded.await {
            connection(hub, TokioIo::new(io)).await;
        }
    });
    Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header(header::UPGRADE, "websocket")
        .header(header::CONNECTION, "Upgrade")
        .header("sec-websocket-accept", accept)
        .body(Full::new(Bytes::new()))
        .expect("a valid response")
}

/// One WebSocket: reads the client's frames (subscribe, ping, close) and writes whatever its
/// queue holds, raw.
async fn connection(hub: Arc<Hub>, io: TokioIo<hyper::upgrade::Upgraded>) {
    let (mut reader, mut writer) = tokio::io::split(io);
    let (tx, mut rx) = mpsc::channel::<Bytes>(QUEUE);
    let writes = tokio::spawn(async move {
        while let Some(bytes) = rx.recv().await {
            if writer.write_all(&bytes).await.is_err() {
                break;
            }
        }
    });
    let mut buf = BytesMut::with_capacity(512);
    'frames: loop {
        // A client frame: masked, small (the protocol's requests fit one frame).
        while buf.len() < 2 || buf.len() < header_len(&buf) + payload_len(&buf) {
            if reader.read_buf(&mut buf).await.unwrap_or(0) == 0 {
                break 'frames;
            }
        }
        let (opcode, start, len) = (buf[0] & 0x0f, header_len(&buf), payload_len(&buf));
        let mask = [buf[start - 4], buf[start - 3], buf[start - 2], buf[start - 1]];
        let payload: Vec<u8> =
            buf[start..start + len].iter().enumerate().map(|(i, b)| b ^ mask[i % 4]).collect();
        let _ = buf.split_to(start + len);
        match opcode {
            0x1 => {
                let Ok(ClientMessage::Subscribe { topic: Topic::Question(id), .. }) =
                    qa_hub_protocol::parse(&String::from_utf8_lossy(&payload))
                else {
                    continue;
                };
                let mut questions = hub.questions.lock().unwrap();
                let Some(question) = questions.get_mut(&id) else { continue };
                let seq = question.answers;
                let reply =
                    ServerMessage::Subscribed { topic: Topic::Question(id), seq, answer_count: Some(seq) };
                if tx.try_send(frame(0x1, reply.encode().as_bytes())).is_ok() {
                    question.subscribers.push(tx.clone());
                }
            }
            0x9 => {
                let _ = tx.try_send(frame(0xA, &payload));
            }
            0x8 => break,
            _ => {}
        }
    }
    drop(tx);
    writes.abort();
}

fn header_len(buf: &[u8]) -> usize {
    let extra = match buf[1] & 0x7f {
        126 => 2,
        127 => 8,
        _ => 0,
    };
    2 + extra + 4
}

fn payload_len(buf: &[u8]) -> usize {
    match buf[1] & 0x7f {
        126 if buf.len() >= 4 => u16::from_be_bytes([buf[2], buf[3]]) as usize,
        127 if buf.len() >= 10 => u64::from_be_bytes(buf[2..10].try_into().expect("8 bytes")) as usize,
        126 | 127 => usize::MAX / 2, // not all of the length yet: read more
        n => n as usize,
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let bind: SocketAddr = std::env::args()
        .skip_while(|a| a != "--bind")
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8091".into())
        .parse()
        .expect("--bind HOST:PORT");
    let listener = TcpListener::bind(bind).await?;
    eprintln!("qa-hub-minimal listening on {}", listener.local_addr()?);
    let hub = Arc::new(Hub::default());
    loop {
        let (socket, _) = listener.accept().await?;
        let _ = socket.set_nodelay(true);
        let hub = hub.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| handle(hub.clone(), req));
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(socket), service)
                .with_upgrades()
                .await;
        });
    }
}
