//! The REST API: routes, extractor error mapping, and the generated OpenAPI document.
//!
//! Every failure leaves as [`crate::http::error::Error`], including the ones actix-web's extractors
//! raise (bad JSON, wrong content type, oversized body, bad path or query), so clients always
//! get the same JSON error shape and never a 500 for their own mistakes.

mod accepts;
mod follows;
mod health;
mod inbox;
mod markdown;
mod openapi;
mod posts;
pub mod questions;
mod tag_watch;
mod tags;
pub mod tokens;
pub mod votes;
mod webhooks;

use actix_web::{FromRequest, HttpRequest, HttpResponse, dev::Payload, error::JsonPayloadError, web};
use futures_util::future::LocalBoxFuture;
use serde::de::DeserializeOwned;

use super::error::Error;

pub use openapi::ApiDoc;

/// Largest JSON body accepted: 30,000 characters of body can take 120 KB of UTF-8 and more
/// once escaped, so leave room.
pub const JSON_LIMIT: usize = 256 * 1024;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.app_data(
        web::JsonConfig::default().limit(JSON_LIMIT).error_handler(|err, _req| json_error(err).into()),
    )
    .app_data(web::PathConfig::default().error_handler(|_err, req| {
        let id = req
            .match_info()
            .get("question_id")
            .or_else(|| req.match_info().get("token_id"))
            .or_else(|| req.match_info().get("answer_id"))
            .or_else(|| req.match_info().get("webhook_id"))
            .unwrap_or_default();
        Error::bad_request("invalid_id", format!("{id:?} is not a valid id (a UUID).")).into()
    }))
    .app_data(web::QueryConfig::default().error_handler(|err, _req| {
        let detail = err.to_string();
        let detail = detail.trim_start_matches("Query deserialize error: ");
        Error::bad_request("invalid_query", format!("Bad query parameter: {detail}.")).into()
    }))
    .route("/healthz", web::get().to(health::healthz))
    .route("/readyz", web::get().to(health::readyz))
    .route("/api/openapi.json", web::get().to(openapi::document))
    .route("/api/me", web::get().to(tokens::me))
    .route("/api/markdown", web::post().to(markdown::preview))
    .route("/api/me/tags", web::get().to(tag_watch::list))
    .route("/api/tags/{tag}/watch", web::put().to(tag_watch::set))
    .route("/api/inbox", web::get().to(inbox::list))
    .route("/api/inbox/unread", web::get().to(inbox::unread))
    .route("/api/inbox/read-all", web::post().to(inbox::read_all))
    .route("/api/inbox/{entry_id}/read", web::put().to(inbox::read))
    .route("/api/webhooks", web::post().to(webhooks::create))
    .route("/api/webhooks", web::get().to(webhooks::list))
    .route("/api/webhooks/{webhook_id}", web::get().to(webhooks::get))
    .route("/api/webhooks/{webhook_id}", web::delete().to(webhooks::delete))
    .route("/api/webhooks/{webhook_id}/replay", web::post().to(webhooks::replay))
    .route("/api/tags", web::get().to(tags::list))
    .route("/api/tags/{tag}", web::get().to(tags::get))
    .route("/api/tokens", web::get().to(tokens::list))
    .route("/api/tokens", web::post().to(tokens::create))
    .route("/api/tokens/{token_id}", web::delete().to(tokens::revoke))
    .route("/api/answers/{answer_id}", web::patch().to(posts::edit_answer))
    .route("/api/answers/{answer_id}", web::delete().to(posts::delete_answer))
    .route("/api/answers/{answer_id}/revisions", web::get().to(posts::answer_revisions))
    .route("/api/answers/{answer_id}/comments", web::post().to(posts::comment_answer))
    .route("/api/comments/{comment_id}", web::delete().to(posts::delete_comment))
    .route("/api/answers/{answer_id}/vote", web::put().to(votes::vote_answer))
    .route("/api/answers/{answer_id}/accept", web::put().to(accepts::accept))
    .route("/api/answers/{answer_id}/accept", web::delete().to(accepts::unaccept))
    .service(
        web::scope("/api/questions")
            .route("", web::post().to(questions::create))
            .route("", web::get().to(questions::list))
            .route("/{question_id}", web::get().to(questions::get))
            .route("/{question_id}", web::patch().to(posts::edit_question))
            .route("/{question_id}", web::delete().to(posts::delete_question))
            .route("/{question_id}/revisions", web::get().to(posts::question_revisions))
            .route("/{question_id}/comments", web::post().to(posts::comment_question))
            .route("/{question_id}/comments", web::get().to(posts::list_comments))
            .route("/{question_id}/answers", web::post().to(questions::post_answer))
            .route("/{question_id}/answers", web::get().to(questions::list_answers))
            .route("/{question_id}/vote", web::put().to(votes::vote_question))
            .route("/{question_id}/follow", web::get().to(follows::status))
            .route("/{question_id}/follow", web::put().to(follows::set)),
    );
}

fn json_error(err: JsonPayloadError) -> Error {
    match err {
        JsonPayloadError::ContentType => Error::UnsupportedMediaType(
            "The body must be JSON, sent with Content-Type: application/json.".into(),
        ),
        JsonPayloadError::OverflowKnownLength { length, limit } => {
            Error::PayloadTooLarge(format!("The body is {length} bytes; the limit is {limit}."))
        }
        JsonPayloadError::Overflow { limit } => {
            Error::PayloadTooLarge(format!("The body is over the {limit}-byte limit."))
        }
        JsonPayloadError::Payload(e) if crate::http::body::is_timed_out(&e) => Error::RequestTimeout(
            "The body did not arrive in time (--body-timeout-secs); send it in one go.".into(),
        ),
        JsonPayloadError::Deserialize(e) if e.is_data() => {
            Error::invalid_field(format!("{}.", strip_position(&e)))
        }
        JsonPayloadError::Deserialize(e) => {
            Error::bad_request("invalid_json", format!("The body is not valid JSON: {}.", strip_position(&e)))
        }
        other => Error::bad_request("invalid_body", format!("The body could not be read: {other}.")),
    }
}

/// A JSON request body that must be an object. serde would otherwise also accept an array
/// and fill the struct's fields by position, which no client means.
pub struct JsonObject<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for JsonObject<T> {
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let value = web::Json::<serde_json::Value>::from_request(req, payload);
        Box::pin(async move {
            let web::Json(value) = value.await?;
            if !value.is_object() {
                return Err(Error::Unprocessable {
                    code: "invalid_body",
                    message: "The body must be a JSON object.".into(),
                }
                .into());
            }
            serde_json::from_value(value)
                .map(JsonObject)
                .map_err(|e| Error::invalid_field(format!("{e}.")).into())
        })
    }
}

/// serde_json appends " at line 1 column 9"; people do not need it for one-line bodies.
fn strip_position(e: &serde_json::Error) -> String {
    let text = e.to_string();
    match text.rfind(" at line ") {
        Some(at) => text[..at].to_owned(),
        None => text,
    }
}

/// Answers unknown paths with the API's JSON error instead of an empty 404.
pub async fn not_found(req: HttpRequest) -> HttpResponse {
    use actix_web::ResponseError;
    Error::not_found("not_found", format!("Nothing at {} {}.", req.method(), req.path())).error_response()
}
