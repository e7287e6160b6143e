//! The accepted answer over REST: `PUT` and `DELETE /api/answers/{id}/accept`.
//!
//! Both state what should hold afterwards, so repeating either changes nothing: a retried
//! request is safe without an Idempotency-Key. Each counts against the per-user write budget.

use actix_web::{HttpRequest, web};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::http::{
    Context, auth,
    error::{Error, ErrorBody, Result},
    rate,
};

/// The question's accepted answer after the request.
#[derive(Debug, Serialize, ToSchema)]
pub struct Accepted {
    question_id: Uuid,
    /// `null` when no answer is accepted.
    accepted_answer_id: Option<Uuid>,
}

async fn set(ctx: &Context, req: &HttpRequest, answer_id: Uuid, accept: bool) -> Result<web::Json<Accepted>> {
    let asker = auth::required_identity(ctx, req).await?;
    rate::check_post(req, &auth::user_owner(asker.user_id)).map_err(Error::rate_limited)?;
    let (question_id, accepted_answer_id) = ctx.services().accept(&asker, answer_id, accept).await?;
    Ok(web::Json(Accepted { question_id, accepted_answer_id }))
}

/// Accept an answer to your question (replacing the one accepted before, if any);
/// subscribers get `unaccept` of that one, then `accept` of this one.
#[utoipa::path(put, path = "/api/answers/{answer_id}/accept", tag = "votes",
    params(("answer_id" = Uuid, Path, description = "The answer's id")),
    responses(
        (status = 200, description = "The question's accepted answer now", body = Accepted),
        (status = 400, description = "The id is not a UUID", body = ErrorBody),
        (status = 401, description = "No identity (or an invalid one); see WWW-Authenticate", body = ErrorBody),
        (status = 403, description = "`not_asker`: only the asker may accept", body = ErrorBody),
        (status = 404, description = "No such answer", body = ErrorBody),
        (status = 429, description = "Too many writes by this user; see Retry-After", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn accept(
    ctx: web::Data<Context>,
    req: HttpRequest,
    path: web::Path<Uuid>,
) -> Result<web::Json<Accepted>> {
    set(&ctx, &req, path.into_inner(), true).await
}

/// Withdraw the acceptance of this answer (if it is the accepted one; otherwise nothing
/// changes); subscribers get `unaccept`.
#[utoipa::path(delete, path = "/api/answers/{answer_id}/accept", tag = "votes",
    params(("answer_id" = Uuid, Path, description = "The answer's id")),
    responses(
        (status = 200, description = "The question's accepted answer now", body = Accepted),
        (status = 400, description = "The id is not a UUID", body = ErrorBody),
        (status = 401, description = "No identity (or an invalid one); see WWW-Authenticate", body = ErrorBody),
        (status = 403, description = "`not_asker`: only the asker may withdraw it", body = ErrorBody),
        (status = 404, description = "No such answer", body = ErrorBody),
        (status = 429, description = "Too many writes by this user; see Retry-After", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn unaccept(
    ctx: web::Data<Context>,
    req: HttpRequest,
    path: web::Path<Uuid>,
) -> Result<web::Json<Accepted>> {
    set(&ctx, &req, path.into_inner(), false).await
}
