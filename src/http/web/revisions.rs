//! A post's revisions (`/questions/{id}/revisions`, `?answer={answer_id}` for an answer's):
//! every version of the question or of one of its answers, newest first.

use actix_web::{HttpResponse, http::StatusCode, web};
use askama::Template;
use serde::Deserialize;
use uuid::Uuid;

use super::{
    extract::{PageLink, PageQuery, QuestionId, Visitor, blank_is_none},
    page::{PageError, TagLink, Viewer, html, when},
};
use crate::{
    domain::{PostKind, PostRef},
    http::Context,
};

/// `?answer={answer_id}`: the answer's revisions rather than the question's.
#[derive(Debug, Deserialize)]
pub struct RevisionsQuery {
    #[serde(default, deserialize_with = "blank_is_none")]
    answer: Option<Uuid>,
}

impl PageLink for RevisionsQuery {
    fn invalid() -> PageError {
        PageError::new(StatusCode::BAD_REQUEST, "Bad link", "That revisions link is not valid.")
    }
}

struct RevisionView {
    revision: i64,
    title: Option<String>,
    /// Rendered when the revision was written: shown as is (`|safe`).
    body_html: String,
    /// A question's tags at this revision (an answer has none).
    tags: Vec<TagLink>,
    editor: String,
    when: String,
    iso: String,
}

#[derive(Template)]
#[template(path = "revisions.html")]
struct RevisionsPage {
    question_id: Uuid,
    /// The question's title now.
    title: String,
    /// "question" or "answer".
    kind: &'static str,
    /// Newest first.
    revisions: Vec<RevisionView>,
    viewer: Option<Viewer>,
}

/// `GET /questions/{id}/revisions[?answer={answer_id}]`: every revision of the question or
/// of one of its answers, newest first.
pub async fn page(
    ctx: web::Data<Context>,
    QuestionId(id): QuestionId,
    PageQuery(query): PageQuery<RevisionsQuery>,
    visitor: Visitor,
) -> Result<HttpResponse, PageError> {
    let post = query.answer.map_or(PostRef::question(id), PostRef::answer);
    let (viewer, identity) = visitor.unzip();
    let services = ctx.services();
    let revisions = services.revisions(identity.as_ref(), post).await?;
    // An answer of another question is not one of this page's.
    if revisions.iter().any(|r| r.question_id != id) {
        return Err(PageError::new(
            StatusCode::NOT_FOUND,
            "Not found",
            "That answer is not on this question.",
        ));
    }
    let title = match post.kind {
        PostKind::Question => revisions.last().and_then(|r| r.title.clone()).unwrap_or_default(),
        PostKind::Answer => services.question(id).await?.title,
    };
    let revisions = revisions
        .into_iter()
        .rev()
        .map(|r| {
            let (when, iso) = when(r.created_at);
            let tags = TagLink::all(r.tags.as_deref().unwrap_or_default());
            RevisionView {
                revision: r.revision,
                title: r.title,
                body_html: r.body_html,
                tags,
                editor: r.editor,
                when,
                iso,
            }
        })
        .collect();
    let page = RevisionsPage { question_id: id, title, kind: post.kind.name(), revisions, viewer };
    Ok(html(StatusCode::OK, &page))
}
