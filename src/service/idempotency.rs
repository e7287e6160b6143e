//! Posts retried with an `Idempotency-Key`: the same key from the same owner within 24 hours
//! returns the first post and writes nothing. The key's record is written in the post's own
//! transaction, so "stored" and "remembered" cannot disagree, whatever fails when.

use chrono::Utc;
use uuid::Uuid;

use super::Services;
use crate::domain::{DomainError, IDEMPOTENCY_WINDOW, Idempotency};

/// A post's result, and whether it was stored just now or by an earlier request with the same
/// key (`replayed`).
#[derive(Debug, Clone)]
pub struct Posted<T> {
    pub value: T,
    pub replayed: bool,
}

impl<T> Posted<T> {
    pub(super) fn new(value: T) -> Self {
        Self { value, replayed: false }
    }

    pub(super) fn replay(value: T) -> Self {
        Self { value, replayed: true }
    }
}

fn reused() -> DomainError {
    DomainError::Conflict {
        code: "idempotency_key_reused",
        message: "This Idempotency-Key was used for a different request; use a new key for a new post."
            .into(),
    }
}

impl Services {
    /// The resource an earlier request with this key stored, if any (keys older than the
    /// window are forgotten here). A key used for another request is a `Conflict`.
    pub(super) async fn earlier_post(&self, key: &Idempotency) -> Result<Option<Uuid>, DomainError> {
        let Some(record) = self.store.idempotency(&key.owner, &key.key).await? else { return Ok(None) };
        if record.created_at < Utc::now() - IDEMPOTENCY_WINDOW {
            self.store.forget_idempotency(&key.owner, &key.key).await?;
            return Ok(None);
        }
        if record.fingerprint != key.fingerprint {
            return Err(reused());
        }
        Ok(Some(record.resource_id))
    }

    /// After a post failed with `Conflict` (another request with the same key committed
    /// first): that request's resource.
    pub(super) async fn concurrent_post(&self, key: &Idempotency) -> Result<Uuid, DomainError> {
        self.earlier_post(key)
            .await?
            .ok_or_else(|| DomainError::Internal("idempotency conflict without a record".into()))
    }

    /// Forgets keys past the window once an hour, for as long as the services live.
    pub fn start_forgetting_keys(&self) {
        let store = self.store.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(3600));
            loop {
                tick.tick().await;
                match store.forget_idempotency_before(Utc::now() - IDEMPOTENCY_WINDOW).await {
                    Ok(0) => {}
                    Ok(n) => tracing::debug!(forgotten = n, "idempotency keys past their window"),
                    Err(e) => tracing::warn!(error = %e, "forgetting idempotency keys"),
                }
            }
        });
    }
}
