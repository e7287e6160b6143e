//! Brokers: how a committed event reaches the subscribers of every node.
//!
//! The service layer hands each committed batch of events to the [`Broker`]. A broker
//! delivers them to this node's hub at once and makes sure the other nodes get them too:
//! the [`local`] broker has no other nodes (SQLite, or one node), the [`postgres`] broker
//! announces events with NOTIFY inside the committing transaction and listens for the other
//! nodes' announcements, the [`nats`] broker publishes them on NATS after commit and
//! subscribes to the topics this node watches. Another broker is one new module that
//! implements this trait and one arm in [`crate::config::BrokerKind`]'s match in `app`.
//!
//! What a broker cannot carry (a lost connection, a node that crashed between commit and
//! publish) the event log can: [`catch_up`] is how a broker fills in from it.

pub mod local;
pub mod nats;
pub mod postgres;

use std::sync::Arc;

use crate::{
    domain::{DomainError, Event, Topic},
    realtime::{self, Hub},
    store::Store,
};

/// Most events per topic that a catch-up publishes. A node cut off for longer publishes only
/// the newest ones: its sessions see the gap and read the rest from the log themselves,
/// page by page, instead of overflowing their queues.
const CATCH_UP_MAX_PER_TOPIC: i64 = 100;
/// Watched topics caught up per query.
const CATCH_UP_CHUNK: usize = 1000;

/// Carries committed events to every node's subscribers.
pub trait Broker: Send + Sync {
    /// Called after `events` committed, on the node that committed them, in commit order.
    fn publish(&self, events: &[Event]);
    /// Why this node may be missing other nodes' events right now; `None` when it is ready.
    fn problem(&self) -> Option<String>;
    /// A short name for logs and `/readyz`: `local`, `postgres`, `nats`.
    fn name(&self) -> &'static str;
}

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
