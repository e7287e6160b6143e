//! Server-Sent Events: `GET /sse?topics=…`, the same topics and the same exactly-once contract
//! as the WebSocket, for networks that break WebSockets (proxies that strip `Upgrade`). What
//! subscribing means is the same [`Session`]'s; this module only writes its messages as
//! `text/event-stream`.
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
use tokio::sync::{mpsc, oneshot};

use super::{Context, auth, error::Error, socket::SocketFd};
use crate::{
    domain::Topic,
    metrics::Disconnect,
    realtime::{
        hub::Notification,
        session::{Session, Transport},
    },
    wire::ClientMessage,
};

/// Chunks buffered between the stream's task and the response body.
const BUFFER: usize = 16;

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
    super::ws::check_origin(&req, "an event stream")?;
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
            Some(super::ws::viewer(&auth, &credential))
        }
        None => None,
    };
    let slot = super::ws::admit(&ctx, &req)?;

    let source = Arc::new(ctx.services().clone());
    let (mut session, inbox) =
        Session::new(ctx.hub().clone(), source, ctx.metrics().clone(), settings.session);
    // A revocation or an expiry of this credential ends the stream's inbox topics (see
    // `Session`); the rest of the stream goes on, and it ends when nothing is left.
    session.set_viewer(viewer);
    let (tx, rx) = mpsc::channel(BUFFER);
    let out = Events { tx, positions: BTreeMap::new(), deadline: settings.write_timeout };
    // Dropped with the body: how the task learns that the dispatcher let go of the connection.
    let (body_alive, body_gone) = oneshot::channel::<()>();
    let task = Stream {
        session,
        inbox,
        out,
        ctx: ctx.clone(),
        ping_interval: settings.ping_interval,
        idle_timeout: settings.idle_timeout,
        close_timeout: settings.close_timeout,
        fd: req.conn_data::<SocketFd>().copied(),
        body_gone,
    };
    actix_web::rt::spawn(task.run(topics, resume));

    // The place under the caps goes with the body: it comes back when the dispatcher lets go
    // of the connection, not when the task ends (a client that does not read outlives it).
    let body = futures_util::stream::unfold((rx, slot, body_alive), |(mut rx, slot, alive)| async move {
        rx.recv().await.map(|chunk| (Ok::<Bytes, Infallible>(chunk), (rx, slot, alive)))
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
    /// The client did not take what was sent in time.
    Slow,
    /// The log could not be read: the client resumes with its last id.
    LogUnavailable,
    /// No topic was left to stream (all refused, or the inbox ended by a revocation) for
    /// `--idle-timeout-secs`.
    Empty,
}

/// The response body's side of a stream: each message becomes one chunk.
struct Events {
    tx: mpsc::Sender<Bytes>,
    /// The stream's position in each topic: the `id:` of the next event.
    positions: BTreeMap<Topic, i64>,
    deadline: Duration,
}

impl Events {
    async fn push(&mut self, chunk: String) -> Result<(), Stop> {
        match tokio::time::timeout(self.deadline, self.tx.send(Bytes::from(chunk))).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(Stop::Gone),
            Err(_) => Err(Stop::Slow),
        }
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
        Stop::LogUnavailable
    }

    fn subscribed(&mut self, topic: Topic, from: i64) {
        self.positions.insert(topic, from);
    }
}

/// One stream's task: subscribes, then forwards the session's deliveries and heartbeats.
struct Stream {
    session: Session,
    inbox: mpsc::Receiver<Arc<Notification>>,
    out: Events,
    ctx: web::Data<Context>,
    ping_interval: Duration,
    /// How long a stream with no subscription is kept; `None`: for ever.
    idle_timeout: Option<Duration>,
    /// How long the body may take to send what is buffered once the stream ends.
    close_timeout: Duration,
    /// The connection's socket, to cut off a client that takes nothing (`None`: not plain TCP).
    fd: Option<SocketFd>,
    /// Resolves once the response body is dropped.
    body_gone: oneshot::Receiver<()>,
}

impl Stream {
    async fn run(mut self, topics: Vec<Topic>, resume: BTreeMap<Topic, i64>) {
        let metrics = self.ctx.metrics().clone();
        metrics.connections_open.inc();
        let stop = self.serve(topics, resume).await;
        metrics.connections_open.dec();
        metrics.disconnected(match stop {
            Stop::Gone => Disconnect::Client,
            Stop::Slow => Disconnect::Overflow,
            Stop::LogUnavailable => Disconnect::Database,
            Stop::Empty => Disconnect::Idle,
        });
        let id = self.session.id();
        tracing::debug!(conn = id, ?stop, "event stream done");
        let Self { session, out, mut body_gone, fd, close_timeout, .. } = self;
        drop(session);
        // The body ends after what it buffers; a client that takes nothing would keep it, and
        // the connection, for ever: after the close timeout it is cut off.
        drop(out);
        if tokio::time::timeout(close_timeout, &mut body_gone).await.is_err()
            && matches!(body_gone.try_recv(), Err(oneshot::error::TryRecvError::Empty))
            && let Some(fd) = fd
        {
            tracing::debug!(conn = id, "cutting off a client that does not read");
            fd.cut();
        }
    }

    async fn serve(&mut self, topics: Vec<Topic>, resume: BTreeMap<Topic, i64>) -> Stop {
        // How soon the browser reconnects after the stream ends.
        if let Err(stop) = self.out.push("retry: 2000\n\n".into()).await {
            return stop;
        }
        for topic in topics {
            let after_seq = resume.get(&topic).copied();
            let request = ClientMessage::Subscribe { topic, after_seq };
            if let Err(stop) = self.session.request(request, &mut self.out).await {
                return stop;
            }
        }
        let overflow = self.session.overflow();
        let shutdown = self.ctx.shutdown().clone();
        let mut ping =
            tokio::time::interval_at(tokio::time::Instant::now() + self.ping_interval, self.ping_interval);
        // Far future when disabled, so the branch below never fires; (re)armed whenever the
        // stream is left with no subscription.
        let idle_after = self.idle_timeout.unwrap_or(Duration::from_secs(100 * 365 * 86_400));
        let idle = tokio::time::sleep(idle_after);
        tokio::pin!(idle);
        let mut was_idle = self.session.is_idle();
        loop {
            let step = tokio::select! {
                biased;
                // The browser reconnects, to another node if this one is going away.
                () = shutdown.cancelled() => return Stop::Gone,
                // Too far behind to keep up live: end, and let the client resume from the log.
                () = overflow.flagged() => return Stop::Slow,
                n = self.inbox.recv() => match n {
                    Some(n) => self.session.deliver(&n, &mut self.out).await,
                    None => return Stop::Gone,
                },
                _ = ping.tick() => match self.session.expire(chrono::Utc::now(), &mut self.out).await {
                    Ok(()) => self.out.push(": ping\n\n".into()).await,
                    stop => stop,
                },
                () = self.out.tx.closed() => return Stop::Gone,
                // Nothing to stream for a while: free the place for others, as a socket does.
                () = &mut idle, if was_idle => return Stop::Empty,
            };
            if let Err(stop) = step {
                return stop;
            }
            let idle_now = self.session.is_idle();
            if idle_now && !was_idle {
                idle.as_mut().reset(tokio::time::Instant::now() + idle_after);
            }
            was_idle = idle_now;
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
