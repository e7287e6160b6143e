//! The broker of a node that runs alone (SQLite, or one node on Postgres with `--broker
//! local`): events go straight to this node's hub.

use std::sync::Arc;

use super::Broker;
use crate::{
    domain::Event,
    realtime::{self, Hub},
};

pub struct LocalBroker {
    hub: Arc<Hub>,
}

impl LocalBroker {
    pub fn new(hub: Arc<Hub>) -> Arc<Self> {
        Arc::new(Self { hub })
    }
}

impl Broker for LocalBroker {
    fn publish(&self, events: &[Event]) {
        realtime::publish(&self.hub, events);
    }

    fn problem(&self) -> Option<String> {
        None
    }

    fn name(&self) -> &'static str {
        "local"
    }
}
