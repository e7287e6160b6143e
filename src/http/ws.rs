//! The WebSocket transport: the upgrade, frames in and out, pings, caps and the close. What
//! subscribing means (register before reading, last seq per topic, gap fill) is the
//! transport-free [`Session`]'s; this module only carries its frames.
//!
//! Each connection is one task that owns its socket. It is the only writer to that socket, so
//! awaiting a slow peer here delays nobody else; the hub only ever `try_send`s into this
//! task's bounded queue.

use std::{sync::Arc, time::Duration};

use actix_web::{HttpRequest, HttpResponse, web};
use actix_ws::{
    AggregatedMessage, AggregatedMessageStream, CloseCode, CloseReason, ProtocolError as WsError,
    Session as WsSession,
};
use bytestring::ByteString;
use tokio::{sync::mpsc, time::Instant};

use super::{Context, client_ip::client_of, error::Error, origin::AllowedOrigins, rate::RequestLimit};
use crate::{
    domain::{Credential, DomainError, Identity},
    limits::{Refused, Slot},
    metrics::{Disconnect, Metrics},
    realtime::{
        hub::{Notification, Overflow},
        session::{Session, Transport},
    },
    wire::{self, ErrorCode, ProtocolError},
};

/// `GET /ws`: upgrades the request and starts the connection's task.
pub async fn upgrade(
    req: HttpRequest,
    body: web::Payload,
    ctx: web::Data<Context>,
) -> Result<HttpResponse, Error> {
    // A page from a site not allowed here gets a plain 403, before any place is taken.
    let own = AllowedOrigins::default();
    if !req.app_data::<AllowedOrigins>().unwrap_or(&own).allow(&req) {
        return Err(Error::Forbidden {
            code: "forbidden_origin",
            message: "Pages from this origin may not open a WebSocket here (see --allowed-origins).".into(),
        });
    }
    // Refuse over the caps before upgrading, so the client sees a plain HTTP 503.
    let ip = client_of(&req);
    let slot = ctx.connections().admit(ip.key()).map_err(|cap| {
        let (label, message) = match cap {
            Refused::Node => {
                ("node", "This server holds as many connections as it may; try another or retry later.")
            }
            Refused::Ip => ("ip", "Too many connections from your address; close some or retry later."),
        };
        ctx.metrics().connections_rejected.with_label_values(&[label]).inc();
        Error::Unavailable(message.into())
    })?;
    // A page of this site opens its socket with the session cookie: that is its identity.
    // A cookie that does not check out leaves the connection anonymous (reading is public).
    let identity = match super::auth::session_cookie(&req) {
        Some(token) => {
            ctx.services().authenticate(&Credential::Session(token)).await.ok().map(|a| Box::new(a.identity))
        }
        None => None,
    };
    let (response, socket, stream) = actix_ws::handle(&req, body).map_err(|e| {
        Error::bad_request("websocket_upgrade_required", format!("This endpoint speaks WebSocket only: {e}."))
    })?;
    let settings = *ctx.ws();
    let max = settings.max_frame_bytes;
    let stream = stream.max_frame_size(max).aggregate_continuations().max_continuation_size(max);
    let source = Arc::new(ctx.services().clone());
    let (session, inbox) = Session::new(ctx.hub().clone(), source, ctx.metrics().clone(), settings.session);
    let overflow = session.overflow();
    let conn = Connection {
        session,
        inbox,
        out: Socket { socket, overflow, deadline: settings.write_timeout },
        shutdown: ctx.shutdown().clone(),
        metrics: ctx.metrics().clone(),
        ping_interval: settings.ping_interval,
        close_timeout: settings.close_timeout,
        idle_timeout: settings.idle_timeout,
        requests: RequestLimit::new(settings.requests_per_second),
        identity,
        ctx: ctx.clone(),
        _slot: slot,
    };
    // The message stream is tied to this worker thread, so the task is spawned locally.
    let fut = conn.run(stream);
    tracing::debug!(task_bytes = std::mem::size_of_val(&fut), "connection task");
    actix_web::rt::spawn(fut);
    Ok(response)
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

/// The socket as a session's [`Transport`].
struct Socket {
    socket: WsSession,
    overflow: Arc<Overflow>,
    /// How long one write may wait for the peer to make room.
    deadline: Duration,
}

impl Socket {
    async fn ping(&mut self, bytes: &[u8]) -> Result<(), Stop> {
        let Self { socket, overflow, deadline } = self;
        write(overflow, *deadline, socket.ping(bytes)).await
    }

    async fn pong(&mut self, bytes: &[u8]) -> Result<(), Stop> {
        let Self { socket, overflow, deadline } = self;
        write(overflow, *deadline, socket.pong(bytes)).await
    }
}

/// Writes to the socket, but gives up when the hub flags an overflow meanwhile or the write
/// waits past its deadline: a peer that stopped reading must not hold its connection (and
/// whatever this task holds to send it, a page of a backlog say) forever, whether or not new
/// events arrive to overflow its queue. While a write waits, this task checks nothing else
/// (pings, idle, shutdown), so the deadline bounds those too.
async fn write(
    overflow: &Overflow,
    deadline: Duration,
    write: impl Future<Output = Result<(), actix_ws::Closed>>,
) -> Result<(), Stop> {
    use futures_util::FutureExt;
    let mut write = std::pin::pin!(write);
    // Usually there is room in actix-ws's channel and the send completes at once; only a send
    // that has to wait needs to watch for the overflow flag (registering that watch on every
    // send would cost a lock per delivery).
    if let Some(sent) = (&mut write).now_or_never() {
        return sent.map_err(|_| Stop::Gone);
    }
    tokio::select! {
        biased;
        () = overflow.flagged() => Err(overflowed()),
        sent = write => sent.map_err(|_| Stop::Gone),
        () = tokio::time::sleep(deadline) => Err(reason(
            CloseCode::Again,
            "too slow: not reading what was sent; resubscribe with after_seq",
            Disconnect::WriteTimeout,
        )),
    }
}

impl Transport for Socket {
    type Stop = Stop;

    async fn send(&mut self, frame: ByteString) -> Result<(), Stop> {
        let Self { socket, overflow, deadline } = self;
        write(overflow, *deadline, socket.text(frame)).await
    }

    fn log_unavailable(&self) -> Stop {
        reason(CloseCode::Again, "could not read missed events; resume with after_seq", Disconnect::Database)
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
    /// Who the connection acts as: its page's session, or an `auth` message's token. Boxed:
    /// most connections have none, and every connection pays for the field.
    identity: Option<Box<Identity>>,
    /// To check `auth` tokens.
    ctx: web::Data<Context>,
    /// Our place under the connection caps, given back when the task ends.
    _slot: Slot,
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
        let user = self.identity.as_ref().map(|i| i.user_id);
        let Self { session, out, close_timeout, .. } = self;
        // Unsubscribes from the hub before the close frame, which may take a while.
        drop(session);
        if let Stop::Close(reason, _) = stop {
            tracing::debug!(conn = id, code = ?reason.code, reason = ?reason.description, "closing websocket");
            // A peer that does not read cannot take the close frame either; give up in time.
            let _ = tokio::time::timeout(close_timeout, out.socket.close(Some(reason))).await;
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
                // Keep-alive: a peer silent for two intervals is presumed dead.
                _ = ping.tick() => {
                    if last_heard.elapsed() > self.ping_interval * 2 {
                        Err(reason(CloseCode::Policy, "ping timeout", Disconnect::PingTimeout))
                    } else {
                        self.out.ping(b"").await
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
            Some(Err(WsError::Overflow)) => {
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
        match self.ctx.services().authenticate(&Credential::Bearer(token)).await {
            Ok(auth) => {
                let reply = wire::authenticated(&auth.identity);
                self.identity = Some(Box::new(auth.identity));
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

fn overflowed() -> Stop {
    reason(
        CloseCode::Again,
        "too slow: outbound queue full; resubscribe with after_seq",
        Disconnect::Overflow,
    )
}
