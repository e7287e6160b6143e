//! Server-Sent Events: `GET /sse?topics=…`, the same topics and the same exactly-once contract
//! as the WebSocket, for networks that break WebSockets (proxies that strip `Upgrade`). What
//! subscribing means is the same [`Session`]'s, and the stream's loop and clocks the same
//! [`driver`]'s; this module is a [`Link`] that writes messages as `text/event-stream`. Unlike
//! a WebSocket's, the socket stays with actix's dispatcher, which writes the response body:
//! a client that takes nothing is cut off through its descriptor ([`SocketFd`]).
//!
//! - **Resume by `Last-Event-ID`.** Every event carries `id:` with the stream's position in
//!   each of its topics (`question:<uuid>=5,user:<uuid>=3`), every topic from its subscribe
//!   on (a quiet topic too), so the `Last-Event-ID` a browser sends when it reconnects resumes
//!   every topic exactly. The same value can be given as `?last_event_id=` (a new stream, e.g.
//!   with other topics): positions of topics the stream does not ask for are ignored, and an
//!   id longer than any stream's (`--max-subscriptions` topics) is refused. Replies that are
//!   not events (`subscribed`, `error`) carry no id, so they never move a resume point.
//! - **Changing topics** means opening a new stream with the new `topics` and the last id:
//!   nothing is missed between the two, and SSE has no upstream channel to ask on.
//! - **The same rules as the WebSocket**: the session cookie or an `Authorization: Bearer`
//!   token (a user's inbox is its owner's alone), `--allowed-origins`, the connection caps,
//!   `--max-subscriptions`, heartbeats (a comment every `--ping-interval-secs`), a stream with
//!   no subscription (every topic refused, or the inbox ended) closed after
//!   `--idle-timeout-secs`, and a client that does not read within `--write-timeout-secs` (or
//!   falls a queue behind) is dropped — its browser reconnects with its last id and catches up
//!   from the log.

use std::{collections::BTreeMap, convert::Infallible, sync::Arc, time::Duration};

use actix_web::{HttpRequest, HttpResponse, http::header, web};
use bytes::Bytes;
use bytestring::ByteString;
use serde::Deserialize;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot};

use super::{Context, auth, error::Error, socket::SocketFd};
use crate::{
    domain::Topic,
    metrics::Disconnect,
    realtime::{
        driver::{self, Heard, Link},
        hub::Notification,
        session::{Session, Transport},
    },
    wire::ClientMessage,
};

/// Chunks buffered between the stream's task and the response body…
const BUFFER: usize = 16;
/// …and their bytes, at most (a chunk larger than this waits until it is alone): a client that
/// stops reading pins no more than this here, besides the dispatcher's buffer and the kernel's.
const QUEUED_BYTES: usize = 64 * 1024;

#[derive(Debug, Deserialize)]
pub struct StreamQuery {
    /// Comma-separated topics.
    topics: Option<String>,
    /// Where to resume, when there is no `Last-Event-ID` header.
    last_event_id: Option<String>,
}

/// `GET /sse`: checks the request, then streams the topics' events.
pub async fn stream(
    req: HttpRequest,
    query: web::Query<StreamQuery>,
    ctx: web::Data<Context>,
) -> Result<HttpResponse, Error> {
    super::admission::check_origin(&req, "an event stream")?;
    let settings = *ctx.ws();
    let topics =
        parse_topics(query.topics.as_deref().unwrap_or_default(), settings.session.max_subscriptions)?;
    let last_id = req
        .headers()
        .get("last-event-id")
        .map(|v| v.to_str().unwrap_or("\u{0}").to_owned())
        .or_else(|| query.last_event_id.clone());
    let resume = match last_id.as_deref() {
        Some(id) => resume_points(id, &topics, settings.session.max_subscriptions)?,
        None => BTreeMap::new(),
    };
    let viewer = match auth::credential(&req)? {
        Some(credential) => {
            let auth = ctx.services().authenticate(&credential).await?;
            Some(super::admission::viewer(&auth, &credential))
        }
        None => None,
    };
    let slot = super::admission::admit(&ctx, &req)?;
    let fd = req.conn_data::<SocketFd>().copied();
    if let (Some(fd), Some(bytes)) = (fd, settings.send_buffer) {
        fd.bound_send_buffer(bytes);
    }

    let source = Arc::new(ctx.services().clone());
    let (mut session, inbox) =
        Session::new(ctx.hub().clone(), source, ctx.metrics().clone(), settings.session);
    // A revocation or an expiry of this credential ends the stream's inbox topics (see
    // `Session`); the rest of the stream goes on, and it ends when nothing is left.
    session.set_viewer(viewer);
    let (tx, rx) = mpsc::channel(BUFFER);
    // Dropped with the body: how the link learns that the dispatcher let go of the connection.
    let (body_alive, body_gone) = oneshot::channel::<()>();
    let mut link = Events {
        tx: Some(tx),
        room: Arc::new(Semaphore::new(QUEUED_BYTES)),
        positions: BTreeMap::new(),
        deadline: settings.write_timeout,
        fd,
        body_gone,
    };
    let opening = topics
        .into_iter()
        .map(|topic| ClientMessage::Subscribe { topic, after_seq: resume.get(&topic).copied() })
        .collect();
    let clocks = settings.clocks();
    let (shutdown, metrics) = (ctx.shutdown().clone(), ctx.metrics().clone());
    actix_web::rt::spawn(async move {
        // How soon the browser reconnects after the stream ends. A body already gone shows
        // in the driver at once.
        let _ = link.push("retry: 2000\n\n".into()).await;
        driver::run(session, inbox, link, clocks, shutdown, metrics, opening).await;
    });

    // The place under the caps goes with the body: it comes back when the dispatcher lets go
    // of the connection, not when the task ends (a client that does not read outlives it).
    let body = futures_util::stream::unfold((rx, slot, body_alive), |(mut rx, slot, alive)| async move {
        // The chunk's room comes back as the dispatcher takes it.
        rx.recv().await.map(|queued: Queued| (Ok::<Bytes, Infallible>(queued.chunk), (rx, slot, alive)))
    });
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header((header::CACHE_CONTROL, "no-cache, no-store"))
        // nginx and its kin buffer responses unless told otherwise.
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(body))
}

fn invalid(code: &'static str, message: String) -> Error {
    Error::bad_request(code, message)
}

/// `topics`: one to `max` distinct topics, comma-separated.
fn parse_topics(raw: &str, max: usize) -> Result<Vec<Topic>, Error> {
    let mut topics = Vec::new();
    for part in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let topic: Topic = part.parse().map_err(|e| invalid("invalid_topic", format!("{e}.")))?;
        if !topics.contains(&topic) {
            topics.push(topic);
        }
    }
    if topics.is_empty() {
        return Err(invalid("invalid_topic", "Name the topics to stream: ?topics=question:<uuid>,….".into()));
    }
    if topics.len() > max {
        return Err(invalid("too_many_subscriptions", format!("A stream may hold at most {max} topics.")));
    }
    Ok(topics)
}

/// Where each of `topics` resumes, from an event id: the positions of other topics (an id of
/// a stream with other topics) are ignored. An id with more positions than any stream may
/// have (`max` topics), or longer than they can take, is refused.
fn resume_points(id: &str, topics: &[Topic], max: usize) -> Result<BTreeMap<Topic, i64>, Error> {
    // `user:<uuid>=<i64>,`: the longest position.
    const LONGEST: usize = 5 + 36 + 1 + 19 + 1;
    if id.len() > max * LONGEST {
        let message = format!("The event id is longer than a stream of at most {max} topics has.");
        return Err(invalid("invalid_last_event_id", message));
    }
    let mut positions = parse_positions(id)?;
    if positions.len() > max {
        let message = format!("The event id names more topics than a stream may hold ({max}).");
        return Err(invalid("invalid_last_event_id", message));
    }
    positions.retain(|topic, _| topics.contains(topic));
    Ok(positions)
}

/// An event id: `topic=seq` pairs, comma-separated.
fn parse_positions(id: &str) -> Result<BTreeMap<Topic, i64>, Error> {
    let bad = || invalid("invalid_last_event_id", format!("{id:?} is not an event id of this hub."));
    let mut positions = BTreeMap::new();
    for pair in id.split(',').filter(|p| !p.is_empty()) {
        let (topic, seq) = pair.rsplit_once('=').ok_or_else(bad)?;
        let topic: Topic = topic.parse().map_err(|_| bad())?;
        let seq: i64 = seq.parse().ok().filter(|s| *s >= 0).ok_or_else(bad)?;
        positions.insert(topic, seq);
    }
    Ok(positions)
}

/// Written straight into the event's chunk: this runs per subscriber for every event.
fn write_event_id(out: &mut String, positions: &BTreeMap<Topic, i64>) {
    use std::fmt::Write;
    for (i, (topic, seq)) in positions.iter().enumerate() {
        let _ = write!(out, "{}{topic}={seq}", if i == 0 { "" } else { "," });
    }
}

#[cfg(test)]
fn event_id(positions: &BTreeMap<Topic, i64>) -> String {
    let mut id = String::new();
    write_event_id(&mut id, positions);
    id
}

/// Why a stream ended.
#[derive(Debug)]
pub enum Stop {
    /// The client went away.
    Gone,
    /// The stream ends (the client reconnects with its last id): the server is going away,
    /// the client fell behind or did not read, the log could not be read, or no topic was
    /// left to stream for `--idle-timeout-secs`.
    End(Disconnect),
}

/// A chunk on its way to the response body, with its room under [`QUEUED_BYTES`].
struct Queued {
    chunk: Bytes,
    _room: OwnedSemaphorePermit,
}

/// An event stream, as the connection driver's [`Link`]: each message becomes one chunk of
/// the response body, which actix-web writes.
struct Events {
    /// `None` once the stream ended: the body ends after what it holds.
    tx: Option<mpsc::Sender<Queued>>,
    /// Room for [`QUEUED_BYTES`] bytes.
    room: Arc<Semaphore>,
    /// The stream's position in each topic: the `id:` of the next event.
    positions: BTreeMap<Topic, i64>,
    deadline: Duration,
    /// The connection's socket, to cut off a client that takes nothing (`None`: not plain TCP).
    fd: Option<SocketFd>,
    /// Resolves once the response body is dropped.
    body_gone: oneshot::Receiver<()>,
}

impl Events {
    async fn push(&mut self, chunk: String) -> Result<(), Stop> {
        let Some(tx) = &self.tx else { return Err(Stop::Gone) };
        let chunk = Bytes::from(chunk);
        let bytes = u32::try_from(chunk.len().min(QUEUED_BYTES)).unwrap_or(u32::MAX);
        let queued = async {
            let room = self.room.clone().acquire_many_owned(bytes).await.map_err(|_| Stop::Gone)?;
            tx.send(Queued { chunk, _room: room }).await.map_err(|_| Stop::Gone)
        };
        tokio::time::timeout(self.deadline, queued).await.unwrap_or(Err(Stop::End(Disconnect::WriteTimeout)))
    }

    async fn event(&mut self, topic: Topic, seq: i64, frame: &str) -> Result<(), Stop> {
        self.positions.insert(topic, seq);
        // JSON text never holds a raw newline, so one `data:` line carries the whole frame.
        let mut chunk = String::with_capacity(frame.len() + 64 * self.positions.len() + 16);
        chunk.push_str("id: ");
        write_event_id(&mut chunk, &self.positions);
        chunk.push_str("\ndata: ");
        chunk.push_str(frame);
        chunk.push_str("\n\n");
        self.push(chunk).await
    }
}

impl Transport for Events {
    type Stop = Stop;

    async fn send(&mut self, frame: ByteString) -> Result<(), Stop> {
        self.push(format!("data: {frame}\n\n")).await
    }

    async fn send_event(&mut self, n: &Notification) -> Result<(), Stop> {
        self.event(n.topic, n.seq, &n.frame).await
    }

    async fn send_logged(&mut self, topic: Topic, seq: i64, frame: ByteString) -> Result<(), Stop> {
        self.event(topic, seq, &frame).await
    }

    fn log_unavailable(&self) -> Stop {
        Stop::End(Disconnect::Database)
    }

    fn subscribed(&mut self, topic: Topic, from: i64) {
        self.positions.insert(topic, from);
    }
}

impl Link for Events {
    async fn peer(&self) {
        match &self.tx {
            Some(tx) => tx.closed().await,
            None => std::future::pending().await,
        }
    }

    /// An event stream's client sends nothing: the body is gone.
    async fn on_peer(&mut self, _: &mut Session) -> Result<Heard, Stop> {
        Err(Stop::Gone)
    }

    fn hears_peer(&self) -> bool {
        false
    }

    async fn keep_alive(&mut self) -> Result<(), Stop> {
        self.push(": ping\n\n".into()).await
    }

    fn stop(&self, why: Disconnect) -> Stop {
        match why {
            Disconnect::Client => Stop::Gone,
            why => Stop::End(why),
        }
    }

    fn disconnect(stop: &Stop) -> Disconnect {
        match stop {
            Stop::Gone => Disconnect::Client,
            Stop::End(why) => *why,
        }
    }

    /// The body ends after what it holds; this waits until the dispatcher let go of it.
    async fn close(&mut self, stop: Stop) {
        tracing::debug!(?stop, "event stream done");
        self.tx = None;
        let _ = (&mut self.body_gone).await;
    }

    fn cut(&mut self) {
        // The body alive means the dispatcher still holds the socket: it is ours to cut.
        if matches!(self.body_gone.try_recv(), Err(oneshot::error::TryRecvError::Empty))
            && let Some(fd) = self.fd
        {
            fd.cut();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_id_round_trips() {
        let (a, b) = (Topic::Question(uuid::Uuid::now_v7()), Topic::Questions);
        let positions = BTreeMap::from([(a, 5), (b, 0)]);
        assert_eq!(parse_positions(&event_id(&positions)).unwrap(), positions);
        for bad in ["question:x=1", "questions", "questions=-1", "questions=1.5", "nope=3"] {
            assert!(parse_positions(bad).is_err(), "{bad}");
        }
    }
}
