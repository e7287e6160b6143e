//! Webhooks: registering a URL for a topic's events, and the delivery state the workers in
//! [`crate::realtime::webhook`] keep through the store.
//!
//! Who may register what: any user their own inbox (`user:{own id}`, the default); a
//! moderator or admin all events of a question (`question:{id}`) or the list of questions.
//! Every URL must be on the operator's `--webhook-allow` list, checked here at registration
//! and again by the worker before each POST (the list may have shrunk since).

use std::{
    collections::HashSet,
    sync::{Arc, Mutex},
};

use futures_util::future::BoxFuture;
use tokio::sync::Notify;
use uuid::Uuid;

use super::Services;
use crate::{
    domain::{
        DomainError, Identity, MAX_WEBHOOKS_PER_USER, NewWebhook, Topic, Webhook, WebhookAllow, WebhookUrl,
        new_secret,
    },
    realtime::webhook::{Claim, WebhookState},
    store::Lease,
};

fn webhook_not_found() -> DomainError {
    DomainError::NotFound { code: "webhook_not_found", message: "No webhook of yours has that id.".into() }
}

/// Webhooks registered, replayed or deleted on this node since the dispatcher last looked;
/// cheap to clone.
#[derive(Clone, Default)]
pub struct WebhookChanges {
    inner: Arc<(Mutex<HashSet<Uuid>>, Notify)>,
}

impl WebhookChanges {
    fn changed(&self, id: Uuid) {
        self.inner.0.lock().expect("webhook changes lock").insert(id);
        self.inner.1.notify_one();
    }

    async fn next(&self) -> Vec<Uuid> {
        loop {
            let ids: Vec<Uuid> = self.inner.0.lock().expect("webhook changes lock").drain().collect();
            if !ids.is_empty() {
                return ids;
            }
            self.inner.1.notified().await;
        }
    }
}

impl Services {
    /// Registers `url` for `topic`'s events (default: `who`'s inbox), from the event after
    /// `after_seq` (default: the topic's current seq, so only what happens from now on).
    /// Returns the webhook and its signing secret, which is shown this once.
    pub async fn register_webhook(
        &self,
        who: &Identity,
        url: &str,
        topic: Option<Topic>,
        after_seq: Option<i64>,
    ) -> Result<(Webhook, String), DomainError> {
        let url = WebhookUrl::parse(url, &self.webhook_allow)?;
        let topic = topic.unwrap_or(Topic::User(who.user_id));
        match topic {
            Topic::User(id) if id == who.user_id => {}
            Topic::User(_) => {
                return Err(DomainError::Forbidden {
                    code: "forbidden",
                    message: "A webhook may follow your own inbox only.".into(),
                });
            }
            _ if who.moderates() => {}
            _ => {
                return Err(DomainError::Forbidden {
                    code: "forbidden",
                    message: "Only moderators and admins may register a webhook for a question's, the list's or a tag's events."
                        .into(),
                });
            }
        }
        let head = self.store.topic_head(topic).await?.map(|h| h.seq);
        let head = match (topic, head) {
            (Topic::Question(_), None) => return Err(DomainError::question_not_found()),
            (_, head) => head.unwrap_or(0),
        };
        if let Some(seq) = after_seq
            && !(0..=head).contains(&seq)
        {
            return Err(DomainError::invalid(
                "after_seq",
                format!("after_seq must be between 0 and the topic's seq, {head}."),
            ));
        }
        if self.store.count_webhooks(who.user_id).await? >= MAX_WEBHOOKS_PER_USER {
            return Err(DomainError::Conflict {
                code: "too_many_webhooks",
                message: format!("You have {MAX_WEBHOOKS_PER_USER} webhooks already; delete one first."),
            });
        }
        let secret = new_secret()?;
        let new = NewWebhook { owner_id: who.user_id, url, topic, secret: secret.clone() };
        let hook = self.store.create_webhook(&new, after_seq.unwrap_or(head)).await?;
        tracing::info!(webhook = %hook.id, topic = %hook.topic, url = %hook.url, "webhook registered");
        self.webhook_changes.changed(hook.id);
        Ok((hook, secret))
    }

    /// `who`'s webhooks, oldest first.
    pub async fn webhooks(&self, who: &Identity) -> Result<Vec<Webhook>, DomainError> {
        self.store.webhooks_of(who.user_id).await
    }

    /// One of `who`'s webhooks, with where its delivery stands.
    pub async fn webhook(&self, who: &Identity, id: Uuid) -> Result<Webhook, DomainError> {
        match self.store.webhook(id).await? {
            Some(t) if t.hook.owner_id == who.user_id => Ok(t.hook),
            _ => Err(webhook_not_found()),
        }
    }

    /// The seq `who`'s webhook's topic stands at.
    pub async fn webhook_head(&self, hook: &Webhook) -> Result<i64, DomainError> {
        Ok(self.store.topic_head(hook.topic).await?.map_or(hook.position, |h| h.seq))
    }

    pub async fn delete_webhook(&self, who: &Identity, id: Uuid) -> Result<(), DomainError> {
        if !self.store.delete_webhook(who.user_id, id).await? {
            return Err(webhook_not_found());
        }
        self.webhook_changes.changed(id);
        Ok(())
    }

    /// Delivers `who`'s webhook's events again from the one after `after_seq`, at once (a
    /// waiting retry is cancelled).
    pub async fn replay_webhook(
        &self,
        who: &Identity,
        id: Uuid,
        after_seq: i64,
    ) -> Result<Webhook, DomainError> {
        let hook = self.webhook(who, id).await?;
        let head = self.webhook_head(&hook).await?;
        if !(0..=head).contains(&after_seq) {
            return Err(DomainError::invalid(
                "after_seq",
                format!("after_seq must be between 0 and the topic's seq, {head}."),
            ));
        }
        let hook =
            self.store.replay_webhook(who.user_id, id, after_seq).await?.ok_or_else(webhook_not_found)?;
        self.webhook_changes.changed(id);
        Ok(hook)
    }
}

impl WebhookState for Services {
    fn allow(&self) -> &WebhookAllow {
        &self.webhook_allow
    }

    fn ids(&self) -> BoxFuture<'_, Result<Vec<Uuid>, DomainError>> {
        Box::pin(self.store.webhook_ids())
    }

    fn changed(&self) -> BoxFuture<'_, Vec<Uuid>> {
        Box::pin(self.webhook_changes.next())
    }

    fn claim<'a>(&'a self, id: Uuid, lease: &'a Lease) -> BoxFuture<'a, Result<Claim, DomainError>> {
        Box::pin(async move {
            Ok(match self.store.claim_webhook(id, lease).await? {
                Some(target) => Claim::Held(target),
                None if self.store.webhook(id).await?.is_some() => Claim::Elsewhere,
                None => Claim::Gone,
            })
        })
    }

    fn delivered<'a>(
        &'a self,
        id: Uuid,
        from: i64,
        seq: i64,
        lease: &'a Lease,
    ) -> BoxFuture<'a, Result<bool, DomainError>> {
        Box::pin(self.store.webhook_delivered(id, from, seq, lease))
    }

    fn failed<'a>(
        &'a self,
        id: Uuid,
        position: i64,
        error: &'a str,
        next_attempt_ms: i64,
        lease: &'a Lease,
    ) -> BoxFuture<'a, Result<(), DomainError>> {
        Box::pin(self.store.webhook_failed(id, position, error, next_attempt_ms, lease))
    }

    fn release<'a>(&'a self, id: Uuid, owner: &'a str) -> BoxFuture<'a, Result<(), DomainError>> {
        Box::pin(self.store.release_webhook(id, owner))
    }
}
