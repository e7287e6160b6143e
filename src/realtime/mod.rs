//! The realtime path after commit: the [`hub`] fans each event out to this node's
//! subscribers, and each subscriber's [`session`] turns that into exactly-once, in-order
//! delivery over whatever transport carries it.

pub mod driver;
pub mod hub;
pub mod session;
pub mod webhook;

use std::sync::Arc;

pub use hub::{Hub, Interest, Notification};

use crate::{domain::Event, wire};

/// Hands committed events to the hub, encoding each (once) only if someone here watches it.
pub fn publish(hub: &Arc<Hub>, events: &[Event]) {
    for event in events {
        hub.publish(event.topic, event.seq, || wire::event(event));
    }
}
