//! The WebSocket transport: the handshake, frames in and out, and the closing handshake. What
//! subscribing means (register before reading, last seq per topic, gap fill) is the
//! transport-free [`Session`]'s, and the connection's loop and clocks (pings, idle, deadlines,
//! overflow, shutdown) are the [`driver`]'s; this module is a [`Link`] for it.
//!
//! `GET /ws` is answered by the App like any request ([`upgrade`]); once it answered 101, the
//! server hands us the bare TCP socket ([`server`](super::server)) and the connection is one
//! task that owns it: it reads the peer's frames, and writes ours straight from their bytes —
//! an event's frame is encoded once and the same bytes go to every subscriber's socket, with no
//! per-connection copy. Nothing is buffered while nothing is in flight: an idle connection holds
//! its socket, its session and its timers. What waits for a slow peer is bounded in bytes
//! ([`MAX_QUEUED_BYTES`]) and in time (`--write-timeout-secs`); the hub only ever `try_send`s
//! into the session's queue, so a slow peer delays nobody else.

use std::{
    collections::VecDeque,
    io::{self, IoSlice},
    rc::Rc,
    sync::Arc,
    time::Duration,
};

use actix_http::ws::{CloseCode, CloseReason, OpCode, Parser, ProtocolError as WsError};
use actix_web::{HttpMessage, HttpRequest, HttpResponse, dev::Extensions, rt::net::TcpStream, web};
use bytes::{Buf, Bytes, BytesMut};
use bytestring::ByteString;

use super::{Context, admission, error::Error, rate::RequestLimit, socket};
use crate::{
    domain::{Credential, DomainError, Topic},
    limits::Slot,
    metrics::Disconnect,
    realtime::{
        driver::{self, Heard, Link},
        hub::{Notification, Overflow},
        session::{Session, Transport, Viewer},
    },
    wire::{self, ErrorCode, ProtocolError},
};

/// Set by the server on a request whose socket it will hand over after a 101: only such a
/// request can become a WebSocket.
#[derive(Debug, Clone, Copy)]
pub struct Upgrading;

/// `GET /ws`: admits the connection and answers 101; the server then starts it on the socket
/// ([`Accepted::start`]).
pub async fn upgrade(req: HttpRequest, ctx: web::Data<Context>) -> Result<HttpResponse, Error> {
    let handshake = actix_http::ws::handshake(req.head());
    let mut handshake = match handshake {
        Ok(handshake) if req.extensions().contains::<Upgrading>() => handshake,
        Ok(_) => return Err(upgrade_required("the request cannot be upgraded")),
        Err(e) => return Err(upgrade_required(&e.to_string())),
    };
    // A page from a site not allowed here gets a plain 403, before any place is taken.
    admission::check_origin(&req, "a WebSocket")?;
    // Refuse over the caps before upgrading, so the client sees a plain HTTP 503.
    let slot = admission::admit(&ctx, &req)?;
    let signed_in = admission::cookie_identity(&ctx, &req).await;
    let mut res = HttpResponse::from(handshake.finish()).map_into_boxed_body();
    res.extensions_mut().insert(Accepted { ctx: ctx.into_inner(), slot, signed_in });
    Ok(res)
}

fn upgrade_required(why: &str) -> Error {
    Error::bad_request("websocket_upgrade_required", format!("This endpoint speaks WebSocket only: {why}."))
}

/// A connection the App accepted: what it needs once the socket is ours.
pub struct Accepted {
    ctx: Arc<Context>,
    /// Its place under the connection caps, held until the socket is closed.
    slot: Slot,
    signed_in: Option<(Viewer, Credential)>,
}

impl Accepted {
    /// Starts the connection on `io`, the socket after the 101; `read` holds what the client
    /// sent after its handshake, `conn_data` the TCP connection's data (its place under the
    /// per-address cap), kept as long as the socket.
    pub fn start(self, io: TcpStream, read: BytesMut, conn_data: Option<Rc<Extensions>>) {
        let Self { ctx, slot, signed_in } = self;
        let settings = *ctx.ws();
        let source = Arc::new(ctx.services().clone());
        let (mut session, inbox) =
            Session::new(ctx.hub().clone(), source, ctx.metrics().clone(), settings.session);
        let credential = signed_in.map(|(viewer, credential)| {
            session.set_viewer(Some(viewer));
            Box::new(credential)
        });
        let overflow = session.overflow();
        if let Some(bytes) = settings.send_buffer {
            socket::bound_send_buffer(&socket2::SockRef::from(&io), bytes);
        }
        let link = Connection {
            out: Socket { io, queue: VecDeque::new(), queued: 0, overflow, deadline: settings.write_timeout },
            unread: !read.is_empty(),
            frames: Frames { buf: read, partial: None, max: settings.max_frame_bytes },
            requests: RequestLimit::new(settings.requests_per_second),
            credential,
            ctx: ctx.clone(),
            _places: (slot, conn_data),
        };
        let clocks = settings.clocks();
        let (shutdown, metrics) = (ctx.shutdown().clone(), ctx.metrics().clone());
        let fut = driver::run(session, inbox, link, clocks, shutdown, metrics, Vec::new());
        tracing::debug!(task_bytes = std::mem::size_of_val(&fut), "connection task");
        actix_web::rt::spawn(fut);
    }
}

/// Why the loop stopped, and what to tell the peer.
pub enum Stop {
    /// The peer is gone or closed; nothing more to send.
    Gone,
    Close(CloseReason, Disconnect),
}

fn reason(code: CloseCode, description: &str, why: Disconnect) -> Stop {
    Stop::Close(CloseReason { code, description: Some(description.to_owned()) }, why)
}

/// How many bytes may wait for a peer's socket before a write has to wait for it (and then
/// counts against the write deadline). Past it, the kernel's send buffer holds the rest.
pub const MAX_QUEUED_BYTES: usize = 64 * 1024;

/// How long a closed connection reads what its peer still sends (see [`Socket::close`]).
const LINGER: Duration = Duration::from_secs(1);

/// At most this many frames go into one `writev`.
const WRITE_BATCH: usize = 16;

/// The socket's sending side. An event's frame is encoded once for all its subscribers
/// ([`Notification::framed`]) and its bytes written as they are.
struct Socket {
    io: TcpStream,
    /// Frames not yet written, the first perhaps in part.
    queue: VecDeque<Bytes>,
    /// Their bytes.
    queued: usize,
    overflow: Arc<Overflow>,
    /// How long one write may wait for the peer to make room.
    deadline: Duration,
}

impl Socket {
    /// Writes what the kernel takes without waiting; the rest stays queued.
    fn flush_now(&mut self) -> Result<(), Stop> {
        while !self.queue.is_empty() {
            let mut slices = [IoSlice::new(&[]); WRITE_BATCH];
            let n = self.queue.len().min(WRITE_BATCH);
            for (slice, frame) in slices.iter_mut().zip(&self.queue) {
                *slice = IoSlice::new(frame);
            }
            match self.io.try_write_vectored(&slices[..n]) {
                Ok(0) => return Err(Stop::Gone),
                Ok(written) => self.advance(written),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(_) => return Err(Stop::Gone),
            }
        }
        // A burst's queue is not kept for the next one.
        if self.queue.capacity() > WRITE_BATCH {
            self.queue = VecDeque::new();
        }
        Ok(())
    }

    fn advance(&mut self, mut written: usize) {
        self.queued -= written;
        while written > 0 {
            let front = self.queue.front_mut().expect("written bytes were queued");
            if written >= front.len() {
                written -= front.len();
                self.queue.pop_front();
            } else {
                front.advance(written);
                written = 0;
            }
        }
    }

    /// Writes until no more than `bound` bytes wait.
    async fn drain_to(&mut self, bound: usize) -> Result<(), Stop> {
        while self.queued > bound {
            if self.io.writable().await.is_err() {
                return Err(Stop::Gone);
            }
            self.flush_now()?;
        }
        Ok(())
    }

    /// Queues a frame and writes what the socket takes. When more than [`MAX_QUEUED_BYTES`]
    /// wait, waits for the peer to take them, but gives up when the hub flags an overflow
    /// meanwhile or the write waits past its deadline: a peer that stopped reading must not
    /// hold its connection (and whatever this task holds to send it, a page of a backlog say)
    /// for ever. While a write waits, this task checks nothing else (pings, idle, shutdown),
    /// so the deadline bounds those too.
    async fn write(&mut self, frame: Bytes) -> Result<(), Stop> {
        self.queued += frame.len();
        self.queue.push_back(frame);
        self.flush_now()?;
        if self.queued <= MAX_QUEUED_BYTES {
            return Ok(());
        }
        let (overflow, deadline) = (self.overflow.clone(), self.deadline);
        tokio::select! {
            biased;
            () = overflow.flagged() => Err(overflowed()),
            done = self.drain_to(MAX_QUEUED_BYTES) => done,
            () = tokio::time::sleep(deadline) => Err(too_slow()),
        }
    }

    async fn pong(&mut self, bytes: &[u8]) -> Result<(), Stop> {
        self.write(frame(OpCode::Pong, control_payload(bytes))).await
    }

    /// The closing handshake, server side: the close frame after what is queued, then our end
    /// of the TCP connection (RFC 6455, 7.1.1: the server closes first). The peer may still be
    /// sending (its close frame, a pong): for up to [`LINGER`], or until it closes its end, that
    /// is read and dropped, so that the peer meets a FIN and not a reset, which would make its
    /// kernel discard what it has not read yet (our close frame among it). Bounded by the
    /// caller too.
    async fn close(&mut self, reason: CloseReason) -> Result<(), Stop> {
        let mut payload = u16::from(reason.code).to_be_bytes().to_vec();
        if let Some(description) = &reason.description {
            payload.extend_from_slice(truncate(description, MAX_CONTROL_PAYLOAD - 2).as_bytes());
        }
        let close = frame(OpCode::Close, &payload);
        self.queued += close.len();
        self.queue.push_back(close);
        self.flush_now()?;
        self.drain_to(0).await?;
        let _ = socket2::SockRef::from(&self.io).shutdown(std::net::Shutdown::Write);
        let lingering = async {
            let mut sink = [0u8; 512];
            loop {
                if self.io.readable().await.is_err() {
                    return;
                }
                match self.io.try_read(&mut sink) {
                    Ok(0) => return,
                    Ok(_) => {}
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(_) => return,
                }
            }
        };
        let _ = tokio::time::timeout(LINGER, lingering).await;
        Ok(())
    }

    /// Cuts the connection off (a peer that took nothing within the close timeout): what is
    /// queued for it is dropped, and the socket reset when it is closed (no linger), so that
    /// neither our frames nor the kernel's send queue stay pinned by it.
    fn cut(&mut self) {
        self.queue = VecDeque::new();
        self.queued = 0;
        socket::reset_on_close(&socket2::SockRef::from(&self.io));
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

/// A message from the peer, its fragments put together.
enum Incoming {
    Text(ByteString),
    Binary,
    Ping(Bytes),
    Pong,
    Close,
}

/// The peer's frames: what was read and not parsed yet, and a message in fragments. Both are
/// empty (no allocation) between messages.
struct Frames {
    buf: BytesMut,
    /// A fragmented message so far: whether it is text, and its bytes.
    partial: Option<(bool, BytesMut)>,
    /// `--max-frame-bytes`: for one frame, and for a message in fragments.
    max: usize,
}

/// How much one read takes from the socket at most.
const READ_CHUNK: usize = 4096;

impl Frames {
    /// Reads what the socket has. `Ok(false)`: nothing yet.
    fn read(&mut self, io: &TcpStream) -> Result<bool, Stop> {
        self.buf.reserve(READ_CHUNK);
        match io.try_read_buf(&mut self.buf) {
            Ok(0) => Err(Stop::Gone),
            Ok(_) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(false),
            Err(_) => Err(Stop::Gone),
        }
    }

    /// The next whole message in what was read, if any.
    fn next(&mut self) -> Result<Option<Incoming>, Stop> {
        loop {
            let parsed = Parser::parse(&mut self.buf, true, self.max);
            if self.buf.is_empty() {
                // Nothing held between messages.
                self.buf = BytesMut::new();
            }
            let (fin, op, payload) = match parsed {
                Ok(Some(frame)) => frame,
                Ok(None) => return Ok(None),
                Err(WsError::Overflow) => return Err(too_large()),
                Err(e) => {
                    tracing::debug!(error = %e, "websocket protocol error");
                    return Err(reason(CloseCode::Protocol, "protocol error", Disconnect::Protocol));
                }
            };
            let payload = payload.unwrap_or_default();
            let message = match (op, &mut self.partial) {
                (OpCode::Text | OpCode::Binary, None) if !fin => {
                    self.partial = Some((op == OpCode::Text, payload));
                    continue;
                }
                (OpCode::Text, None) => text(payload)?,
                (OpCode::Binary, None) => Incoming::Binary,
                (OpCode::Continue, Some((_, sofar))) => {
                    if sofar.len() + payload.len() > self.max {
                        return Err(too_large());
                    }
                    sofar.extend_from_slice(&payload);
                    if !fin {
                        continue;
                    }
                    let (is_text, whole) = self.partial.take().expect("a message in fragments");
                    if is_text { text(whole)? } else { Incoming::Binary }
                }
                (OpCode::Ping, _) => Incoming::Ping(payload.freeze()),
                (OpCode::Pong, _) => Incoming::Pong,
                (OpCode::Close, _) => Incoming::Close,
                _ => return Err(reason(CloseCode::Protocol, "unexpected frame", Disconnect::Protocol)),
            };
            return Ok(Some(message));
        }
    }
}

fn text(payload: BytesMut) -> Result<Incoming, Stop> {
    ByteString::try_from(payload.freeze())
        .map(Incoming::Text)
        .map_err(|_| reason(CloseCode::Invalid, "text frame is not UTF-8", Disconnect::Protocol))
}

fn too_large() -> Stop {
    reason(CloseCode::Size, "frame too large", Disconnect::Protocol)
}

/// A WebSocket, as the connection driver's [`Link`]: the socket both ways, and what the
/// peer's requests need.
struct Connection {
    out: Socket,
    frames: Frames,
    /// Bytes that came with the handshake wait in `frames`, unread.
    unread: bool,
    /// This connection's budget of requests.
    requests: RequestLimit,
    /// The credential the session's viewer rests on (its page's session cookie, or an `auth`
    /// message's token), checked again before every private subscribe. Boxed: most
    /// connections have none, and every connection pays for the field.
    credential: Option<Box<Credential>>,
    /// To check `auth` tokens.
    ctx: Arc<Context>,
    /// The places under the caps (this node's and the address's), until the socket closes.
    _places: (Slot, Option<Rc<Extensions>>),
}

impl Transport for Connection {
    type Stop = Stop;

    async fn send(&mut self, text: ByteString) -> Result<(), Stop> {
        self.out.write(frame(OpCode::Text, text.as_bytes())).await
    }

    async fn send_event(&mut self, n: &Notification) -> Result<(), Stop> {
        self.out.write(n.framed(|text| frame(OpCode::Text, text.as_bytes()))).await
    }

    fn log_unavailable(&self) -> Stop {
        self.stop(Disconnect::Database)
    }
}

impl Link for Connection {
    async fn peer(&self) {
        if !self.unread {
            // An error shows in the read that follows.
            let _ = self.out.io.readable().await;
        }
    }

    /// Reads what the peer sent and carries out each whole message in it.
    async fn on_peer(&mut self, session: &mut Session) -> Result<Heard, Stop> {
        self.unread = false;
        self.frames.read(&self.out.io)?;
        let mut heard = Heard::Nothing;
        while let Some(message) = self.frames.next()? {
            // Pongs answer our pings and do not count as activity.
            let now = if matches!(message, Incoming::Text(_) | Incoming::Binary) {
                Heard::Request
            } else {
                Heard::Alive
            };
            heard = heard.max(now);
            // Boxed: requests are rare, and their futures (database reads included) would
            // otherwise make every idle connection's task that much larger.
            Box::pin(self.on_message(session, message)).await?;
        }
        Ok(heard)
    }

    fn waiting(&self) -> bool {
        self.out.queued > 0
    }

    async fn writable(&self) {
        // An error shows in the write that follows.
        let _ = self.out.io.writable().await;
    }

    fn flush(&mut self) -> Result<(), Stop> {
        self.out.flush_now()
    }

    fn hears_peer(&self) -> bool {
        true
    }

    async fn keep_alive(&mut self) -> Result<(), Stop> {
        self.out.write(frame(OpCode::Ping, b"")).await
    }

    fn stop(&self, why: Disconnect) -> Stop {
        match why {
            Disconnect::Client => Stop::Gone,
            Disconnect::Overflow => overflowed(),
            Disconnect::WriteTimeout => too_slow(),
            Disconnect::Shutdown => reason(CloseCode::Away, "server shutting down", why),
            Disconnect::Idle => reason(CloseCode::Normal, "idle: no subscriptions", why),
            Disconnect::PingTimeout => reason(CloseCode::Policy, "ping timeout", why),
            Disconnect::Protocol => reason(CloseCode::Protocol, "protocol error", why),
            Disconnect::Database => {
                reason(CloseCode::Again, "could not read missed events; resume with after_seq", why)
            }
        }
    }

    fn disconnect(stop: &Stop) -> Disconnect {
        match stop {
            Stop::Gone => Disconnect::Client,
            Stop::Close(_, why) => *why,
        }
    }

    async fn close(&mut self, stop: Stop) {
        if let Stop::Close(reason, _) = stop {
            tracing::debug!(code = ?reason.code, reason = ?reason.description, "closing websocket");
            // Whatever goes wrong, the socket closes when the connection is dropped.
            let _ = self.out.close(reason).await;
        }
    }

    fn cut(&mut self) {
        self.out.cut();
    }
}

impl Connection {
    async fn on_message(&mut self, session: &mut Session, message: Incoming) -> Result<(), Stop> {
        if let Incoming::Text(_) | Incoming::Binary = &message
            && let Err(wait) = self.requests.check()
        {
            // Refused unread: a storm of requests costs a token check each, not a database read.
            let refused = ProtocolError::new(
                ErrorCode::RateLimited,
                format!("Too many requests on this connection; wait {} ms.", wait.as_millis().max(1)),
            );
            return self.send(wire::refused(&refused)).await;
        }
        match message {
            Incoming::Text(text) => match wire::parse(&text) {
                Ok(wire::ClientMessage::Auth { token }) => self.authenticate(session, token).await,
                Ok(request @ wire::ClientMessage::Subscribe { topic: Topic::User(_), .. }) => {
                    // Boxed: rare, and a database read.
                    if Box::pin(self.recheck(session, &request)).await? {
                        session.request(request, self).await
                    } else {
                        Ok(())
                    }
                }
                Ok(request) => session.request(request, self).await,
                Err(refused) => self.send(wire::refused(&refused)).await,
            },
            Incoming::Binary => {
                let refused = ProtocolError::new(
                    ErrorCode::UnsupportedFrame,
                    "Send JSON text frames, not binary ones.",
                );
                self.send(wire::refused(&refused)).await
            }
            Incoming::Ping(bytes) => self.out.pong(&bytes).await,
            Incoming::Pong => Ok(()),
            Incoming::Close => Err(Stop::Close(CloseReason::from(CloseCode::Normal), Disconnect::Client)),
        }
    }
}

impl Connection {
    /// `auth`: from now on the connection acts as the token's identity. A token that does not
    /// check out is refused with `invalid_credentials`, and the connection keeps the identity
    /// it had.
    async fn authenticate(&mut self, session: &mut Session, token: String) -> Result<(), Stop> {
        let credential = Credential::Bearer(token);
        match self.ctx.services().authenticate(&credential).await {
            Ok(auth) => {
                let reply = wire::authenticated(&auth.identity);
                let viewer = admission::viewer(&auth, &credential);
                // Another user's inbox is not this one's: those subscriptions end.
                if session.viewer().is_some_and(|v| v.user_id != viewer.user_id) {
                    let message = "The connection now acts as another user; the inbox subscriptions of the \
                                   previous one ended.";
                    session.end_private(ErrorCode::Forbidden, message, self).await?;
                }
                session.set_viewer(Some(viewer));
                self.credential = Some(Box::new(credential));
                self.send(reply).await
            }
            Err(DomainError::Unauthenticated { message, .. }) => {
                let refused = ProtocolError::new(ErrorCode::InvalidCredentials, message);
                self.send(wire::refused(&refused)).await
            }
            Err(e) => {
                tracing::warn!(conn = session.id(), error = %e, "checking a token");
                let refused =
                    ProtocolError::new(ErrorCode::Unavailable, "Could not check the token; try again.");
                self.send(wire::refused(&refused)).await
            }
        }
    }

    /// Before a private subscribe: checks the connection's credential against the store again
    /// (a revocation on another node, a log-out, an expiry all count at once). `false` when
    /// the request must not go on; the client has been told why.
    async fn recheck(&mut self, session: &mut Session, request: &wire::ClientMessage) -> Result<bool, Stop> {
        let wire::ClientMessage::Subscribe { topic, .. } = request else { return Ok(true) };
        let Some(credential) = self.credential.as_deref() else {
            return Ok(true); // anonymous: the session refuses it as it refuses any
        };
        match self.ctx.services().authenticate(credential).await {
            Ok(auth) => {
                let viewer = admission::viewer(&auth, credential);
                session.set_viewer(Some(viewer));
                Ok(true)
            }
            Err(DomainError::Unauthenticated { .. }) => {
                self.credential = None;
                let message = "The credential this connection acted with was revoked, logged out or has \
                               expired; authenticate again.";
                let code = ErrorCode::CredentialRevoked;
                session.end_private(code.clone(), message, self).await?;
                self.send(wire::refused(&ProtocolError::new(code, message).about(*topic))).await?;
                Ok(false)
            }
            Err(e) => {
                tracing::warn!(conn = session.id(), error = %e, "checking a credential again");
                let refused =
                    ProtocolError::new(ErrorCode::Unavailable, "Could not check the credential; try again.");
                self.send(wire::refused(&refused.about(*topic))).await?;
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

fn too_slow() -> Stop {
    reason(
        CloseCode::Again,
        "too slow: not reading what was sent; resubscribe with after_seq",
        Disconnect::WriteTimeout,
    )
}
