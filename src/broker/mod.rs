//! Brokers: how a committed event reaches the subscribers of every node.
//!
//! The service layer hands each committed batch of events to the [`Broker`]. A broker
//! delivers them to this node's hub at once and makes sure the other nodes get them too:
//! the [`local`] broker has no other nodes (SQLite, or one node), the [`postgres`] broker
//! announces events with NOTIFY inside the committing transaction and listens for the other
//! nodes' announcements, the [`nats`] broker publishes them on NATS after commit and
//! subscribes to the topics this node watches (the hub tells it which through
//! [`Broker::interest`]). Another broker is one new module that implements this trait, a
//! `start` that takes [`Deps`], and one arm in [`crate::config::BrokerKind`]'s match in `app`.
//!
//! What a broker cannot carry (a lost connection, a node that crashed between commit and
//! publish) the event log can. The plumbing for that is shared, in `link`: the readiness
//! behind [`Broker::problem`], the catch-up from the log after every (re)connect and the
//! backoff between attempts.

mod link;
pub mod local;
pub mod nats;
pub mod postgres;

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::{
    domain::Event,
    metrics::Metrics,
    realtime::{Hub, Interest},
    store::Store,
};

/// Carries committed events to every node's subscribers.
pub trait Broker: Send + Sync {
    /// Called after `events` committed, on the node that committed them, in commit order.
    fn publish(&self, events: &[Event]);
    /// Why this node may be missing other nodes' events right now; `None` when it is ready.
    fn problem(&self) -> Option<String>;
    /// A short name for logs and `/readyz`: `local`, `postgres`, `nats`.
    fn name(&self) -> &'static str;
    /// This node's first subscriber of a topic came, or its last one left. Called by the hub
    /// under the topic's lock, so in the order of the changes: must not block. A broker that
    /// routes by topic (NATS) subscribes and unsubscribes; one that hears every event on
    /// every node needs nothing.
    fn interest(&self, _change: Interest) {}
}

/// What every broker's `start` needs from the node.
#[derive(Clone)]
pub struct Deps {
    /// This node's name in logs and in what the broker's server shows of its connection.
    pub node_id: String,
    /// The event log: what the broker catches up from, and where a commit hook goes.
    pub store: Store,
    pub hub: Arc<Hub>,
    pub metrics: Arc<Metrics>,
    /// The broker's tasks stop when it is cancelled.
    pub shutdown: CancellationToken,
}

/// Has `hub` tell `broker` of every change in this node's interest ([`Broker::interest`]).
/// Once, at start-up, before anyone subscribes (topics watched already are not reported). The
/// hub holds the broker weakly: the broker holds the hub.
pub fn connect_interest(hub: &Hub, broker: &Arc<dyn Broker>) -> anyhow::Result<()> {
    let broker = Arc::downgrade(broker);
    let set = hub.on_interest(move |change| {
        if let Some(broker) = broker.upgrade() {
            broker.interest(change);
        }
    });
    anyhow::ensure!(set, "the hub already reports its interest elsewhere");
    Ok(())
}
