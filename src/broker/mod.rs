//! Brokers: how a committed event reaches the subscribers of every node.
//!
//! The service layer hands each committed batch of events to the [`Broker`]. A broker
//! delivers them to this node's hub at once and makes sure the other nodes get them too:
//! the [`local`] broker has no other nodes (SQLite, or one node), the [`postgres`] broker
//! announces events with NOTIFY inside the committing transaction and listens for the other
//! nodes' announcements. Another broker (NATS) is one new module that implements this trait
//! and one arm in [`crate::config::BrokerKind`]'s match in `app`.

pub mod local;
pub mod postgres;

use crate::domain::Event;

/// Carries committed events to every node's subscribers.
pub trait Broker: Send + Sync {
    /// Called after `events` committed, on the node that committed them, in commit order.
    fn publish(&self, events: &[Event]);
    /// Why this node may be missing other nodes' events right now; `None` when it is ready.
    fn problem(&self) -> Option<String>;
    /// A short name for logs and `/readyz`: `local`, `postgres`.
    fn name(&self) -> &'static str;
}
