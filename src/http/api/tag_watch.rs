//! Watched and ignored tags over REST: `PUT /api/tags/{tag}/watch` and `GET /api/me/tags`.
//!
//! A PUT of the caller's choice (`watching`, `ignored`, or `none`/null to clear it), so
//! repeating it is harmless. Each PUT counts against the same per-user budget as posts; a user
//! has at most 200 choices (`MAX_TAG_WATCHES_PER_USER`).

use actix_web::{HttpRequest, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::JsonObject;
use crate::{
    domain::{self, DomainError, MAX_TAG_WATCHES_PER_USER, TagName, TagWatchState},
    http::{
        Context, auth,
        error::{Error, ErrorBody, Result},
        rate,
    },
};

#[derive(Debug, Deserialize, ToSchema)]
pub struct WatchRequest {
    /// `watching` (a new question in the tag is an inbox entry), `ignored` (its questions never
    /// notify you and are hidden from your home page), or `none` or null (neither).
    #[serde(default)]
    state: Option<String>,
}

/// The caller's choice about one tag.
#[derive(Debug, Serialize, ToSchema)]
pub struct TagWatch {
    #[schema(value_type = String, example = "rust")]
    tag: TagName,
    /// `watching`, `ignored`, or null (neither).
    state: Option<&'static str>,
    /// When the choice was made (a watch notifies of questions asked after it); null when none.
    since: Option<DateTime<Utc>>,
}

impl From<domain::TagWatch> for TagWatch {
    fn from(w: domain::TagWatch) -> Self {
        Self { tag: w.tag, state: Some(w.state.name()), since: Some(w.since) }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TagWatchList {
    /// Watched and ignored tags, by name.
    items: Vec<TagWatch>,
    /// How many a user may have (200).
    max: i64,
}

/// A tag name from the path, or a 422 naming the rule.
pub fn tag_of(name: &str) -> std::result::Result<TagName, DomainError> {
    name.parse()
        .map_err(|_| DomainError::invalid("tag", format!("{name:?} is not a tag name. {}", TagName::RULE)))
}

/// Watch a tag, ignore it, or clear your choice.
#[utoipa::path(put, path = "/api/tags/{tag}/watch", operation_id = "watch_tag", tag = "tags", request_body = WatchRequest,
    params(("tag" = String, Path, description = "The tag's name")),
    responses(
        (status = 200, description = "Your choice about the tag now", body = TagWatch),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 401, description = "No identity (or an invalid one); see WWW-Authenticate", body = ErrorBody),
        (status = 409, description = "You watch or ignore 200 tags already (`too_many_tags`)", body = ErrorBody),
        (status = 415, description = "Not application/json", body = ErrorBody),
        (status = 422, description = "Not a tag name (the rule is in the message), or `state` is not `watching`, `ignored`, `none` or null", body = ErrorBody),
        (status = 429, description = "Too many writes by this user; see Retry-After", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn set(
    ctx: web::Data<Context>,
    req: HttpRequest,
    path: web::Path<String>,
    JsonObject(body): JsonObject<WatchRequest>,
) -> Result<web::Json<TagWatch>> {
    let who = auth::required_identity(&ctx, &req).await?;
    let tag = tag_of(&path)?;
    let state = TagWatchState::parse(body.state.as_deref())?;
    rate::check_post(&req, &auth::user_owner(who.user_id)).map_err(Error::rate_limited)?;
    ctx.services().set_tag_watch(&who, tag, state).await?;
    let now = ctx.services().tag_watches(&who).await?.into_iter().find(|w| w.tag == tag);
    Ok(web::Json(match now {
        Some(w) => w.into(),
        None => TagWatch { tag, state: None, since: None },
    }))
}

/// Your watched and ignored tags.
#[utoipa::path(get, path = "/api/me/tags", operation_id = "list_tag_watches", tag = "tags",
    responses(
        (status = 200, description = "Your watched and ignored tags, by name", body = TagWatchList),
        (status = 401, description = "No identity (or an invalid one); see WWW-Authenticate", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn list(ctx: web::Data<Context>, req: HttpRequest) -> Result<web::Json<TagWatchList>> {
    let who = auth::required_identity(&ctx, &req).await?;
    let items = ctx.services().tag_watches(&who).await?.into_iter().map(Into::into).collect();
    Ok(web::Json(TagWatchList { items, max: MAX_TAG_WATCHES_PER_USER }))
}
