//! One long-lived connection's life, whatever carries it (a WebSocket, an event stream): the
//! loop that feeds its [`Session`] and watches its clocks, and its end. A transport is a
//! [`Link`]: how a frame is written, what the peer sends, how the peer is told goodbye. What
//! they share is here, once:
//!
//! - **deliveries**: each notification from the session's queue goes through
//!   [`Session::deliver`] to the link;
//! - **the peer**: whatever it sends is the link's to read and carry out ([`Link::on_peer`]);
//! - **keep-alive**: a ping or heartbeat every `ping_interval`, a peer silent for two of them
//!   presumed gone (for a link that hears its peer), and a credential that expired ends the
//!   private subscriptions within an interval;
//! - **idle**: a connection with no subscription is closed `idle_timeout` after its last
//!   request or after it lost its last subscription;
//! - **the write deadline**: bytes that wait for the peer longer than `write_timeout` end the
//!   connection (a peer that does not read);
//! - **overflow and shutdown**: the hub dropped the session for not draining its queue, or
//!   the server is going away;
//! - **the end**: the metrics, the session dropped (it leaves the hub before the goodbye, which
//!   may take a while), then the link's goodbye bounded by `close_timeout`, past which the link
//!   is cut off.

use std::{sync::Arc, time::Duration};

use tokio::{sync::mpsc, time::Instant};
use tokio_util::sync::CancellationToken;

use super::{
    hub::Notification,
    session::{Session, Transport},
};
use crate::{
    metrics::{Disconnect, Metrics},
    wire::ClientMessage,
};

/// The clocks of a connection.
#[derive(Debug, Clone, Copy)]
pub struct Clocks {
    pub ping_interval: Duration,
    /// `None` keeps connections with no subscription.
    pub idle_timeout: Option<Duration>,
    /// How long bytes may wait for the peer.
    pub write_timeout: Duration,
    /// How long the goodbye may take.
    pub close_timeout: Duration,
}

/// What the peer did, as [`Link::on_peer`] saw it; each is more than the one before.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Heard {
    /// Nothing whole yet.
    Nothing,
    /// A control message (a pong, a ping): the peer is alive.
    Alive,
    /// A request: the peer is alive and active (the idle clock starts again).
    Request,
}

/// A transport, as the driver sees it.
pub trait Link: Transport {
    /// Resolves when the peer may have sent something, or is gone.
    fn peer(&self) -> impl Future<Output = ()>;
    /// Reads what the peer sent and carries out its requests on `session`.
    fn on_peer(&mut self, session: &mut Session) -> impl Future<Output = Result<Heard, Self::Stop>>;
    /// Whether bytes wait for the peer to take them (the write deadline runs meanwhile).
    fn waiting(&self) -> bool {
        false
    }
    /// Resolves when the peer may take more of what waits.
    fn writable(&self) -> impl Future<Output = ()> {
        std::future::pending()
    }
    /// Writes what the peer takes now of what waits.
    fn flush(&mut self) -> Result<(), Self::Stop> {
        Ok(())
    }
    /// Whether the link hears its peer (a WebSocket's pongs), so that a silent peer can be
    /// presumed gone. An event stream has no way back.
    fn hears_peer(&self) -> bool;
    /// The keep-alive: a ping, a heartbeat.
    fn keep_alive(&mut self) -> impl Future<Output = Result<(), Self::Stop>>;
    /// The stop that says `why` to the peer.
    fn stop(&self, why: Disconnect) -> Self::Stop;
    /// Why `stop` ended the connection, for the metrics.
    fn disconnect(stop: &Self::Stop) -> Disconnect;
    /// Tells the peer goodbye after `stop` and lets it take what is queued; bounded by the
    /// driver's close timeout.
    fn close(&mut self, stop: Self::Stop) -> impl Future<Output = ()>;
    /// The goodbye took too long: drops what is queued and resets the connection.
    fn cut(&mut self);
}

/// Far future, for a clock that is off.
const NEVER: Duration = Duration::from_secs(100 * 365 * 86_400);

/// Runs a connection until it ends, then ends it. `opening`: requests to carry out first (an
/// event stream's topics).
pub async fn run<L: Link>(
    mut session: Session,
    mut inbox: mpsc::Receiver<Arc<Notification>>,
    mut link: L,
    clocks: Clocks,
    shutdown: CancellationToken,
    metrics: Arc<Metrics>,
    opening: Vec<ClientMessage>,
) {
    let id = session.id();
    tracing::debug!(conn = id, "connection open");
    metrics.connections_open.inc();
    let opened = async {
        for request in opening {
            session.request(request, &mut link).await?;
        }
        Ok(())
    };
    let stop = match opened.await {
        Ok(()) => serve(&mut session, &mut inbox, &mut link, clocks, &shutdown).await,
        Err(stop) => stop,
    };
    metrics.connections_open.dec();
    metrics.disconnected(L::disconnect(&stop));
    let user = session.viewer().map(|v| v.user_id);
    // Out of the hub before the goodbye, which may take a while.
    drop((session, inbox));
    if tokio::time::timeout(clocks.close_timeout, link.close(stop)).await.is_err() {
        // A peer that does not read cannot take the goodbye either.
        tracing::debug!(conn = id, "cutting off a peer that does not read");
        link.cut();
    }
    tracing::debug!(conn = id, ?user, "connection done");
}

async fn serve<L: Link>(
    session: &mut Session,
    inbox: &mut mpsc::Receiver<Arc<Notification>>,
    link: &mut L,
    clocks: Clocks,
    shutdown: &CancellationToken,
) -> L::Stop {
    let interval = clocks.ping_interval;
    let mut ping = tokio::time::interval_at(Instant::now() + interval, interval);
    let mut last_heard = Instant::now();
    let idle_after = clocks.idle_timeout.unwrap_or(NEVER);
    let idle = tokio::time::sleep(idle_after);
    // Armed while bytes wait for the peer.
    let stalled = tokio::time::sleep(NEVER);
    // Created once, not per loop turn: each creation registers a waiter, and the shutdown
    // token's waiter list is one mutex shared by every connection.
    let overflow = session.overflow();
    let flagged = overflow.flagged();
    let cancelled = shutdown.cancelled();
    tokio::pin!(idle, stalled, flagged, cancelled);
    let (mut was_idle, mut was_waiting) = (session.is_idle(), link.waiting());
    loop {
        let step = tokio::select! {
            biased;
            // In order of frequency: every branch polled before the ready one costs its poll,
            // and the overflow and shutdown signals take a lock per poll. Neither needs to
            // overtake what is queued: an overflowed session's topics have already dropped
            // it, and the queue is bounded.
            () = link.peer() => match link.on_peer(session).await {
                Ok(Heard::Nothing) => Ok(()),
                Ok(heard) => {
                    last_heard = Instant::now();
                    if heard == Heard::Request {
                        idle.as_mut().reset(last_heard + idle_after);
                    }
                    Ok(())
                }
                Err(stop) => Err(stop),
            },
            Some(n) = inbox.recv() => session.deliver(&n, link).await,
            () = link.writable(), if was_waiting => link.flush(),
            () = &mut stalled, if was_waiting => Err(link.stop(Disconnect::WriteTimeout)),
            () = &mut flagged => Err(link.stop(Disconnect::Overflow)),
            () = &mut cancelled => Err(link.stop(Disconnect::Shutdown)),
            () = &mut idle, if session.is_idle() => Err(link.stop(Disconnect::Idle)),
            _ = ping.tick() => {
                if link.hears_peer() && last_heard.elapsed() > interval * 2 {
                    Err(link.stop(Disconnect::PingTimeout))
                } else {
                    match session.expire(chrono::Utc::now(), link).await {
                        Ok(()) => link.keep_alive().await,
                        stop => stop,
                    }
                }
            }
        };
        if let Err(stop) = step {
            return stop;
        }
        // The idle clock starts when the last subscription goes (a revocation, say).
        let is_idle = session.is_idle();
        if is_idle && !was_idle {
            idle.as_mut().reset(Instant::now() + idle_after);
        }
        // The write deadline starts when bytes are left waiting, and stops when none are.
        let waiting = link.waiting();
        if waiting && !was_waiting {
            stalled.as_mut().reset(Instant::now() + clocks.write_timeout);
        }
        (was_idle, was_waiting) = (is_idle, waiting);
    }
}
