//! Votes over REST: `PUT /api/questions/{id}/vote` and `PUT /api/answers/{id}/vote`.
//!
//! A PUT of the vote's new state (1, -1 or 0), not a POST of "one more vote": repeating it
//! changes nothing, so a retried request is safe without an Idempotency-Key. Each vote counts
//! against the same per-user budget as posts.

use actix_web::{HttpRequest, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::JsonObject;
use crate::{
    domain::{self, PostRef},
    http::{
        Context, auth,
        error::{Error, ErrorBody, Result},
        rate,
    },
};

#[derive(Debug, Deserialize, ToSchema)]
pub struct VoteRequest {
    /// 1 (up), -1 (down) or 0 (withdraw your vote).
    #[schema(minimum = -1, maximum = 1)]
    value: i64,
}

/// The post's score after the vote, and the caller's standing vote.
#[derive(Debug, Serialize, ToSchema)]
pub struct VoteResult {
    /// `question` or `answer`.
    post_kind: String,
    post_id: Uuid,
    /// The sum of the post's standing votes.
    score: i64,
    /// The caller's vote now: 1, -1 or 0.
    vote: i64,
}

impl From<domain::Score> for VoteResult {
    fn from(s: domain::Score) -> Self {
        Self {
            post_kind: s.post.kind.name().to_owned(),
            post_id: s.post.id,
            score: s.score,
            vote: s.vote.value(),
        }
    }
}

async fn vote(ctx: &Context, req: &HttpRequest, post: PostRef, value: i64) -> Result<web::Json<VoteResult>> {
    let voter = auth::required_identity(ctx, req).await?;
    let vote = domain::Vote::parse(value)?;
    rate::check_post(req, &auth::user_owner(voter.user_id)).map_err(Error::rate_limited)?;
    Ok(web::Json(ctx.services().vote(&voter, post, vote).await?.into()))
}

/// Vote a question up or down, or withdraw your vote; subscribers of the question get its new
/// score as a `score` event.
#[utoipa::path(put, path = "/api/questions/{question_id}/vote", tag = "votes", request_body = VoteRequest,
    params(("question_id" = Uuid, Path, description = "The question's id")),
    responses(
        (status = 200, description = "The question's score and your vote", body = VoteResult),
        (status = 400, description = "Malformed JSON or id", body = ErrorBody),
        (status = 401, description = "No identity (or an invalid one); see WWW-Authenticate", body = ErrorBody),
        (status = 403, description = "`own_post`: you wrote it", body = ErrorBody),
        (status = 404, description = "No such question", body = ErrorBody),
        (status = 415, description = "Not application/json", body = ErrorBody),
        (status = 422, description = "`value` is not 1, -1 or 0", body = ErrorBody),
        (status = 429, description = "Too many writes by this user; see Retry-After", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn vote_question(
    ctx: web::Data<Context>,
    req: HttpRequest,
    path: web::Path<Uuid>,
    JsonObject(body): JsonObject<VoteRequest>,
) -> Result<web::Json<VoteResult>> {
    vote(&ctx, &req, PostRef::question(path.into_inner()), body.value).await
}

/// Vote an answer up or down, or withdraw your vote; subscribers of its question get its new
/// score as a `score` event.
#[utoipa::path(put, path = "/api/answers/{answer_id}/vote", tag = "votes", request_body = VoteRequest,
    params(("answer_id" = Uuid, Path, description = "The answer's id")),
    responses(
        (status = 200, description = "The answer's score and your vote", body = VoteResult),
        (status = 400, description = "Malformed JSON or id", body = ErrorBody),
        (status = 401, description = "No identity (or an invalid one); see WWW-Authenticate", body = ErrorBody),
        (status = 403, description = "`own_post`: you wrote it", body = ErrorBody),
        (status = 404, description = "No such answer", body = ErrorBody),
        (status = 415, description = "Not application/json", body = ErrorBody),
        (status = 422, description = "`value` is not 1, -1 or 0", body = ErrorBody),
        (status = 429, description = "Too many writes by this user; see Retry-After", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn vote_answer(
    ctx: web::Data<Context>,
    req: HttpRequest,
    path: web::Path<Uuid>,
    JsonObject(body): JsonObject<VoteRequest>,
) -> Result<web::Json<VoteResult>> {
    vote(&ctx, &req, PostRef::answer(path.into_inner()), body.value).await
}
