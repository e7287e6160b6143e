//! One WebSocket connection's life: the upgrade, the client's subscribe/unsubscribe requests,
//! delivery of its notifications in seq order, pings, and the close.
//!
//! Each connection is one task that owns its socket. It is the only writer to that socket, so
//! awaiting a slow peer here delays nobody else; the hub only ever `try_send`s into this
//! task's bounded queue.

use std::{collections::HashMap, sync::Arc, time::Duration};

use actix_web::{HttpRequest, HttpResponse, web};
use actix_ws::{
    AggregatedMessage, AggregatedMessageStream, CloseCode, CloseReason, ProtocolError as WsError, Session,
};
use bytestring::ByteString;
use tokio::{sync::mpsc, time::Instant};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::{
    app::AppState,
    error::Error,
    hub::{ConnId, Hub, Notification, Overflow, Subscriber},
    limits::{Refused, Slot},
    metrics::{Disconnect, Metrics},
    protocol::{self, ClientMessage, ProtocolError, ServerMessage},
    store::{Answer, Store},
};

/// Backlog and gap fills are read in pages of this many answers.
const PAGE: i64 = 100;

/// `GET /ws`: upgrades the request and starts the connection's task.
pub async fn upgrade(
    req: HttpRequest,
    body: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Error> {
    // Refuse over the caps before upgrading, so the client sees a plain HTTP 503.
    let ip = req.peer_addr().map_or(std::net::IpAddr::from([0, 0, 0, 0]), |a| a.ip());
    let slot = state.connections.admit(ip).map_err(|cap| {
        let (label, message) = match cap {
            Refused::Node => {
                ("node", "This server holds as many connections as it may; try another or retry later.")
            }
            Refused::Ip => ("ip", "Too many connections from your address; close some or retry later."),
        };
        state.metrics.connections_rejected.with_label_values(&[label]).inc();
        Error::Unavailable(message.into())
    })?;
    let (response, session, stream) = actix_ws::handle(&req, body).map_err(|e| {
        Error::bad_request("websocket_upgrade_required", format!("This endpoint speaks WebSocket only: {e}."))
    })?;
    let max = state.config.max_frame_bytes;
    let stream = stream.max_frame_size(max).aggregate_continuations().max_continuation_size(max);
    let conn = Connection::new(&state, slot);
    // The message stream is tied to this worker thread, so the task is spawned locally.
    let fut = conn.run(session, stream);
    tracing::debug!(task_bytes = std::mem::size_of_val(&fut), "connection task");
    actix_web::rt::spawn(fut);
    Ok(response)
}

/// Why the loop stopped, and what to tell the peer.
enum Stop {
    /// The peer is gone or closed; nothing more to send.
    Gone,
    Close(CloseReason, Disconnect),
}

fn reason(code: CloseCode, description: &str, why: Disconnect) -> Stop {
    Stop::Close(CloseReason { code, description: Some(description.to_owned()) }, why)
}

struct Connection {
    id: ConnId,
    hub: Arc<Hub>,
    store: Store,
    shutdown: CancellationToken,
    max_subscriptions: usize,
    ping_interval: Duration,
    close_timeout: Duration,
    queue: mpsc::Sender<Arc<Notification>>,
    inbox: mpsc::Receiver<Arc<Notification>>,
    overflow: Arc<Overflow>,
    /// Subscribed questions and the highest seq this connection has sent for each.
    sent: HashMap<Uuid, i64>,
    metrics: Arc<Metrics>,
    idle_timeout: Option<Duration>,
    /// Our place under the connection caps, given back when the task ends.
    _slot: Slot,
}

impl Connection {
    fn new(state: &AppState, slot: Slot) -> Self {
        let (queue, inbox) = mpsc::channel(state.config.outbound_queue);
        Self {
            id: state.hub.next_conn_id(),
            hub: state.hub.clone(),
            store: state.store.clone(),
            shutdown: state.shutdown.clone(),
            max_subscriptions: state.config.max_subscriptions,
            ping_interval: state.config.ping_interval(),
            close_timeout: state.config.close_timeout(),
            queue,
            inbox,
            overflow: Arc::default(),
            sent: HashMap::new(),
            metrics: state.metrics.clone(),
            idle_timeout: state.config.idle_timeout(),
            _slot: slot,
        }
    }

    async fn run(mut self, mut session: Session, mut stream: AggregatedMessageStream) {
        tracing::debug!(conn = self.id, "websocket open");
        self.metrics.connections_open.inc();
        let stop = self.serve(&mut session, &mut stream).await;
        for question_id in self.sent.keys() {
            self.hub.unsubscribe(*question_id, self.id);
        }
        self.metrics.subscriptions.sub(self.sent.len() as i64);
        self.metrics.connections_open.dec();
        self.metrics.disconnected(match &stop {
            Stop::Gone => Disconnect::Client,
            Stop::Close(_, why) => *why,
        });
        if let Stop::Close(reason, _) = stop {
            tracing::debug!(conn = self.id, code = ?reason.code, reason = ?reason.description, "closing websocket");
            // A peer that does not read cannot take the close frame either; give up in time.
            let _ = tokio::time::timeout(self.close_timeout, session.close(Some(reason))).await;
        }
        tracing::debug!(conn = self.id, "websocket done");
    }

    async fn serve(&mut self, session: &mut Session, stream: &mut AggregatedMessageStream) -> Stop {
        let mut ping = tokio::time::interval_at(Instant::now() + self.ping_interval, self.ping_interval);
        let mut last_heard = Instant::now();
        // Far future when disabled, so the branch below never fires.
        let idle_after = self.idle_timeout.unwrap_or(Duration::from_secs(100 * 365 * 86_400));
        let idle = tokio::time::sleep(idle_after);
        // Created once, not per loop turn: each creation registers a waiter, and the shutdown
        // token's waiter list is one mutex shared by every connection.
        let (overflow, shutdown) = (self.overflow.clone(), self.shutdown.clone());
        let flagged = overflow.flagged();
        let cancelled = shutdown.cancelled();
        tokio::pin!(idle, flagged, cancelled);
        loop {
            let step = tokio::select! {
                biased;
                // The hub dropped us because our queue was full; tell the peer how to resume.
                () = &mut flagged => Err(overflowed()),
                // The server is shutting down; peers should reconnect elsewhere.
                () = &mut cancelled => {
                    Err(reason(CloseCode::Away, "server shutting down", Disconnect::Shutdown))
                }
                // No subscriptions and no requests for a while: free the place for others.
                () = &mut idle, if self.sent.is_empty() => {
                    Err(reason(CloseCode::Normal, "idle: no subscriptions", Disconnect::Idle))
                }
                // A request (or control frame) from the peer.
                frame = stream.recv() => {
                    last_heard = Instant::now();
                    // Pongs answer our pings and do not count as activity.
                    if matches!(frame, Some(Ok(AggregatedMessage::Text(_) | AggregatedMessage::Binary(_)))) {
                        idle.as_mut().reset(last_heard + idle_after);
                    }
                    // Boxed: requests are rare, and their futures (database reads included)
                    // would otherwise make every idle connection's task that much larger.
                    Box::pin(self.on_frame(frame, session)).await
                }
                // A notification for one of our questions.
                Some(n) = self.inbox.recv() => self.deliver(&n, session).await,
                // Keep-alive: a peer silent for two intervals is presumed dead.
                _ = ping.tick() => {
                    if last_heard.elapsed() > self.ping_interval * 2 {
                        Err(reason(CloseCode::Policy, "ping timeout", Disconnect::PingTimeout))
                    } else {
                        self.send(session.ping(b"")).await
                    }
                }
            };
            if let Err(stop) = step {
                return stop;
            }
        }
    }

    async fn on_frame(
        &mut self,
        frame: Option<Result<AggregatedMessage, WsError>>,
        session: &mut Session,
    ) -> Result<(), Stop> {
        match frame {
            None => Err(Stop::Gone),
            Some(Ok(AggregatedMessage::Text(text))) => self.on_request(&text, session).await,
            Some(Ok(AggregatedMessage::Binary(_))) => {
                let err = ProtocolError::new("unsupported_frame", "Send JSON text frames, not binary ones.");
                self.send_text(session, err.encode()).await
            }
            Some(Ok(AggregatedMessage::Ping(bytes))) => self.send(session.pong(&bytes)).await,
            Some(Ok(AggregatedMessage::Pong(_))) => Ok(()),
            Some(Ok(AggregatedMessage::Close(_))) => {
                Err(Stop::Close(CloseReason::from(CloseCode::Normal), Disconnect::Client))
            }
            Some(Err(WsError::Overflow)) => {
                Err(reason(CloseCode::Size, "frame too large", Disconnect::Protocol))
            }
            Some(Err(e)) => {
                tracing::debug!(conn = self.id, error = %e, "websocket protocol error");
                Err(reason(CloseCode::Protocol, "protocol error", Disconnect::Protocol))
            }
        }
    }

    async fn on_request(&mut self, text: &str, session: &mut Session) -> Result<(), Stop> {
        let reply = match protocol::parse(text) {
            Ok(ClientMessage::Subscribe { question_id, after_seq }) => {
                return self.subscribe(question_id, after_seq, session).await;
            }
            Ok(ClientMessage::Unsubscribe { question_id }) => {
                if self.sent.remove(&question_id).is_some() {
                    self.hub.unsubscribe(question_id, self.id);
                    self.metrics.subscriptions.dec();
                    ServerMessage::Unsubscribed { question_id }.encode()
                } else {
                    ProtocolError::new(
                        "not_subscribed",
                        "This connection is not subscribed to that question.",
                    )
                    .about(question_id)
                    .encode()
                }
            }
            Err(err) => err.encode(),
        };
        self.send_text(session, reply).await
    }

    /// Registers with the hub *before* reading the database, so an answer committed at any
    /// moment is either in what we read or arrives on the queue afterwards (or both: `sent`
    /// drops the repeat).
    async fn subscribe(
        &mut self,
        question_id: Uuid,
        after_seq: Option<i64>,
        session: &mut Session,
    ) -> Result<(), Stop> {
        let refuse = |code, message: &str| ProtocolError::new(code, message).about(question_id).encode();
        if self.sent.contains_key(&question_id) {
            let msg = refuse("already_subscribed", "This connection is already subscribed to that question.");
            return self.send_text(session, msg).await;
        }
        if self.sent.len() >= self.max_subscriptions {
            let msg = format!("A connection may hold at most {} subscriptions.", self.max_subscriptions);
            return self.send_text(session, refuse("too_many_subscriptions", &msg)).await;
        }
        let subscriber =
            Subscriber { conn: self.id, queue: self.queue.clone(), overflow: self.overflow.clone() };
        self.hub.subscribe(question_id, subscriber);
        let count = match self.store.answer_count(question_id).await {
            Ok(Some(count)) => count,
            outcome => {
                self.hub.unsubscribe(question_id, self.id);
                let msg = match outcome {
                    Ok(_) => refuse("question_not_found", "No question has that id."),
                    Err(e) => {
                        tracing::error!(error = %e, "subscribe: database error");
                        refuse("unavailable", "The server could not read that question; try again.")
                    }
                };
                return self.send_text(session, msg).await;
            }
        };
        let from = after_seq.map_or(count, |seq| seq.min(count));
        self.sent.insert(question_id, from);
        self.metrics.subscriptions.inc();
        let subscribed = ServerMessage::Subscribed { question_id, answer_count: count }.encode();
        self.send_text(session, subscribed).await?;
        self.catch_up(question_id, count, session).await
    }

    /// Sends a notification unless this connection already sent it; fills a gap before it
    /// from the database, so the peer sees every seq exactly once and in order.
    async fn deliver(&mut self, n: &Notification, session: &mut Session) -> Result<(), Stop> {
        let Some(&sent) = self.sent.get(&n.question_id) else {
            return Ok(()); // unsubscribed meanwhile
        };
        if n.seq <= sent {
            return Ok(());
        }
        if n.seq > sent + 1 {
            // Boxed for the same reason as requests: gaps are rare.
            Box::pin(self.catch_up(n.question_id, n.seq - 1, session)).await?;
        }
        self.send_text(session, n.frame.clone()).await?;
        self.metrics.observe_delivery(n.committed.elapsed());
        self.sent.insert(n.question_id, n.seq);
        Ok(())
    }

    /// Sends stored answers after what was sent, up to `up_to_seq`.
    async fn catch_up(
        &mut self,
        question_id: Uuid,
        up_to_seq: i64,
        session: &mut Session,
    ) -> Result<(), Stop> {
        loop {
            let sent = self.sent.get(&question_id).copied().unwrap_or(up_to_seq);
            if sent >= up_to_seq {
                return Ok(());
            }
            let page = match self.store.answers_between(question_id, sent, up_to_seq, PAGE).await {
                Ok(page) => page,
                Err(e) => {
                    // Without these answers the peer would see a gap; better that it resumes.
                    tracing::error!(error = %e, "catch-up: database error");
                    return Err(reason(
                        CloseCode::Again,
                        "could not read missed answers; resume with after_seq",
                        Disconnect::Database,
                    ));
                }
            };
            if page.is_empty() {
                return Ok(());
            }
            for answer in &page {
                self.send_answer(answer, session).await?;
            }
        }
    }

    async fn send_answer(&mut self, answer: &Answer, session: &mut Session) -> Result<(), Stop> {
        let frame = ServerMessage::Answer { question_id: answer.question_id, answer }.encode();
        self.send_text(session, frame).await?;
        self.sent.insert(answer.question_id, answer.seq);
        Ok(())
    }

    async fn send_text(&self, session: &mut Session, text: ByteString) -> Result<(), Stop> {
        self.send(session.text(text)).await
    }

    /// Writes to the socket, but gives up when the hub flags an overflow meanwhile: a peer
    /// that stopped reading must not hold its connection open forever.
    async fn send(&self, write: impl Future<Output = Result<(), actix_ws::Closed>>) -> Result<(), Stop> {
        use futures_util::FutureExt;
        let mut write = std::pin::pin!(write);
        // Usually there is room in actix-ws's channel and the send completes at once; only a
        // send that has to wait needs to watch for the overflow flag (registering that watch
        // on every send would cost a lock per delivery).
        if let Some(sent) = (&mut write).now_or_never() {
            return sent.map_err(|_| Stop::Gone);
        }
        tokio::select! {
            biased;
            () = self.overflow.flagged() => Err(overflowed()),
            sent = write => sent.map_err(|_| Stop::Gone),
        }
    }
}

fn overflowed() -> Stop {
    reason(
        CloseCode::Again,
        "too slow: outbound queue full; resubscribe with after_seq",
        Disconnect::Overflow,
    )
}
