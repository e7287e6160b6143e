//! Webhooks and their delivery state: where each endpoint stands in its topic, its failures,
//! and which node holds its lease.
//!
//! Every change a delivery worker makes is a compare-and-set on the position it read and on
//! its lease, so a worker that lost its lease (a long pause, another node took over) or whose
//! webhook was replayed meanwhile changes nothing and reads again.

use std::sync::LazyLock;

use chrono::{DateTime, TimeZone, Utc};
use uuid::Uuid;

use super::{Store, now};
use crate::domain::{DomainError, NewWebhook, Topic, Webhook, WebhookTarget};

/// The columns [`WebhookRow`] reads.
const COLUMNS: &str = "id, owner_id, url, topic, secret, position, failures, last_error, last_attempt_at, next_attempt_ms, created_at";

static CREATE: LazyLock<String> = LazyLock::new(|| {
    format!(
        "INSERT INTO webhooks (id, owner_id, url, topic, secret, position, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {COLUMNS}"
    )
});
static OF_OWNER: LazyLock<String> =
    LazyLock::new(|| format!("SELECT {COLUMNS} FROM webhooks WHERE owner_id = $1 ORDER BY created_at, id"));
static BY_ID: LazyLock<String> = LazyLock::new(|| format!("SELECT {COLUMNS} FROM webhooks WHERE id = $1"));
static REPLAY: LazyLock<String> = LazyLock::new(|| {
    format!(
        "UPDATE webhooks SET position = $3, failures = 0, last_error = NULL, next_attempt_ms = NULL \
         WHERE id = $1 AND owner_id = $2 RETURNING {COLUMNS}"
    )
});
static CLAIM: LazyLock<String> = LazyLock::new(|| {
    format!(
        "UPDATE webhooks SET lease_owner = $2, lease_until_ms = $3 \
         WHERE id = $1 AND (lease_owner = $2 OR lease_owner IS NULL OR lease_until_ms < $4) \
         RETURNING {COLUMNS}"
    )
});

#[derive(sqlx::FromRow)]
struct WebhookRow {
    id: Uuid,
    owner_id: Uuid,
    url: String,
    topic: String,
    secret: String,
    position: i64,
    failures: i64,
    last_error: Option<String>,
    last_attempt_at: Option<DateTime<Utc>>,
    next_attempt_ms: Option<i64>,
    created_at: DateTime<Utc>,
}

impl WebhookRow {
    fn target(self) -> Result<WebhookTarget, DomainError> {
        let topic: Topic = self
            .topic
            .parse()
            .map_err(|e| DomainError::internal(format!("webhook {}: stored topic: {e}", self.id)))?;
        Ok(WebhookTarget {
            hook: Webhook {
                id: self.id,
                owner_id: self.owner_id,
                url: self.url,
                topic,
                position: self.position,
                failures: self.failures,
                last_error: self.last_error,
                last_attempt_at: self.last_attempt_at,
                next_attempt_at: self.next_attempt_ms.and_then(|ms| Utc.timestamp_millis_opt(ms).single()),
                created_at: self.created_at,
            },
            secret: self.secret,
        })
    }
}

fn hooks(rows: Vec<WebhookRow>) -> Result<Vec<Webhook>, DomainError> {
    rows.into_iter().map(|r| r.target().map(|t| t.hook)).collect()
}

/// A delivery worker's lease: who holds it, and until when (unix ms).
#[derive(Debug, Clone)]
pub struct Lease {
    pub owner: String,
    pub until_ms: i64,
    pub now_ms: i64,
}

impl Store {
    /// Registers a webhook that delivers the events after `position`.
    pub async fn create_webhook(&self, new: &NewWebhook, position: i64) -> Result<Webhook, DomainError> {
        let row: WebhookRow = self
            .write(&CREATE)
            .bind(Uuid::now_v7())
            .bind(new.owner_id)
            .bind(new.url.as_str())
            .bind(new.topic.to_string())
            .bind(&new.secret)
            .bind(position)
            .bind(now())
            .fetch_one()
            .await?;
        Ok(row.target()?.hook)
    }

    pub async fn count_webhooks(&self, owner: Uuid) -> Result<i64, DomainError> {
        const SQL: &str = "SELECT count(*) FROM webhooks WHERE owner_id = $1";
        Ok(self.read(SQL).bind(owner).scalar_one().await?)
    }

    /// `owner`'s webhooks, oldest first.
    pub async fn webhooks_of(&self, owner: Uuid) -> Result<Vec<Webhook>, DomainError> {
        let rows = self.read(&OF_OWNER).bind(owner).fetch_all().await?;
        hooks(rows)
    }

    /// One webhook, with its secret; read from the writer on SQLite, so a worker sees its own
    /// last change.
    pub async fn webhook(&self, id: Uuid) -> Result<Option<WebhookTarget>, DomainError> {
        let row: Option<WebhookRow> = self.write(&BY_ID).bind(id).fetch_optional().await?;
        row.map(WebhookRow::target).transpose()
    }

    /// Every webhook's id (each node runs a worker per webhook; the lease picks who delivers).
    pub async fn webhook_ids(&self) -> Result<Vec<Uuid>, DomainError> {
        const SQL: &str = "SELECT id FROM webhooks";
        Ok(self.read(SQL).scalar_all().await?)
    }

    /// Deletes `owner`'s webhook; false when they have none with that id.
    pub async fn delete_webhook(&self, owner: Uuid, id: Uuid) -> Result<bool, DomainError> {
        const SQL: &str = "DELETE FROM webhooks WHERE id = $1 AND owner_id = $2";
        let done = self.write(SQL).bind(id).bind(owner).execute().await?;
        Ok(done == 1)
    }

    /// Moves `owner`'s webhook back (or forward) to deliver the events after `position` next,
    /// at once; `None` when they have none with that id.
    pub async fn replay_webhook(
        &self,
        owner: Uuid,
        id: Uuid,
        position: i64,
    ) -> Result<Option<Webhook>, DomainError> {
        let row: Option<WebhookRow> =
            self.write(&REPLAY).bind(id).bind(owner).bind(position).fetch_optional().await?;
        Ok(row.map(WebhookRow::target).transpose()?.map(|t| t.hook))
    }

    /// Takes or renews the lease on a webhook; returns it (with its secret) when this worker
    /// holds the lease now, `None` when another does or the webhook is gone.
    pub async fn claim_webhook(&self, id: Uuid, lease: &Lease) -> Result<Option<WebhookTarget>, DomainError> {
        let row: Option<WebhookRow> = self
            .write(&CLAIM)
            .bind(id)
            .bind(&lease.owner)
            .bind(lease.until_ms)
            .bind(lease.now_ms)
            .fetch_optional()
            .await?;
        row.map(WebhookRow::target).transpose()
    }

    /// Gives the lease up (a node stopping), so another node or the next start takes over at
    /// once.
    pub async fn release_webhook(&self, id: Uuid, owner: &str) -> Result<(), DomainError> {
        const SQL: &str = "UPDATE webhooks SET lease_owner = NULL, lease_until_ms = NULL WHERE id = $1 AND lease_owner = $2";
        self.write(SQL).bind(id).bind(owner).execute().await?;
        Ok(())
    }

    /// Records that the endpoint acknowledged the event at `seq` (the one after `from`), and
    /// renews the lease. False when the position or the lease moved meanwhile.
    pub async fn webhook_delivered(
        &self,
        id: Uuid,
        from: i64,
        seq: i64,
        lease: &Lease,
    ) -> Result<bool, DomainError> {
        const SQL: &str = "UPDATE webhooks SET position = $3, failures = 0, last_error = NULL, \
                           next_attempt_ms = NULL, last_attempt_at = $5, lease_until_ms = $6 \
                           WHERE id = $1 AND position = $2 AND lease_owner = $4";
        let done = self
            .write(SQL)
            .bind(id)
            .bind(from)
            .bind(seq)
            .bind(&lease.owner)
            .bind(now())
            .bind(lease.until_ms)
            .execute()
            .await?;
        Ok(done == 1)
    }

    /// Records a failed attempt at the event after `position`, and when to try again.
    pub async fn webhook_failed(
        &self,
        id: Uuid,
        position: i64,
        error: &str,
        next_attempt_ms: i64,
        lease: &Lease,
    ) -> Result<(), DomainError> {
        const SQL: &str = "UPDATE webhooks SET failures = failures + 1, last_error = $3, next_attempt_ms = $4, \
                           last_attempt_at = $6 WHERE id = $1 AND position = $2 AND lease_owner = $5";
        self.write(SQL)
            .bind(id)
            .bind(position)
            .bind(error)
            .bind(next_attempt_ms)
            .bind(&lease.owner)
            .bind(now())
            .execute()
            .await?;
        Ok(())
    }
}
