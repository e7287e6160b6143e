//! What every broker that talks to a server shares: whether this node hears the other
//! nodes right now (the state behind [`super::Broker::problem`] and `/readyz`), the catch-up
//! from the event log after each (re)connect, retried until it succeeds, and the one backoff
//! all of it waits by.
//!
//! A broker's connection goes through numbered generations, one per (re)connect. The node is
//! ready while a connection is live *and* that connection's catch-up has completed: between a
//! loss and that moment the other nodes' events may be passing it by, so it says so. Each
//! broker reports the transitions ([`Link::connected`], [`Link::lost`]) from wherever its
//! client tells it of them; what follows is the same for all.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use tokio_util::sync::CancellationToken;

use crate::{
    domain::{DomainError, Topic},
    realtime::{self, Hub},
    store::Store,
};

/// Most events per topic that a catch-up publishes. A node cut off for longer publishes only
/// the newest ones: its sessions see the gap and read the rest from the log themselves,
/// page by page, instead of overflowing their queues.
const CATCH_UP_MAX_PER_TOPIC: i64 = 100;
/// Watched topics caught up per query.
const CATCH_UP_CHUNK: usize = 1000;

/// Publishes from the event log what the hub has not handed out yet, for each of `watched`
/// (a topic and the hub's `delivered` seq for it, as [`Hub::watched`] lists them); one query
/// per chunk of topics on Postgres. Returns how many events it published.
///
/// A topic whose `delivered` is 0 has had no event through this hub since its first
/// subscriber came, so the hub cannot tell what its sessions lack (each read the log up to
/// the head when it subscribed): such a topic gets only its newest event, and a session that
/// is behind fills the gap before it from the log, as it does for any gap. The others get at
/// most their newest [`CATCH_UP_MAX_PER_TOPIC`] events after `delivered`.
pub async fn catch_up(store: &Store, hub: &Arc<Hub>, watched: &[(Topic, i64)]) -> Result<usize, DomainError> {
    let (fresh, known): (Vec<_>, Vec<_>) = watched.iter().partition(|(_, delivered)| *delivered == 0);
    let mut published = 0;
    for (topics, max_per_topic) in [(known, CATCH_UP_MAX_PER_TOPIC), (fresh, 1)] {
        for chunk in topics.chunks(CATCH_UP_CHUNK) {
            let events = store.events_after_each(chunk, max_per_topic).await?;
            realtime::publish(hub, &events);
            published += events.len();
        }
    }
    Ok(published)
}

/// Exponential backoff between attempts (reconnects, catch-ups): from [`Backoff::MIN`],
/// doubling, up to [`Backoff::MAX`].
#[derive(Debug)]
pub struct Backoff {
    next: Duration,
}

impl Backoff {
    pub const MIN: Duration = Duration::from_millis(100);
    pub const MAX: Duration = Duration::from_secs(5);

    pub fn new() -> Self {
        Self { next: Self::MIN }
    }

    /// How long the next [`Self::wait`] sleeps.
    pub fn next(&self) -> Duration {
        self.next
    }

    /// The wait before attempt number `attempts` (the first is 1), for a client that counts
    /// its attempts itself (async-nats's reconnects).
    pub fn nth(attempts: usize) -> Duration {
        let exponent = attempts.saturating_sub(1).min(16) as u32;
        (Self::MIN * 2u32.pow(exponent)).min(Self::MAX)
    }

    /// Sleeps [`Self::next`], then doubles it; false, at once, if `shutdown` comes first.
    pub async fn wait(&mut self, shutdown: &CancellationToken) -> bool {
        tokio::select! {
            () = shutdown.cancelled() => return false,
            () = tokio::time::sleep(self.next) => {}
        }
        self.next = (self.next * 2).min(Self::MAX);
        true
    }
}

/// How a broker's connection is named in `/readyz` sentences and logs.
#[derive(Debug)]
pub struct Words {
    /// The connection: `its Postgres listener`.
    pub connection: &'static str,
    /// What the connection is while lost: `disconnected`.
    pub lost: &'static str,
    /// The log line of a completed catch-up.
    pub caught_up: &'static str,
    /// The log line of a failed catch-up attempt.
    pub catch_up_failed: &'static str,
}

/// Whether this node hears the other nodes' events; shared by a broker's tasks and read by
/// `/readyz`.
#[derive(Debug)]
pub struct Link {
    node_id: String,
    words: &'static Words,
    /// Connections made so far (the first one included); the newest is the live one.
    connects: AtomicU64,
    /// The live connection's number; 0 while disconnected.
    live: AtomicU64,
    /// The connection whose catch-up has completed.
    caught_up: AtomicU64,
    /// Why the node was last cut off, for `/readyz` and logs.
    last_error: Mutex<Option<String>>,
}

impl Link {
    pub fn new(node_id: String, words: &'static Words) -> Arc<Self> {
        Arc::new(Self {
            node_id,
            words,
            connects: AtomicU64::new(0),
            live: AtomicU64::new(0),
            caught_up: AtomicU64::new(0),
            last_error: Mutex::new(None),
        })
    }

    pub fn node_id(&self) -> &str {
        &self.node_id
    }

    /// A connection is up: returns its number, which its catch-up reports to
    /// [`Self::caught_up`].
    pub fn connected(&self) -> u64 {
        let number = self.connects.fetch_add(1, Ordering::AcqRel) + 1;
        self.live.store(number, Ordering::Release);
        number
    }

    /// The connection is lost: not ready until the next one has caught up.
    pub fn lost(&self) {
        self.live.store(0, Ordering::Release);
    }

    /// The live connection's number; 0 while disconnected.
    pub fn live(&self) -> u64 {
        self.live.load(Ordering::Acquire)
    }

    /// The newest connection's number, live or not.
    pub fn newest(&self) -> u64 {
        self.connects.load(Ordering::Acquire)
    }

    /// Connection `number` has caught up: ready, if it is still the live one.
    pub fn caught_up(&self, number: u64) {
        self.caught_up.store(number, Ordering::Release);
    }

    /// Events may have been lost on a live connection (a read failed): not ready until a
    /// catch-up has replaced them.
    pub fn fell_behind(&self) {
        self.caught_up.store(0, Ordering::Release);
    }

    /// True when a connection is live and has caught up on what it missed before.
    pub fn ready(&self) -> bool {
        let live = self.live();
        live != 0 && self.caught_up.load(Ordering::Acquire) == live
    }

    /// A sentence explaining why the node is not ready, if it is not.
    pub fn problem(&self) -> Option<String> {
        if self.ready() {
            return None;
        }
        let Words { connection, lost, .. } = self.words;
        Some(if self.live() == 0 {
            let cause = self.last_error.lock().unwrap_or_else(|p| p.into_inner()).clone();
            format!(
                "This node is cut off from the other nodes' answers: {connection} is {lost} and \
                 reconnecting{}.",
                cause.map(|c| format!(" (last error: {c})")).unwrap_or_default()
            )
        } else {
            format!("This node is catching up on answers it missed while {connection} was {lost}.")
        })
    }

    pub fn set_error(&self, error: impl ToString) {
        *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(error.to_string());
    }

    /// Catches up every topic watched here, retrying with [`Backoff`] until it succeeds (then
    /// marks connection `number` caught up and returns true) or the server shuts down.
    pub async fn catch_up_until_done(
        &self,
        store: &Store,
        hub: &Arc<Hub>,
        number: u64,
        shutdown: &CancellationToken,
    ) -> bool {
        let mut backoff = Backoff::new();
        loop {
            match catch_up(store, hub, &hub.watched()).await {
                Ok(published) => {
                    tracing::info!(node = %self.node_id, generation = number, published, "{}", self.words.caught_up);
                    self.caught_up(number);
                    return true;
                }
                Err(e) => {
                    tracing::warn!(error = %e, retry_in = ?backoff.next(), "{}", self.words.catch_up_failed);
                    self.set_error(&e);
                }
            }
            if !backoff.wait(shutdown).await {
                return false;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WORDS: Words = Words {
        connection: "its test connection",
        lost: "gone",
        caught_up: "caught up",
        catch_up_failed: "catch-up failed",
    };

    #[test]
    fn ready_only_while_the_live_connection_has_caught_up() {
        let link = Link::new("n".into(), &WORDS);
        assert!(!link.ready(), "not before the first connection");
        let first = link.connected();
        assert_eq!(
            link.problem().as_deref(),
            Some("This node is catching up on answers it missed while its test connection was gone.")
        );
        link.caught_up(first);
        assert_eq!(link.problem(), None);
        link.lost();
        link.set_error("boom");
        assert_eq!(
            link.problem().as_deref(),
            Some(
                "This node is cut off from the other nodes' answers: its test connection is gone and reconnecting (last error: boom)."
            )
        );
        let second = link.connected();
        assert_eq!((second, link.newest()), (2, 2));
        link.caught_up(first);
        assert!(!link.ready(), "an older connection's catch-up does not count");
        link.caught_up(second);
        assert!(link.ready());
        link.fell_behind();
        assert!(!link.ready());
    }

    #[test]
    fn backoff_doubles_up_to_its_maximum() {
        assert_eq!(Backoff::nth(1), Backoff::MIN);
        assert_eq!(Backoff::nth(2), Backoff::MIN * 2);
        assert_eq!(Backoff::nth(100), Backoff::MAX);
    }
}
