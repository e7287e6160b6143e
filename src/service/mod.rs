//! The use cases: ask, answer, read, edit, vote, follow… The only code that calls the store
//! and the broker, and the one place each write is defined, so the REST API and the pages
//! cannot drift apart. No HTTP types here: inputs arrive parsed into domain types, results
//! and failures leave as domain types and [`DomainError`].
//!
//! One use case per file: [`questions`], [`answers`], [`posts`] (edits, deletes, comments),
//! [`votes`], [`accepts`], [`follows`], [`inbox`] (the notifier, inboxes), [`webhooks`], [`events`]
//! (what sessions read to resume), [`auth`] (accounts, sessions, tokens) and [`idempotency`]
//! (posts retried with an `Idempotency-Key`).

mod accepts;
mod answers;
pub mod auth;
mod events;
mod follows;
mod idempotency;
mod inbox;
mod posts;
mod questions;
mod tag_watch;
mod votes;
mod webhooks;

use std::sync::Arc;

pub use auth::{AuthSettings, Authenticated, NewSession};
pub use idempotency::Posted;

use crate::{
    broker::Broker,
    domain::{DomainError, WebhookAllow},
    metrics::Metrics,
    store::Store,
};

/// The services' shared context; cheap to clone.
#[derive(Clone)]
pub struct Services {
    store: Store,
    broker: Arc<dyn Broker>,
    metrics: Arc<Metrics>,
    auth: auth::SharedAuth,
    notifier: inbox::Notifier,
    /// The hosts webhooks may call (`--webhook-allow`); empty: webhooks are off.
    webhook_allow: WebhookAllow,
    webhook_changes: webhooks::WebhookChanges,
}

impl Services {
    pub fn new(store: Store, broker: Arc<dyn Broker>, metrics: Arc<Metrics>, auth: AuthSettings) -> Self {
        Self {
            store,
            broker,
            metrics,
            auth: Arc::new(auth),
            notifier: inbox::Notifier::default(),
            webhook_allow: WebhookAllow::default(),
            webhook_changes: webhooks::WebhookChanges::default(),
        }
    }

    /// Lets webhooks call the hosts on `allow`.
    pub fn allow_webhooks(mut self, allow: WebhookAllow) -> Self {
        self.webhook_allow = allow;
        self
    }

    /// `sqlite` or `postgres`.
    pub fn backend(&self) -> &'static str {
        self.store.backend()
    }

    /// Whether requests can be served and this node hears every node's events.
    pub async fn ready(&self) -> Result<(), NotReady> {
        if let Some(problem) = self.broker.problem() {
            return Err(NotReady::Broker(problem));
        }
        self.store.ping().await.map_err(NotReady::Database)
    }
}

/// Why a node is not ready.
#[derive(Debug)]
pub enum NotReady {
    /// The broker's sentence for operators (cut off from the other nodes, catching up).
    Broker(String),
    /// The database did not answer.
    Database(DomainError),
}

impl Services {
    /// (pool name, connections open, of which idle) for each database pool, for metrics.
    pub fn pool_stats(&self) -> Vec<(&'static str, u32, usize)> {
        self.store.pool_stats()
    }
}

/// Runs a write in a task of its own, so that a committed change is announced even when the
/// caller goes away mid-request: the caller gets `write`'s outcome as soon as it has committed,
/// and `announce` runs after that with what is to be announced (the publish). In that order
/// because the publish wakes every subscriber's task on this worker, and an outcome sent after
/// the wake would wait behind all of their writes (10,000 subscribers: ~100 ms).
async fn commit_then<T, A>(
    write: impl Future<Output = Result<(T, A), DomainError>> + Send + 'static,
    announce: impl FnOnce(A) + Send + 'static,
) -> Result<T, DomainError>
where
    T: Send + 'static,
    A: Send + 'static,
{
    let (committed, outcome) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        match write.await {
            Ok((value, announced)) => {
                let _ = committed.send(Ok(value));
                announce(announced);
            }
            Err(e) => {
                let _ = committed.send(Err(e));
            }
        }
    });
    outcome.await.map_err(|e| DomainError::internal(format!("write task failed: {e}")))?
}
