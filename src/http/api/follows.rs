//! Following a question over REST: `GET` and `PUT /api/questions/{id}/follow`.
//!
//! A PUT of the caller's choice (`following`, `unfollowed`, `muted`), so repeating it is
//! harmless. Each PUT counts against the same per-user budget as posts.

use actix_web::{HttpRequest, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::JsonObject;
use crate::{
    domain::{self, FollowChoice},
    http::{
        Context, auth,
        error::{Error, ErrorBody, Result},
        rate,
    },
};

#[derive(Debug, Deserialize, ToSchema)]
pub struct FollowRequest {
    /// `following` (follow it), `unfollowed` (stop following it) or `muted` (hear nothing of
    /// it, not even as its asker).
    state: String,
}

/// The caller's relation to a question.
#[derive(Debug, Serialize, ToSchema)]
pub struct FollowStatus {
    question_id: Uuid,
    /// Whether its changes reach the caller as a follower.
    following: bool,
    /// Whether the caller hears nothing of it.
    muted: bool,
    /// The caller's own choice (`following`, `unfollowed`, `muted`), or null when following
    /// follows from what they wrote on it.
    choice: Option<String>,
    /// What the caller wrote on it: `asked`, `answered`, `commented`.
    involvement: Vec<&'static str>,
}

impl From<domain::Follow> for FollowStatus {
    fn from(f: domain::Follow) -> Self {
        let i = f.involvement;
        let involvement = [(i.asked, "asked"), (i.answered, "answered"), (i.commented, "commented")]
            .into_iter()
            .filter_map(|(yes, name)| yes.then_some(name))
            .collect();
        Self {
            question_id: f.question_id,
            following: f.following(),
            muted: f.muted(),
            choice: f.choice.map(|c| c.name().to_owned()),
            involvement,
        }
    }
}

/// Whether you follow a question, and why. Asking, answering or commenting follows it.
#[utoipa::path(get, path = "/api/questions/{question_id}/follow", tag = "follows",
    params(("question_id" = Uuid, Path, description = "The question's id")),
    responses(
        (status = 200, description = "Your relation to the question", body = FollowStatus),
        (status = 400, description = "The id is not a UUID", body = ErrorBody),
        (status = 401, description = "No identity (or an invalid one); see WWW-Authenticate", body = ErrorBody),
        (status = 404, description = "No such question", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn status(
    ctx: web::Data<Context>,
    req: HttpRequest,
    path: web::Path<Uuid>,
) -> Result<web::Json<FollowStatus>> {
    let who = auth::required_identity(&ctx, &req).await?;
    Ok(web::Json(ctx.services().follow_status(&who, path.into_inner()).await?.into()))
}

/// Follow a question, stop following it, or mute it.
#[utoipa::path(put, path = "/api/questions/{question_id}/follow", tag = "follows", request_body = FollowRequest,
    params(("question_id" = Uuid, Path, description = "The question's id")),
    responses(
        (status = 200, description = "Your relation to the question now", body = FollowStatus),
        (status = 400, description = "Malformed JSON or id", body = ErrorBody),
        (status = 401, description = "No identity (or an invalid one); see WWW-Authenticate", body = ErrorBody),
        (status = 404, description = "No such question", body = ErrorBody),
        (status = 415, description = "Not application/json", body = ErrorBody),
        (status = 422, description = "`state` is not `following`, `unfollowed` or `muted`", body = ErrorBody),
        (status = 429, description = "Too many writes by this user; see Retry-After", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn set(
    ctx: web::Data<Context>,
    req: HttpRequest,
    path: web::Path<Uuid>,
    JsonObject(body): JsonObject<FollowRequest>,
) -> Result<web::Json<FollowStatus>> {
    let who = auth::required_identity(&ctx, &req).await?;
    let choice = FollowChoice::parse(&body.state)?;
    rate::check_post(&req, &auth::user_owner(who.user_id)).map_err(Error::rate_limited)?;
    Ok(web::Json(ctx.services().set_follow(&who, path.into_inner(), choice).await?.into()))
}
