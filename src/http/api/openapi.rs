//! The OpenAPI 3 document, generated from the handlers' annotations so it cannot drift.

use actix_web::HttpResponse;
use utoipa::OpenApi;

use super::{health, questions};

#[derive(OpenApi)]
#[openapi(
    info(title = "qa-hub", description = "REST API of qa-hub. Live answers are pushed over the WebSocket at /ws; see docs/protocol.md."),
    paths(
        health::healthz,
        health::readyz,
        questions::create,
        questions::list,
        questions::get,
        questions::post_answer,
        questions::list_answers,
    ),
    tags(
        (name = "questions", description = "Create and read questions"),
        (name = "answers", description = "Post and read answers"),
        (name = "health", description = "Probes"),
    )
)]
pub struct ApiDoc;

pub async fn document() -> HttpResponse {
    HttpResponse::Ok().json(ApiDoc::openapi())
}
