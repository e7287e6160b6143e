//! `/api/me` and `/api/tokens`: who the caller is, and their service tokens (listed, created,
//! revoked by their owner).

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::JsonObject;
use crate::{
    domain,
    http::{
        Context, auth,
        error::{Error, ErrorBody, Result},
        rate,
    },
};

/// The caller's identity.
#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    pub id: Uuid,
    /// What their posts show as the author.
    pub name: String,
    /// `user`, `moderator` or `admin`.
    pub role: String,
}

/// A service token as listed: never the secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct Token {
    pub id: Uuid,
    pub name: String,
    pub created_at: DateTime<Utc>,
    /// Null while the token works.
    pub revoked_at: Option<DateTime<Utc>>,
}

impl From<domain::ServiceToken> for Token {
    fn from(t: domain::ServiceToken) -> Self {
        Self { id: t.id, name: t.name, created_at: t.created_at, revoked_at: t.revoked_at }
    }
}

/// A token just created: the secret is in `token`, shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedToken {
    #[serde(flatten)]
    pub listed: Token,
    /// `Authorization: Bearer` this. Stored only as a hash: it cannot be shown again.
    pub token: String,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct NewToken {
    /// What the token is for: 1 to 64 characters.
    name: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TokenList {
    /// Newest first, revoked ones included.
    items: Vec<Token>,
}

/// Who the request's credential stands for.
#[utoipa::path(get, path = "/api/me", tag = "identity", responses(
    (status = 200, description = "The caller", body = Me),
    (status = 401, description = "No identity, or an invalid one", body = ErrorBody),
), security(("bearer" = [])))]
pub async fn me(ctx: web::Data<Context>, req: HttpRequest) -> Result<web::Json<Me>> {
    let identity = auth::required_identity(&ctx, &req).await?;
    Ok(web::Json(Me {
        id: identity.user_id,
        name: identity.name.into_inner(),
        role: identity.role.as_str().to_owned(),
    }))
}

/// The caller's service tokens.
#[utoipa::path(get, path = "/api/tokens", operation_id = "list_tokens", tag = "identity", responses(
    (status = 200, description = "The caller's tokens", body = TokenList),
    (status = 401, description = "No identity, or an invalid one", body = ErrorBody),
), security(("bearer" = [])))]
pub async fn list(ctx: web::Data<Context>, req: HttpRequest) -> Result<web::Json<TokenList>> {
    let identity = auth::required_identity(&ctx, &req).await?;
    let items = ctx.services().tokens(identity.user_id).await?.into_iter().map(Into::into).collect();
    Ok(web::Json(TokenList { items }))
}

/// Create a service token for the caller.
#[utoipa::path(post, path = "/api/tokens", operation_id = "create_token", tag = "identity", request_body = NewToken, responses(
    (status = 201, description = "Created; the secret is shown this once", body = CreatedToken),
    (status = 401, description = "No identity, or an invalid one", body = ErrorBody),
    (status = 422, description = "A bad name", body = ErrorBody),
    (status = 429, description = "Over the user's post budget; see Retry-After", body = ErrorBody),
), security(("bearer" = [])))]
pub async fn create(
    ctx: web::Data<Context>,
    req: HttpRequest,
    JsonObject(new): JsonObject<NewToken>,
) -> Result<HttpResponse> {
    let identity = auth::required_identity(&ctx, &req).await?;
    // Each token is a row: creating them counts against the user's post budget.
    rate::check_post(&req, &auth::user_owner(identity.user_id)).map_err(Error::rate_limited)?;
    let (token, listed) = ctx.services().create_token(identity.user_id, &new.name).await?;
    Ok(HttpResponse::Created().json(CreatedToken { listed: listed.into(), token }))
}

/// Revoke one of the caller's tokens: it stops working at once, on every node.
#[utoipa::path(delete, path = "/api/tokens/{token_id}", tag = "identity",
    params(("token_id" = Uuid, Path, description = "The token's id")),
    responses(
        (status = 204, description = "Revoked (or already was)"),
        (status = 401, description = "No identity, or an invalid one", body = ErrorBody),
        (status = 404, description = "The caller has no such token", body = ErrorBody),
    ), security(("bearer" = [])))]
pub async fn revoke(
    ctx: web::Data<Context>,
    req: HttpRequest,
    path: web::Path<Uuid>,
) -> Result<HttpResponse> {
    let identity = auth::required_identity(&ctx, &req).await?;
    ctx.services().revoke_token(identity.user_id, path.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}
