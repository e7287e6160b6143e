//! `POST /api/markdown`: the HTML a body would be shown as, for the forms' live preview. The
//! same rendering a post gets when it is written (`domain::markdown`), so the preview is what
//! the page will show; nothing is stored.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::JsonObject;
use crate::{
    domain::{Body, CommentText, markdown},
    http::{
        Context, auth,
        error::{Error, ErrorBody, Result},
        rate,
    },
};

/// Markdown to preview.
#[derive(Debug, Deserialize, ToSchema)]
pub struct Preview {
    /// The Markdown, as a body would be written: up to 30,000 characters (a comment: 600). An
    /// empty one previews as nothing.
    #[schema(max_length = 30000)]
    body: String,
    /// Render as a comment (the inline subset: code, emphasis, strong, links) instead of a post.
    #[serde(default)]
    comment: bool,
}

/// The preview.
#[derive(Debug, Serialize, ToSchema)]
pub struct Rendered {
    /// Sanitised HTML, exactly as a post (or comment) with that body would show it.
    html: String,
}

/// Preview Markdown as HTML.
#[utoipa::path(post, path = "/api/markdown", operation_id = "preview_markdown", tag = "posts", request_body = Preview,
    responses(
        (status = 200, description = "The HTML a post (or comment) with this body would show", body = Rendered),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 401, description = "No identity (or an invalid one); see WWW-Authenticate", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Not application/json", body = ErrorBody),
        (status = 422, description = "The body is too long or holds a character a post refuses", body = ErrorBody),
        (status = 429, description = "Too many previews by this user; see Retry-After", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
    ),
    security((), ("bearer" = [])))]
pub async fn preview(
    ctx: web::Data<Context>,
    req: HttpRequest,
    JsonObject(preview): JsonObject<Preview>,
) -> Result<HttpResponse> {
    let writer = auth::writer(&ctx, &req).await?;
    rate::check_preview(&req, &writer.owner(&req)).map_err(Error::rate_limited)?;
    let html = if preview.body.trim().is_empty() {
        String::new()
    } else if preview.comment {
        markdown::inline(CommentText::parse(preview.body)?.as_str())
    } else {
        markdown::full(Body::parse(preview.body)?.as_str())
    };
    Ok(HttpResponse::Ok().json(Rendered { html }))
}
