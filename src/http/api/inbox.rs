//! The caller's inbox over REST: `GET /api/inbox`, `GET /api/inbox/unread`,
//! `PUT /api/inbox/{id}/read`, `POST /api/inbox/read-all`.
//!
//! Marking read needs no Idempotency-Key (repeating it changes nothing) and no rate limit: a
//! mark writes only when something was unread, so a user cannot write more marks than they
//! were sent notifications.

use actix_web::{HttpRequest, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::questions::page_size;
use crate::{
    domain,
    http::{
        Context, auth,
        error::{ErrorBody, Result},
    },
};

/// One inbox entry: notifications of one reason about one question, grouped while unread.
#[derive(Debug, Serialize, ToSchema)]
pub struct InboxEntry {
    id: Uuid,
    /// `answer` (to your question), `followed_answer` (to a question you follow), `comment`
    /// (on your post), `accepted` (your answer), `edit` (of your post, by someone else), `tag`
    /// (new questions in a tag you watch: `count` of them, the newest being `question_id`).
    reason: String,
    question_id: Uuid,
    /// The question's title when the entry last changed.
    title: String,
    /// How many notifications it groups ("3 new answers").
    count: i64,
    /// Who did the latest of them.
    actor: String,
    /// The answer or comment the latest is about, if any.
    ref_id: Option<Uuid>,
    /// The inbox topic's seq of its latest change.
    seq: i64,
    read: bool,
    updated_at: DateTime<Utc>,
    /// The tag of a `tag` entry; absent for other reasons.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    tag: Option<domain::TagName>,
}

impl From<domain::InboxEntry> for InboxEntry {
    fn from(e: domain::InboxEntry) -> Self {
        Self {
            id: e.id,
            reason: e.reason,
            question_id: e.question_id,
            title: e.title,
            count: e.count,
            actor: e.actor,
            ref_id: e.ref_id,
            seq: e.seq,
            read: e.read,
            updated_at: e.updated_at,
            tag: e.tag,
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListInbox {
    /// Only unread entries (default false).
    unread: Option<bool>,
    /// Entries changed before this seq (the `next` of the previous page).
    #[param(minimum = 0)]
    before: Option<i64>,
    /// Page size, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct InboxPage {
    /// Most recently changed first.
    items: Vec<InboxEntry>,
    /// Pass as `before` for the next page; null on the last page.
    next: Option<i64>,
    /// Unread entries, all pages.
    unread: i64,
    /// The inbox topic's (`user:{id}`) last seq: subscribe with it as `after_seq` to get
    /// every change after what this response shows.
    last_seq: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Unread {
    /// Unread entries.
    unread: i64,
    /// The inbox topic's last seq.
    last_seq: i64,
}

/// Your inbox, most recently changed first.
#[utoipa::path(get, path = "/api/inbox", operation_id = "list_inbox", tag = "inbox", params(ListInbox),
    responses(
        (status = 200, description = "A page of your inbox", body = InboxPage),
        (status = 400, description = "Bad query parameter", body = ErrorBody),
        (status = 401, description = "No identity (or an invalid one); see WWW-Authenticate", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn list(
    ctx: web::Data<Context>,
    req: HttpRequest,
    query: web::Query<ListInbox>,
) -> Result<web::Json<InboxPage>> {
    let who = auth::required_identity(&ctx, &req).await?;
    let limit = page_size(query.limit, 20)?;
    let services = ctx.services();
    // The count and the position first: an entry changed meanwhile comes again on resume.
    let (unread, last_seq) = services.unread(&who).await?;
    let mut items = services.inbox(&who, query.before, query.unread.unwrap_or(false), limit + 1).await?;
    let next = if items.len() as i64 > limit {
        items.truncate(limit as usize);
        items.last().map(|e| e.seq)
    } else {
        None
    };
    Ok(web::Json(InboxPage { items: items.into_iter().map(Into::into).collect(), next, unread, last_seq }))
}

/// Your unread count, and where your inbox topic stands.
#[utoipa::path(get, path = "/api/inbox/unread", tag = "inbox",
    responses(
        (status = 200, description = "Your unread count", body = Unread),
        (status = 401, description = "No identity (or an invalid one); see WWW-Authenticate", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn unread(ctx: web::Data<Context>, req: HttpRequest) -> Result<web::Json<Unread>> {
    let who = auth::required_identity(&ctx, &req).await?;
    let (unread, last_seq) = ctx.services().unread(&who).await?;
    Ok(web::Json(Unread { unread, last_seq }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AfterRead {
    /// Unread entries after the mark.
    unread: i64,
}

/// Mark one of your entries read; your other tabs and devices get a `read` event.
#[utoipa::path(put, path = "/api/inbox/{entry_id}/read", tag = "inbox",
    params(("entry_id" = Uuid, Path, description = "The entry's id")),
    responses(
        (status = 200, description = "Marked (or read already)", body = AfterRead),
        (status = 400, description = "The id is not a UUID", body = ErrorBody),
        (status = 401, description = "No identity (or an invalid one); see WWW-Authenticate", body = ErrorBody),
        (status = 404, description = "`entry_not_found`: no entry of yours has that id", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn read(
    ctx: web::Data<Context>,
    req: HttpRequest,
    path: web::Path<Uuid>,
) -> Result<web::Json<AfterRead>> {
    let who = auth::required_identity(&ctx, &req).await?;
    let unread = ctx.services().mark_read(&who, Some(path.into_inner())).await?;
    Ok(web::Json(AfterRead { unread }))
}

/// Mark all your entries read.
#[utoipa::path(post, path = "/api/inbox/read-all", tag = "inbox",
    responses(
        (status = 200, description = "Marked", body = AfterRead),
        (status = 401, description = "No identity (or an invalid one); see WWW-Authenticate", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn read_all(ctx: web::Data<Context>, req: HttpRequest) -> Result<web::Json<AfterRead>> {
    let who = auth::required_identity(&ctx, &req).await?;
    let unread = ctx.services().mark_read(&who, None).await?;
    Ok(web::Json(AfterRead { unread }))
}
