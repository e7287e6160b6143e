//! The WebSocket transport: the upgrade, frames in and out, pings, caps and the close. What
//! subscribing means (register before reading, last seq per topic, gap fill) is the
//! transport-free [`Session`]'s; this module only carries its frames.
//!
//! Each connection is one task that owns its socket. It is the only writer to that socket, so
//! awaiting a slow peer here delays nobody else; the hub only ever `try_send`s into this
//! task's bounded queue. actix-ws reads the peer's frames; what goes out is encoded here (an
//! event's frame once for all its subscribers) and handed to actix-web by the response body
//! `Frames`, through a small outbox shared with the task on the connection's worker thread.

use std::{
    cell::RefCell,
    collections::VecDeque,
    pin::Pin,
    rc::Rc,
    sync::Arc,
    task::{Context as TaskContext, Poll, Waker},
    time::Duration,
};

use actix_http::ws::{OpCode, Parser};
use actix_web::{
    HttpRequest, HttpResponse,
    body::{BodySize, BoxBody, MessageBody},
    web,
};
use actix_ws::{
    AggregatedMessage, AggregatedMessageStream, CloseCode, CloseReason, ProtocolError as WsError,
};
use bytes::{Bytes, BytesMut};
use bytestring::ByteString;
use tokio::{sync::mpsc, time::Instant};

use super::{
    Context, client_ip::client_of, error::Error, origin::AllowedOrigins, rate::RequestLimit, socket::SocketFd,
};
use crate::{
    domain::{Credential, DomainError, Topic},
    limits::{Refused, Slot},
    metrics::{Disconnect, Metrics},
    realtime::{
        hub::{Notification, Overflow},
        session::{Session, Transport, Viewer},
    },
    service::{Authenticated, auth::credential_id},
    wire::{self, ErrorCode, ProtocolError},
};

/// `GET /ws`: upgrades the request and starts the connection's task.
pub async fn upgrade(
    req: HttpRequest,
    body: web::Payload,
    ctx: web::Data<Context>,
) -> Result<HttpResponse, Error> {
    // A page from a site not allowed here gets a plain 403, before any place is taken.
    check_origin(&req, "a WebSocket")?;
    // Refuse over the caps before upgrading, so the client sees a plain HTTP 503.
    let slot = admit(&ctx, &req)?;
    // A page of this site opens its socket with the session cookie: that is its identity.
    // A cookie that does not check out leaves the connection anonymous (reading is public).
    let mut signed_in = None;
    if let Some(token) = super::auth::session_cookie(&req) {
        let credential = Credential::Session(token);
        if let Ok(auth) = ctx.services().authenticate(&credential).await {
            signed_in = Some((viewer(&auth, &credential), Box::new(credential)));
        }
    }
    // actix-ws reads the peer's frames; what we send goes through our own body (`Frames`).
    let (response, _, stream) = actix_ws::handle(&req, body).map_err(|e| {
        Error::bad_request("websocket_upgrade_required", format!("This endpoint speaks WebSocket only: {e}."))
    })?;
    let outbox = Rc::new(RefCell::new(Outbox::default()));
    // The place under the caps goes with the body: it comes back when the dispatcher lets go
    // of the connection, not when our task ends (a peer that does not read outlives both).
    let response = response
        .map_body(|_, inbound| Frames { outbox: outbox.clone(), _inbound: inbound, _slot: slot })
        .map_into_boxed_body();
    let fd = req.conn_data::<SocketFd>().copied();
    let settings = *ctx.ws();
    let max = settings.max_frame_bytes;
    let stream = stream.max_frame_size(max).aggregate_continuations().max_continuation_size(max);
    let source = Arc::new(ctx.services().clone());
    let (mut session, inbox) =
        Session::new(ctx.hub().clone(), source, ctx.metrics().clone(), settings.session);
    let credential = signed_in.map(|(viewer, credential)| {
        session.set_viewer(Some(viewer));
        credential
    });
    let overflow = session.overflow();
    let conn = Connection {
        session,
        inbox,
        out: Socket { outbox, overflow, deadline: settings.write_timeout, fd },
        shutdown: ctx.shutdown().clone(),
        metrics: ctx.metrics().clone(),
        ping_interval: settings.ping_interval,
        close_timeout: settings.close_timeout,
        idle_timeout: settings.idle_timeout,
        requests: RequestLimit::new(settings.requests_per_second),
        credential,
        ctx: ctx.clone(),
    };
    // The message stream is tied to this worker thread, so the task is spawned locally.
    let fut = conn.run(stream);
    tracing::debug!(task_bytes = std::mem::size_of_val(&fut), "connection task");
    actix_web::rt::spawn(fut);
    Ok(response)
}

/// Who a session acts for after `credential` checked out as `auth`.
pub(super) fn viewer(auth: &Authenticated, credential: &Credential) -> Viewer {
    Viewer {
        user_id: auth.identity.user_id,
        credential: credential_id(credential),
        expires_at: auth.expires_at,
    }
}

/// Refuses (403) a page from an origin `--allowed-origins` does not name, before a long-lived
/// connection (`what`: a WebSocket, an event stream) takes any place.
pub(super) fn check_origin(req: &HttpRequest, what: &str) -> Result<(), Error> {
    let own = AllowedOrigins::default();
    if req.app_data::<AllowedOrigins>().unwrap_or(&own).allow(req) {
        return Ok(());
    }
    Err(Error::Forbidden {
        code: "forbidden_origin",
        message: format!("Pages from this origin may not open {what} here (see --allowed-origins)."),
    })
}

/// A place under the connection caps (per node, per client address) for a long-lived
/// connection — a WebSocket or an event stream — or a 503 saying which cap is full.
pub(super) fn admit(ctx: &Context, req: &HttpRequest) -> Result<Slot, Error> {
    let ip = client_of(req);
    ctx.connections().admit(ip.key()).map_err(|cap| {
        let (label, message) = match cap {
            Refused::Node => {
                ("node", "This server holds as many connections as it may; try another or retry later.")
            }
            Refused::Ip => ("ip", "Too many connections from your address; close some or retry later."),
        };
        ctx.metrics().connections_rejected.with_label_values(&[label]).inc();
        Error::Unavailable(message.into())
    })
}

/// Why the loop stopped, and what to tell the peer.
pub enum Stop {
    /// The peer is gone or closed; nothing more to send.
    Gone,
    Close(CloseReason, Disconnect),
}

/// Whether the peer sent more than `--max-frame-bytes`: one frame (`Overflow`), or a message
/// in fragments that add up to more. actix-ws 0.4 reports the latter as an I/O error with
/// this text (`aggregated.rs`, `size_error`), not as `Overflow`; the ws test
/// `a_fragmented_message_over_the_cap_closes_with_1009` notices if that changes.
fn too_large(e: &WsError) -> bool {
    match e {
        WsError::Overflow => true,
        WsError::Io(io) => {
            io.kind() == std::io::ErrorKind::Other && io.to_string() == "Exceeded maximum continuation size"
        }
        _ => false,
    }
}

fn reason(code: CloseCode, description: &str, why: Disconnect) -> Stop {
    Stop::Close(CloseReason { code, description: Some(description.to_owned()) }, why)
}

/// How many encoded frames may wait for the socket before a write has to wait (and then
/// counts against the write deadline).
const OUTBOUND_FRAMES: usize = 32;

/// The socket's sending side, as a session's [`Transport`]. Frames are encoded here, and an
/// event's frame once for all its subscribers ([`Notification::framed`]); the response body
/// ([`Frames`]) hands them to actix-web as they are, so a delivery costs no encoding, copy or
/// allocation per connection before the socket write.
struct Socket {
    outbox: Rc<RefCell<Outbox>>,
    overflow: Arc<Overflow>,
    /// How long one write may wait for the peer to make room.
    deadline: Duration,
    /// The connection's socket, to cut off a peer that takes nothing (`None`: not plain TCP).
    fd: Option<SocketFd>,
}

impl Socket {
    async fn ping(&mut self, bytes: &[u8]) -> Result<(), Stop> {
        self.write(frame(OpCode::Ping, control_payload(bytes))).await
    }

    async fn pong(&mut self, bytes: &[u8]) -> Result<(), Stop> {
        self.write(frame(OpCode::Pong, control_payload(bytes))).await
    }

    /// Sends the close frame and ends the body after it, then waits until the body is gone:
    /// until the dispatcher has taken every frame and let go of the connection. The caller
    /// bounds the wait, and cuts the connection off when it runs out ([`Socket::cut`]).
    async fn close(&self, reason: CloseReason) {
        let mut payload = u16::from(reason.code).to_be_bytes().to_vec();
        if let Some(description) = &reason.description {
            payload.extend_from_slice(truncate(description, MAX_CONTROL_PAYLOAD - 2).as_bytes());
        }
        // Waits for room even when the connection overflowed (closing it is the point).
        let _ = self.queue(frame(OpCode::Close, &payload)).await;
        self.finish();
        std::future::poll_fn(|cx| {
            let mut outbox = self.outbox.borrow_mut();
            if outbox.gone {
                Poll::Ready(())
            } else {
                outbox.writer = Some(cx.waker().clone());
                Poll::Pending
            }
        })
        .await;
    }

    /// No more frames: the body ends after those queued.
    fn finish(&self) {
        let mut outbox = self.outbox.borrow_mut();
        outbox.finished = true;
        outbox.wake(Side::Reader);
    }

    /// Cuts the connection off (a peer that took nothing within the close timeout): what is
    /// queued for it is dropped, and its socket reset, so that neither our frames nor the
    /// dispatcher's buffers nor the kernel's send queue stay pinned by it.
    fn cut(&self) {
        let mut outbox = self.outbox.borrow_mut();
        outbox.frames.clear();
        // The body alive means the dispatcher still holds the socket: it is ours to cut.
        if !outbox.gone
            && let Some(fd) = self.fd
        {
            fd.cut();
        }
    }

    /// Queues a frame for the socket, but gives up when the hub flags an overflow meanwhile
    /// or the write waits past its deadline: a peer that stopped reading must not hold its
    /// connection (and whatever this task holds to send it, a page of a backlog say) forever,
    /// whether or not new events arrive to overflow its queue. While a write waits, this task
    /// checks nothing else (pings, idle, shutdown), so the deadline bounds those too.
    async fn write(&mut self, frame: Bytes) -> Result<(), Stop> {
        use futures_util::FutureExt;
        let mut queued = std::pin::pin!(self.queue(frame));
        // Usually there is room and the frame is queued at once; only a write that has to
        // wait needs to watch for the overflow flag (registering that watch on every write
        // would cost a lock per delivery).
        if let Some(done) = (&mut queued).now_or_never() {
            return done;
        }
        tokio::select! {
            biased;
            () = self.overflow.flagged() => Err(overflowed()),
            done = queued => done,
            () = tokio::time::sleep(self.deadline) => Err(reason(
                CloseCode::Again,
                "too slow: not reading what was sent; resubscribe with after_seq",
                Disconnect::WriteTimeout,
            )),
        }
    }
}

impl Socket {
    /// Queues a frame once there is room.
    async fn queue(&self, frame: Bytes) -> Result<(), Stop> {
        let mut frame = Some(frame);
        std::future::poll_fn(|cx| {
            let mut outbox = self.outbox.borrow_mut();
            if outbox.gone {
                Poll::Ready(Err(Stop::Gone))
            } else if outbox.frames.len() < OUTBOUND_FRAMES {
                outbox.push(frame.take().expect("queued once"));
                Poll::Ready(Ok(()))
            } else {
                outbox.writer = Some(cx.waker().clone());
                Poll::Pending
            }
        })
        .await
    }
}

impl Drop for Socket {
    /// The body ends after the frames already queued (a close frame last, when there is one).
    fn drop(&mut self) {
        self.finish();
    }
}

impl Transport for Socket {
    type Stop = Stop;

    async fn send(&mut self, text: ByteString) -> Result<(), Stop> {
        self.write(frame(OpCode::Text, text.as_bytes())).await
    }

    async fn send_event(&mut self, n: &Notification) -> Result<(), Stop> {
        self.write(n.framed(|text| frame(OpCode::Text, text.as_bytes()))).await
    }

    fn log_unavailable(&self) -> Stop {
        reason(CloseCode::Again, "could not read missed events; resume with after_seq", Disconnect::Database)
    }
}

/// A control frame's payload is at most 125 bytes (RFC 6455, 5.5).
const MAX_CONTROL_PAYLOAD: usize = 125;

fn control_payload(bytes: &[u8]) -> &[u8] {
    &bytes[..bytes.len().min(MAX_CONTROL_PAYLOAD)]
}

fn truncate(text: &str, max: usize) -> &str {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// One unmasked, final server frame.
fn frame(op: OpCode, payload: &[u8]) -> Bytes {
    let mut buf = BytesMut::with_capacity(payload.len() + 10);
    Parser::write_message(&mut buf, payload, op, true, false);
    buf.freeze()
}

/// Frames on their way to the socket: pushed by the connection's task, taken by its response
/// body. Both run on the connection's worker thread, so this is a plain `RefCell` queue with a
/// waker each way, not a channel: a tokio channel allocates a 32-slot block up front, which
/// every idle connection would carry.
#[derive(Default)]
struct Outbox {
    frames: VecDeque<Bytes>,
    /// The body, waiting for a frame.
    reader: Option<Waker>,
    /// The task, waiting for room.
    writer: Option<Waker>,
    /// The task dropped its socket: the body ends once the queue is empty.
    finished: bool,
    /// The body is gone (the peer closed, or the server dropped the connection).
    gone: bool,
}

#[derive(Clone, Copy)]
enum Side {
    Reader,
    Writer,
}

impl Outbox {
    fn push(&mut self, frame: Bytes) {
        self.frames.push_back(frame);
        self.wake(Side::Reader);
    }

    fn wake(&mut self, side: Side) {
        let waker = match side {
            Side::Reader => self.reader.take(),
            Side::Writer => self.writer.take(),
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

/// An upgraded connection's response body: the frames of its [`Socket`], in order; it ends
/// when the socket is dropped and its last frame is out.
struct Frames {
    outbox: Rc<RefCell<Outbox>>,
    /// actix-ws's own response body, never polled (nothing is sent through actix-ws): its
    /// drop is how actix-ws's inbound stream learns that the connection is gone, so it lives
    /// exactly as long as this body.
    _inbound: BoxBody,
    /// Our place under the connection caps, for as long as the dispatcher holds the
    /// connection.
    _slot: Slot,
}

impl MessageBody for Frames {
    type Error = std::convert::Infallible;

    fn size(&self) -> BodySize {
        BodySize::Stream
    }

    fn poll_next(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<Result<Bytes, Self::Error>>> {
        let mut outbox = self.outbox.borrow_mut();
        if let Some(frame) = outbox.frames.pop_front() {
            outbox.wake(Side::Writer);
            return Poll::Ready(Some(Ok(frame)));
        }
        if outbox.finished {
            return Poll::Ready(None);
        }
        outbox.reader = Some(cx.waker().clone());
        Poll::Pending
    }
}

impl Drop for Frames {
    fn drop(&mut self) {
        let mut outbox = self.outbox.borrow_mut();
        outbox.gone = true;
        outbox.frames.clear();
        outbox.wake(Side::Writer);
    }
}

struct Connection {
    session: Session,
    inbox: mpsc::Receiver<Arc<Notification>>,
    out: Socket,
    shutdown: tokio_util::sync::CancellationToken,
    metrics: Arc<Metrics>,
    ping_interval: Duration,
    close_timeout: Duration,
    idle_timeout: Option<Duration>,
    /// This connection's budget of requests.
    requests: RequestLimit,
    /// The credential the session's viewer rests on (its page's session cookie, or an `auth`
    /// message's token), checked again before every private subscribe. Boxed: most
    /// connections have none, and every connection pays for the field.
    credential: Option<Box<Credential>>,
    /// To check `auth` tokens.
    ctx: web::Data<Context>,
}

impl Connection {
    async fn run(mut self, mut stream: AggregatedMessageStream) {
        let id = self.session.id();
        tracing::debug!(conn = id, "websocket open");
        self.metrics.connections_open.inc();
        let stop = self.serve(&mut stream).await;
        self.metrics.connections_open.dec();
        self.metrics.disconnected(match &stop {
            Stop::Gone => Disconnect::Client,
            Stop::Close(_, why) => *why,
        });
        let user = self.session.viewer().map(|v| v.user_id);
        let Self { session, out, close_timeout, .. } = self;
        // Unsubscribes from the hub before the close frame, which may take a while.
        drop(session);
        if let Stop::Close(reason, _) = stop {
            tracing::debug!(conn = id, code = ?reason.code, reason = ?reason.description, "closing websocket");
            // A peer that does not read cannot take the close frame either: give up in time,
            // and cut the connection off rather than leave it to the dispatcher for ever.
            if tokio::time::timeout(close_timeout, out.close(reason)).await.is_err() {
                tracing::debug!(conn = id, "cutting off a peer that does not read");
                out.cut();
            }
        }
        tracing::debug!(conn = id, ?user, "websocket done");
    }

    async fn serve(&mut self, stream: &mut AggregatedMessageStream) -> Stop {
        let mut ping = tokio::time::interval_at(Instant::now() + self.ping_interval, self.ping_interval);
        let mut last_heard = Instant::now();
        // Far future when disabled, so the branch below never fires.
        let idle_after = self.idle_timeout.unwrap_or(Duration::from_secs(100 * 365 * 86_400));
        let idle = tokio::time::sleep(idle_after);
        // Created once, not per loop turn: each creation registers a waiter, and the shutdown
        // token's waiter list is one mutex shared by every connection.
        let (overflow, shutdown) = (self.out.overflow.clone(), self.shutdown.clone());
        let flagged = overflow.flagged();
        let cancelled = shutdown.cancelled();
        tokio::pin!(idle, flagged, cancelled);
        loop {
            let step = tokio::select! {
                biased;
                // In order of frequency: every branch polled before the ready one costs its
                // poll, and the overflow and shutdown signals take a lock per poll. Neither
                // needs to overtake what is queued: an overflowed session's topics have
                // already dropped it, and the queue is bounded.
                // A request (or control frame) from the peer.
                frame = stream.recv() => {
                    last_heard = Instant::now();
                    // Pongs answer our pings and do not count as activity.
                    if matches!(frame, Some(Ok(AggregatedMessage::Text(_) | AggregatedMessage::Binary(_)))) {
                        idle.as_mut().reset(last_heard + idle_after);
                    }
                    // Boxed: requests are rare, and their futures (database reads included)
                    // would otherwise make every idle connection's task that much larger.
                    Box::pin(self.on_frame(frame)).await
                }
                // An event on one of our topics.
                Some(n) = self.inbox.recv() => self.session.deliver(&n, &mut self.out).await,
                // The hub dropped us because our queue was full; tell the peer how to resume.
                () = &mut flagged => Err(overflowed()),
                // The server is shutting down; peers should reconnect elsewhere.
                () = &mut cancelled => {
                    Err(reason(CloseCode::Away, "server shutting down", Disconnect::Shutdown))
                }
                // No subscriptions and no requests for a while: free the place for others.
                () = &mut idle, if self.session.is_idle() => {
                    Err(reason(CloseCode::Normal, "idle: no subscriptions", Disconnect::Idle))
                }
                // Keep-alive: a peer silent for two intervals is presumed dead.
                _ = ping.tick() => {
                    if last_heard.elapsed() > self.ping_interval * 2 {
                        Err(reason(CloseCode::Policy, "ping timeout", Disconnect::PingTimeout))
                    } else {
                        // A credential that expired ends the private subscriptions within a
                        // ping interval.
                        match self.session.expire(chrono::Utc::now(), &mut self.out).await {
                            Ok(()) => self.out.ping(b"").await,
                            stop => stop,
                        }
                    }
                }
            };
            if let Err(stop) = step {
                return stop;
            }
        }
    }

    async fn on_frame(&mut self, frame: Option<Result<AggregatedMessage, WsError>>) -> Result<(), Stop> {
        if let Some(Ok(AggregatedMessage::Text(_) | AggregatedMessage::Binary(_))) = &frame
            && let Err(wait) = self.requests.check()
        {
            // Refused unread: a storm of requests costs a token check each, not a database read.
            let refused = ProtocolError::new(
                ErrorCode::RateLimited,
                format!("Too many requests on this connection; wait {} ms.", wait.as_millis().max(1)),
            );
            return self.out.send(wire::refused(&refused)).await;
        }
        match frame {
            None => Err(Stop::Gone),
            Some(Ok(AggregatedMessage::Text(text))) => match wire::parse(&text) {
                Ok(wire::ClientMessage::Auth { token }) => self.authenticate(token).await,
                Ok(request @ wire::ClientMessage::Subscribe { topic: Topic::User(_), .. }) => {
                    // Boxed: rare, and a database read.
                    if Box::pin(self.recheck(&request)).await? {
                        self.session.request(request, &mut self.out).await
                    } else {
                        Ok(())
                    }
                }
                Ok(request) => self.session.request(request, &mut self.out).await,
                Err(refused) => self.out.send(wire::refused(&refused)).await,
            },
            Some(Ok(AggregatedMessage::Binary(_))) => {
                let refused = ProtocolError::new(
                    ErrorCode::UnsupportedFrame,
                    "Send JSON text frames, not binary ones.",
                );
                self.out.send(wire::refused(&refused)).await
            }
            Some(Ok(AggregatedMessage::Ping(bytes))) => self.out.pong(&bytes).await,
            Some(Ok(AggregatedMessage::Pong(_))) => Ok(()),
            Some(Ok(AggregatedMessage::Close(_))) => {
                Err(Stop::Close(CloseReason::from(CloseCode::Normal), Disconnect::Client))
            }
            Some(Err(e)) if too_large(&e) => {
                Err(reason(CloseCode::Size, "frame too large", Disconnect::Protocol))
            }
            Some(Err(e)) => {
                tracing::debug!(conn = self.session.id(), error = %e, "websocket protocol error");
                Err(reason(CloseCode::Protocol, "protocol error", Disconnect::Protocol))
            }
        }
    }
}

impl Connection {
    /// `auth`: from now on the connection acts as the token's identity. A token that does not
    /// check out is refused with `invalid_credentials`, and the connection keeps the identity
    /// it had.
    async fn authenticate(&mut self, token: String) -> Result<(), Stop> {
        let credential = Credential::Bearer(token);
        match self.ctx.services().authenticate(&credential).await {
            Ok(auth) => {
                let reply = wire::authenticated(&auth.identity);
                let viewer = viewer(&auth, &credential);
                // Another user's inbox is not this one's: those subscriptions end.
                if self.session.viewer().is_some_and(|v| v.user_id != viewer.user_id) {
                    let message = "The connection now acts as another user; the inbox subscriptions of the \
                                   previous one ended.";
                    self.session.end_private(ErrorCode::Forbidden, message, &mut self.out).await?;
                }
                self.session.set_viewer(Some(viewer));
                self.credential = Some(Box::new(credential));
                self.out.send(reply).await
            }
            Err(DomainError::Unauthenticated { message, .. }) => {
                let refused = ProtocolError::new(ErrorCode::InvalidCredentials, message);
                self.out.send(wire::refused(&refused)).await
            }
            Err(e) => {
                tracing::warn!(conn = self.session.id(), error = %e, "checking a token");
                let refused =
                    ProtocolError::new(ErrorCode::Unavailable, "Could not check the token; try again.");
                self.out.send(wire::refused(&refused)).await
            }
        }
    }
}

impl Connection {
    /// Before a private subscribe: checks the connection's credential against the store again
    /// (a revocation on another node, a log-out, an expiry all count at once). `false` when
    /// the request must not go on; the client has been told why.
    async fn recheck(&mut self, request: &wire::ClientMessage) -> Result<bool, Stop> {
        let wire::ClientMessage::Subscribe { topic, .. } = request else { return Ok(true) };
        let Some(credential) = self.credential.as_deref() else {
            return Ok(true); // anonymous: the session refuses it as it refuses any
        };
        match self.ctx.services().authenticate(credential).await {
            Ok(auth) => {
                let viewer = viewer(&auth, credential);
                self.session.set_viewer(Some(viewer));
                Ok(true)
            }
            Err(DomainError::Unauthenticated { .. }) => {
                self.credential = None;
                let message = "The credential this connection acted with was revoked, logged out or has \
                               expired; authenticate again.";
                let code = ErrorCode::CredentialRevoked;
                self.session.end_private(code.clone(), message, &mut self.out).await?;
                self.out.send(wire::refused(&ProtocolError::new(code, message).about(*topic))).await?;
                Ok(false)
            }
            Err(e) => {
                tracing::warn!(conn = self.session.id(), error = %e, "checking a credential again");
                let refused =
                    ProtocolError::new(ErrorCode::Unavailable, "Could not check the credential; try again.");
                self.out.send(wire::refused(&refused.about(*topic))).await?;
                Ok(false)
            }
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
