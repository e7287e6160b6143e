//! Webhooks over REST: `POST /api/webhooks` registers a URL for a topic's events,
//! `GET /api/webhooks[/{id}]` shows where each delivery stands, `POST …/{id}/replay` sends
//! again from a seq, `DELETE …/{id}` stops it. docs/notifications.md has the signature and an
//! example receiver.

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::JsonObject;
use crate::{
    domain::{self, Topic},
    http::{
        Context, auth,
        error::{Error, ErrorBody, Result},
        rate,
    },
};

#[derive(Debug, Deserialize, ToSchema)]
pub struct NewWebhook {
    /// Where to POST each event: http or https, on a host the operator allowed
    /// (`--webhook-allow`).
    url: String,
    /// Whose events: `user:<your id>` (your inbox, the default); moderators and admins may
    /// also give `question:<id>` (every event of a question) or `questions` (the list).
    #[schema(value_type = Option<String>, example = "question:0193…")]
    topic: Option<String>,
    /// Deliver the events after this seq (default: the topic's current seq, so only what
    /// happens from now on; 0 for the whole log).
    #[schema(minimum = 0)]
    after_seq: Option<i64>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct Replay {
    /// Deliver again from the event after this seq (0: the whole log).
    #[schema(minimum = 0)]
    after_seq: i64,
}

/// A webhook and where its delivery stands.
#[derive(Debug, Serialize, ToSchema)]
pub struct Webhook {
    id: Uuid,
    url: String,
    #[schema(value_type = String)]
    topic: Topic,
    /// The last seq the endpoint acknowledged with a 2xx.
    delivered_seq: i64,
    /// The topic's seq now: `topic_seq - delivered_seq` events are waiting (details only;
    /// absent from lists).
    topic_seq: Option<i64>,
    /// Failed attempts in a row at the event after `delivered_seq`.
    failures: i64,
    /// Why the last attempt failed (an HTTP status, a timeout, a refused connection).
    last_error: Option<String>,
    last_attempt_at: Option<DateTime<Utc>>,
    /// When the next attempt starts, while retrying.
    next_attempt_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
}

impl Webhook {
    fn of(w: domain::Webhook, topic_seq: Option<i64>) -> Self {
        Self {
            id: w.id,
            url: w.url,
            topic: w.topic,
            delivered_seq: w.position,
            topic_seq,
            failures: w.failures,
            last_error: w.last_error,
            last_attempt_at: w.last_attempt_at,
            next_attempt_at: w.next_attempt_at,
            created_at: w.created_at,
        }
    }
}

/// A webhook just registered, with its signing secret (shown this once).
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedWebhook {
    #[serde(flatten)]
    webhook: Webhook,
    /// The HMAC-SHA256 key of the `QA-Hub-Signature` header. Keep it: it is not shown again.
    secret: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookList {
    items: Vec<Webhook>,
}

/// Register a webhook: every event of the topic is POSTed to the URL, signed, in seq order.
#[utoipa::path(post, path = "/api/webhooks", operation_id = "create_webhook", tag = "webhooks", request_body = NewWebhook,
    responses(
        (status = 201, description = "Registered; the secret is shown this once", body = CreatedWebhook),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 401, description = "No identity, or an invalid one", body = ErrorBody),
        (status = 403, description = "A host the operator has not allowed (`webhook_host_not_allowed`), or a topic that is not yours (`forbidden`)", body = ErrorBody),
        (status = 404, description = "No such question", body = ErrorBody),
        (status = 409, description = "You have 10 webhooks already (`too_many_webhooks`)", body = ErrorBody),
        (status = 415, description = "Not application/json", body = ErrorBody),
        (status = 422, description = "Not an http(s) URL, not a topic, or after_seq out of range", body = ErrorBody),
        (status = 429, description = "Too many writes by this user; see Retry-After", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    ), security(("bearer" = [])))]
pub async fn create(
    ctx: web::Data<Context>,
    req: HttpRequest,
    JsonObject(new): JsonObject<NewWebhook>,
) -> Result<HttpResponse> {
    let who = auth::required_identity(&ctx, &req).await?;
    let topic = new
        .topic
        .as_deref()
        .map(|t| t.parse::<Topic>())
        .transpose()
        .map_err(|e| Error::from(domain::DomainError::invalid("topic", format!("{e}."))))?;
    rate::check_post(&req, &auth::user_owner(who.user_id)).map_err(Error::rate_limited)?;
    let (hook, secret) = ctx.services().register_webhook(&who, &new.url, topic, new.after_seq).await?;
    let topic_seq = Some(hook.position.max(ctx.services().webhook_head(&hook).await?));
    Ok(HttpResponse::Created().json(CreatedWebhook { webhook: Webhook::of(hook, topic_seq), secret }))
}

/// Your webhooks, oldest first.
#[utoipa::path(get, path = "/api/webhooks", operation_id = "list_webhooks", tag = "webhooks",
    responses(
        (status = 200, description = "Your webhooks", body = WebhookList),
        (status = 401, description = "No identity, or an invalid one", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    ), security(("bearer" = [])))]
pub async fn list(ctx: web::Data<Context>, req: HttpRequest) -> Result<web::Json<WebhookList>> {
    let who = auth::required_identity(&ctx, &req).await?;
    let items = ctx.services().webhooks(&who).await?.into_iter().map(|w| Webhook::of(w, None)).collect();
    Ok(web::Json(WebhookList { items }))
}

/// One of your webhooks: what it has delivered, what waits, and why the last attempt failed.
#[utoipa::path(get, path = "/api/webhooks/{webhook_id}", operation_id = "get_webhook", tag = "webhooks",
    params(("webhook_id" = Uuid, Path, description = "The webhook's id")),
    responses(
        (status = 200, description = "The webhook", body = Webhook),
        (status = 400, description = "The id is not a UUID", body = ErrorBody),
        (status = 401, description = "No identity, or an invalid one", body = ErrorBody),
        (status = 404, description = "You have no such webhook", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    ), security(("bearer" = [])))]
pub async fn get(
    ctx: web::Data<Context>,
    req: HttpRequest,
    path: web::Path<Uuid>,
) -> Result<web::Json<Webhook>> {
    let who = auth::required_identity(&ctx, &req).await?;
    let hook = ctx.services().webhook(&who, path.into_inner()).await?;
    let head = ctx.services().webhook_head(&hook).await?;
    Ok(web::Json(Webhook::of(hook, Some(head))))
}

/// Deliver again from a seq: the events after `after_seq` are sent again, in order, at once.
#[utoipa::path(post, path = "/api/webhooks/{webhook_id}/replay", operation_id = "replay_webhook", tag = "webhooks", request_body = Replay,
    params(("webhook_id" = Uuid, Path, description = "The webhook's id")),
    responses(
        (status = 200, description = "Replaying from there", body = Webhook),
        (status = 400, description = "Malformed JSON or id", body = ErrorBody),
        (status = 401, description = "No identity, or an invalid one", body = ErrorBody),
        (status = 404, description = "You have no such webhook", body = ErrorBody),
        (status = 415, description = "Not application/json", body = ErrorBody),
        (status = 422, description = "after_seq out of range", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    ), security(("bearer" = [])))]
pub async fn replay(
    ctx: web::Data<Context>,
    req: HttpRequest,
    path: web::Path<Uuid>,
    JsonObject(body): JsonObject<Replay>,
) -> Result<web::Json<Webhook>> {
    let who = auth::required_identity(&ctx, &req).await?;
    let hook = ctx.services().replay_webhook(&who, path.into_inner(), body.after_seq).await?;
    let head = ctx.services().webhook_head(&hook).await?;
    Ok(web::Json(Webhook::of(hook, Some(head))))
}

/// Delete a webhook: nothing more is sent to it.
#[utoipa::path(delete, path = "/api/webhooks/{webhook_id}", operation_id = "delete_webhook", tag = "webhooks",
    params(("webhook_id" = Uuid, Path, description = "The webhook's id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "The id is not a UUID", body = ErrorBody),
        (status = 401, description = "No identity, or an invalid one", body = ErrorBody),
        (status = 404, description = "You have no such webhook", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    ), security(("bearer" = [])))]
pub async fn delete(
    ctx: web::Data<Context>,
    req: HttpRequest,
    path: web::Path<Uuid>,
) -> Result<HttpResponse> {
    let who = auth::required_identity(&ctx, &req).await?;
    ctx.services().delete_webhook(&who, path.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}
