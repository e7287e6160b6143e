//! The OpenAPI 3 document, generated from the handlers' annotations so it cannot drift.

use actix_web::HttpResponse;
use utoipa::{
    Modify, OpenApi,
    openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
};

use super::{
    accepts, follows, health, inbox, markdown, posts, questions, tag_watch, tags, tokens, votes, webhooks,
};

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
        tags::list,
        tags::get,
        tokens::me,
        tokens::list,
        tokens::create,
        tokens::revoke,
        votes::vote_question,
        votes::vote_answer,
        accepts::accept,
        accepts::unaccept,
        posts::edit_question,
        posts::edit_answer,
        posts::question_revisions,
        posts::answer_revisions,
        posts::delete_question,
        posts::delete_answer,
        posts::comment_question,
        posts::comment_answer,
        posts::list_comments,
        posts::delete_comment,
        markdown::preview,
        follows::status,
        follows::set,
        tag_watch::set,
        tag_watch::list,
        inbox::list,
        inbox::unread,
        inbox::read,
        inbox::read_all,
        webhooks::create,
        webhooks::list,
        webhooks::get,
        webhooks::replay,
        webhooks::delete,
    ),
    modifiers(&Bearer),
    tags(
        (name = "questions", description = "Create and read questions, and the tags they carry"),
        (name = "answers", description = "Post and read answers"),
        (name = "votes", description = "Vote questions and answers up or down, and accept an answer"),
        (name = "posts", description = "Edit and delete questions and answers, list their revisions, comment on them, and preview Markdown"),
        (name = "follows", description = "Follow, unfollow or mute a question"),
        (name = "tags", description = "Watch or ignore tags: new questions in a watched tag reach your inbox"),
        (name = "inbox", description = "Your notifications: list, unread count, mark read"),
        (name = "webhooks", description = "Signed POSTs of a topic's events to your URL, in seq order, retried"),
        (name = "identity", description = "Who the caller is, and their service tokens"),
        (name = "health", description = "Probes"),
    )
)]
pub struct ApiDoc;

/// `Authorization: Bearer`: a service token (`qah_…`) or a host-signed JWT. Same-origin page
/// requests may use the log-in session cookie instead.
struct Bearer;

impl Modify for Bearer {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

pub async fn document() -> HttpResponse {
    HttpResponse::Ok().json(ApiDoc::openapi())
}
