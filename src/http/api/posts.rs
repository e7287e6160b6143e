//! Edits, revisions, deletes and comments over REST.
//!
//! `PATCH` states the text a post should have: repeating it changes nothing (an edit to the
//! same text is not a new revision). `DELETE` of something deleted already is 410. Adding a
//! comment is a `POST` and takes an `Idempotency-Key`, like posting an answer. Every write
//! counts against the same per-user budget as posts.

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::JsonObject;
use crate::{
    domain::{self, Body, CommentText, Edit, Identity, PostRef, Tags, Title},
    http::{
        Context, auth,
        error::{Error, ErrorBody, Result},
        rate,
    },
};

/// One revision of a post.
#[derive(Debug, Serialize, ToSchema)]
pub struct Revision {
    /// `question` or `answer`.
    post_kind: String,
    post_id: Uuid,
    question_id: Uuid,
    /// 1 is the post as written; each edit adds one.
    revision: i64,
    /// A question's title at this revision; null for answers.
    title: Option<String>,
    /// The Markdown source, exactly as written (what an edit starts from).
    body: String,
    /// `body` rendered to sanitised HTML when it was written (docs/security.md): show it as is.
    body_html: String,
    /// A question's tags at this revision; absent for answers.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<String>>)]
    tags: Option<Vec<domain::TagName>>,
    /// Who wrote this revision.
    editor: String,
    editor_id: Option<Uuid>,
    created_at: DateTime<Utc>,
}

impl From<domain::Revision> for Revision {
    fn from(r: domain::Revision) -> Self {
        Self {
            post_kind: r.post.kind.name().to_owned(),
            post_id: r.post.id,
            question_id: r.question_id,
            revision: r.revision,
            title: r.title,
            body: r.body,
            body_html: r.body_html,
            tags: r.tags,
            editor: r.editor,
            editor_id: r.editor_id,
            created_at: r.created_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RevisionList {
    /// Oldest first.
    items: Vec<Revision>,
}

/// The new text of a question: a title, a body, tags, or any mix.
#[derive(Debug, Deserialize, ToSchema)]
pub struct QuestionEdit {
    /// 1 to 300 characters; absent keeps the title.
    #[schema(min_length = 1, max_length = 300)]
    #[serde(default)]
    title: Option<String>,
    /// 1 to 30,000 characters; absent keeps the body.
    #[schema(min_length = 1, max_length = 30000)]
    #[serde(default)]
    body: Option<String>,
    /// 1 to 5 tag names (the rules of `tags` when asking); absent keeps the tags. Each tag
    /// added announces the question on its topic (`question`), each removed says it left
    /// (`question-delete`).
    #[schema(min_items = 1, max_items = 5)]
    #[serde(default)]
    tags: Option<Vec<String>>,
}

/// The new text of an answer.
#[derive(Debug, Deserialize, ToSchema)]
pub struct AnswerEdit {
    /// 1 to 30,000 characters.
    #[schema(min_length = 1, max_length = 30000)]
    body: String,
    /// Read only to be refused (422): an answer has no tags.
    #[schema(ignore)]
    #[serde(default)]
    tags: Option<Vec<String>>,
}

/// A comment to add.
#[derive(Debug, Deserialize, ToSchema)]
pub struct NewComment {
    /// One line, 1 to 600 characters.
    #[schema(min_length = 1, max_length = 600)]
    body: String,
}

/// A comment.
#[derive(Debug, Serialize, ToSchema)]
pub struct Comment {
    id: Uuid,
    question_id: Uuid,
    /// `question` or `answer`: what it comments on.
    post_kind: String,
    post_id: Uuid,
    /// The Markdown source, exactly as written.
    body: String,
    /// `body` rendered to sanitised HTML, the inline subset only (code, emphasis, strong,
    /// links): show it as is.
    body_html: String,
    author: String,
    author_id: Option<Uuid>,
    created_at: DateTime<Utc>,
}

impl From<domain::Comment> for Comment {
    fn from(c: domain::Comment) -> Self {
        Self {
            id: c.id,
            question_id: c.question_id,
            post_kind: c.post.kind.name().to_owned(),
            post_id: c.post.id,
            body: c.body,
            body_html: c.body_html,
            author: c.author,
            author_id: c.author_id,
            created_at: c.created_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CommentList {
    /// Oldest first: on the question and on each of its answers.
    items: Vec<Comment>,
}

/// The caller, within their write budget.
async fn writer(ctx: &Context, req: &HttpRequest) -> Result<Identity> {
    let who = auth::required_identity(ctx, req).await?;
    rate::check_post(req, &auth::user_owner(who.user_id)).map_err(Error::rate_limited)?;
    Ok(who)
}

async fn edit(
    ctx: &Context,
    req: &HttpRequest,
    post: PostRef,
    title: Option<String>,
    body: Option<String>,
    tags: Option<Vec<String>>,
) -> Result<web::Json<Revision>> {
    let who = writer(ctx, req).await?;
    let edit = Edit {
        title: title.map(Title::parse).transpose()?,
        body: body.map(Body::parse).transpose()?,
        tags: tags.as_deref().map(Tags::parse).transpose()?,
        editor: who.name.clone(),
        editor_id: who.user_id,
    };
    let services = ctx.services();
    let revision = match services.edit(&who, post, edit).await? {
        Some(revision) => revision,
        // Nothing changed: the post's latest revision is what it already holds.
        None => services.revisions(Some(&who), post).await?.pop().ok_or_else(|| post.not_found())?,
    };
    Ok(web::Json(revision.into()))
}

/// Edit a question's title, body or tags (its author or a moderator); subscribers get an `edit`
/// event with the new text and revision number (and the new tags when they changed), and the
/// topics of the tags added and removed a `question` and a `question-delete` event.
#[utoipa::path(patch, path = "/api/questions/{question_id}", tag = "posts", request_body = QuestionEdit,
    params(("question_id" = Uuid, Path, description = "The question's id")),
    responses(
        (status = 200, description = "The question's latest revision (unchanged when the edit changed nothing)", body = Revision),
        (status = 400, description = "Malformed JSON or id", body = ErrorBody),
        (status = 401, description = "No identity (or an invalid one); see WWW-Authenticate", body = ErrorBody),
        (status = 403, description = "`not_author`: only its author or a moderator may edit it", body = ErrorBody),
        (status = 404, description = "No such question", body = ErrorBody),
        (status = 410, description = "The question was deleted", body = ErrorBody),
        (status = 415, description = "Not application/json", body = ErrorBody),
        (status = 422, description = "A field is empty or too long, a tag breaks the rules (the message says which), or no field is given", body = ErrorBody),
        (status = 429, description = "Too many writes by this user; see Retry-After", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn edit_question(
    ctx: web::Data<Context>,
    req: HttpRequest,
    path: web::Path<Uuid>,
    JsonObject(body): JsonObject<QuestionEdit>,
) -> Result<web::Json<Revision>> {
    edit(&ctx, &req, PostRef::question(path.into_inner()), body.title, body.body, body.tags).await
}

/// Edit an answer's body (its author or a moderator); subscribers get an `edit` event.
#[utoipa::path(patch, path = "/api/answers/{answer_id}", tag = "posts", request_body = AnswerEdit,
    params(("answer_id" = Uuid, Path, description = "The answer's id")),
    responses(
        (status = 200, description = "The answer's latest revision (unchanged when the edit changed nothing)", body = Revision),
        (status = 400, description = "Malformed JSON or id", body = ErrorBody),
        (status = 401, description = "No identity (or an invalid one); see WWW-Authenticate", body = ErrorBody),
        (status = 403, description = "`not_author`: only its author or a moderator may edit it", body = ErrorBody),
        (status = 404, description = "No such answer", body = ErrorBody),
        (status = 410, description = "The answer was deleted", body = ErrorBody),
        (status = 415, description = "Not application/json", body = ErrorBody),
        (status = 422, description = "The body is empty or too long, or `tags` is given (an answer has none)", body = ErrorBody),
        (status = 429, description = "Too many writes by this user; see Retry-After", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn edit_answer(
    ctx: web::Data<Context>,
    req: HttpRequest,
    path: web::Path<Uuid>,
    JsonObject(body): JsonObject<AnswerEdit>,
) -> Result<web::Json<Revision>> {
    edit(&ctx, &req, PostRef::answer(path.into_inner()), None, Some(body.body), body.tags).await
}

async fn revisions(ctx: &Context, req: &HttpRequest, post: PostRef) -> Result<web::Json<RevisionList>> {
    let viewer = auth::identify(ctx, req).await?.map(|a| a.identity);
    let items = ctx.services().revisions(viewer.as_ref(), post).await?;
    Ok(web::Json(RevisionList { items: items.into_iter().map(Into::into).collect() }))
}

/// Every revision of a question, oldest first.
#[utoipa::path(get, path = "/api/questions/{question_id}/revisions", tag = "posts",
    params(("question_id" = Uuid, Path, description = "The question's id")),
    responses(
        (status = 200, description = "Its revisions", body = RevisionList),
        (status = 400, description = "The id is not a UUID", body = ErrorBody),
        (status = 404, description = "No such question", body = ErrorBody),
        (status = 410, description = "The question was deleted", body = ErrorBody),
    ))]
pub async fn question_revisions(
    ctx: web::Data<Context>,
    req: HttpRequest,
    path: web::Path<Uuid>,
) -> Result<web::Json<RevisionList>> {
    revisions(&ctx, &req, PostRef::question(path.into_inner())).await
}

/// Every revision of an answer, oldest first.
#[utoipa::path(get, path = "/api/answers/{answer_id}/revisions", tag = "posts",
    params(("answer_id" = Uuid, Path, description = "The answer's id")),
    responses(
        (status = 200, description = "Its revisions", body = RevisionList),
        (status = 400, description = "The id is not a UUID", body = ErrorBody),
        (status = 404, description = "No such answer", body = ErrorBody),
        (status = 410, description = "The answer was deleted", body = ErrorBody),
    ))]
pub async fn answer_revisions(
    ctx: web::Data<Context>,
    req: HttpRequest,
    path: web::Path<Uuid>,
) -> Result<web::Json<RevisionList>> {
    revisions(&ctx, &req, PostRef::answer(path.into_inner())).await
}

async fn delete(ctx: &Context, req: &HttpRequest, post: PostRef) -> Result<HttpResponse> {
    let who = writer(ctx, req).await?;
    ctx.services().delete(&who, post).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Delete a question: its author while it has no answers, or a moderator. Subscribers get a
/// `delete` tombstone; readers get 404 from then on.
#[utoipa::path(delete, path = "/api/questions/{question_id}", tag = "posts",
    params(("question_id" = Uuid, Path, description = "The question's id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "The id is not a UUID", body = ErrorBody),
        (status = 401, description = "No identity (or an invalid one); see WWW-Authenticate", body = ErrorBody),
        (status = 403, description = "`not_author`, or `has_answers`: only a moderator may delete a question with answers", body = ErrorBody),
        (status = 404, description = "No such question", body = ErrorBody),
        (status = 410, description = "Deleted already", body = ErrorBody),
        (status = 429, description = "Too many writes by this user; see Retry-After", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn delete_question(
    ctx: web::Data<Context>,
    req: HttpRequest,
    path: web::Path<Uuid>,
) -> Result<HttpResponse> {
    delete(&ctx, &req, PostRef::question(path.into_inner())).await
}

/// Delete an answer (its author or a moderator). Subscribers get a `delete` tombstone; its
/// text is never served again, not even in a resume.
#[utoipa::path(delete, path = "/api/answers/{answer_id}", tag = "posts",
    params(("answer_id" = Uuid, Path, description = "The answer's id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "The id is not a UUID", body = ErrorBody),
        (status = 401, description = "No identity (or an invalid one); see WWW-Authenticate", body = ErrorBody),
        (status = 403, description = "`not_author`: only its author or a moderator may delete it", body = ErrorBody),
        (status = 404, description = "No such answer", body = ErrorBody),
        (status = 410, description = "Deleted already", body = ErrorBody),
        (status = 429, description = "Too many writes by this user; see Retry-After", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn delete_answer(
    ctx: web::Data<Context>,
    req: HttpRequest,
    path: web::Path<Uuid>,
) -> Result<HttpResponse> {
    delete(&ctx, &req, PostRef::answer(path.into_inner())).await
}

async fn comment(ctx: &Context, req: &HttpRequest, post: PostRef, body: String) -> Result<HttpResponse> {
    let who = auth::required_identity(ctx, req).await?;
    let owner = auth::user_owner(who.user_id);
    rate::check_post(req, &owner).map_err(Error::rate_limited)?;
    let key = auth::idempotency(req, owner, &["comment", &post.id.to_string(), &body])?;
    let new = domain::NewComment {
        body: CommentText::parse(body)?,
        author: who.name.clone(),
        author_id: who.user_id,
    };
    let posted = ctx.services().comment(post, new, key).await?;
    let mut res = HttpResponse::Created();
    if posted.replayed {
        res.insert_header(("Idempotent-Replayed", "true"));
    }
    Ok(res.json(Comment::from(posted.value)))
}

/// Comment on a question (anyone signed in); subscribers get a `comment` event.
#[utoipa::path(post, path = "/api/questions/{question_id}/comments", tag = "posts", request_body = NewComment,
    params(("question_id" = Uuid, Path, description = "The question's id"),
        ("Idempotency-Key" = Option<String>, Header, description = "Repeat a post safely: the same key from the same identity within 24 h returns the first result and writes nothing")),
    responses(
        (status = 201, description = "Added", body = Comment),
        (status = 400, description = "Malformed JSON or id", body = ErrorBody),
        (status = 401, description = "No identity (or an invalid one); see WWW-Authenticate", body = ErrorBody),
        (status = 404, description = "No such question", body = ErrorBody),
        (status = 410, description = "The question was deleted", body = ErrorBody),
        (status = 415, description = "Not application/json", body = ErrorBody),
        (status = 422, description = "The body is empty, too long or more than one line, or the Idempotency-Key was used for another request", body = ErrorBody),
        (status = 429, description = "Too many writes by this user; see Retry-After", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn comment_question(
    ctx: web::Data<Context>,
    req: HttpRequest,
    path: web::Path<Uuid>,
    JsonObject(body): JsonObject<NewComment>,
) -> Result<HttpResponse> {
    comment(&ctx, &req, PostRef::question(path.into_inner()), body.body).await
}

/// Comment on an answer (anyone signed in); subscribers get a `comment` event.
#[utoipa::path(post, path = "/api/answers/{answer_id}/comments", tag = "posts", request_body = NewComment,
    params(("answer_id" = Uuid, Path, description = "The answer's id"),
        ("Idempotency-Key" = Option<String>, Header, description = "Repeat a post safely: the same key from the same identity within 24 h returns the first result and writes nothing")),
    responses(
        (status = 201, description = "Added", body = Comment),
        (status = 400, description = "Malformed JSON or id", body = ErrorBody),
        (status = 401, description = "No identity (or an invalid one); see WWW-Authenticate", body = ErrorBody),
        (status = 404, description = "No such answer", body = ErrorBody),
        (status = 410, description = "The answer was deleted", body = ErrorBody),
        (status = 415, description = "Not application/json", body = ErrorBody),
        (status = 422, description = "The body is empty, too long or more than one line, or the Idempotency-Key was used for another request", body = ErrorBody),
        (status = 429, description = "Too many writes by this user; see Retry-After", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn comment_answer(
    ctx: web::Data<Context>,
    req: HttpRequest,
    path: web::Path<Uuid>,
    JsonObject(body): JsonObject<NewComment>,
) -> Result<HttpResponse> {
    comment(&ctx, &req, PostRef::answer(path.into_inner()), body.body).await
}

/// The comments on a question and on its answers, oldest first.
#[utoipa::path(get, path = "/api/questions/{question_id}/comments", tag = "posts",
    params(("question_id" = Uuid, Path, description = "The question's id")),
    responses(
        (status = 200, description = "Its comments", body = CommentList),
        (status = 400, description = "The id is not a UUID", body = ErrorBody),
        (status = 404, description = "No such question", body = ErrorBody),
    ))]
pub async fn list_comments(ctx: web::Data<Context>, path: web::Path<Uuid>) -> Result<web::Json<CommentList>> {
    let items = ctx.services().comments(path.into_inner()).await?;
    Ok(web::Json(CommentList { items: items.into_iter().map(Into::into).collect() }))
}

/// Delete a comment (its author or a moderator); subscribers get a `comment-delete` event.
#[utoipa::path(delete, path = "/api/comments/{comment_id}", tag = "posts",
    params(("comment_id" = Uuid, Path, description = "The comment's id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "The id is not a UUID", body = ErrorBody),
        (status = 401, description = "No identity (or an invalid one); see WWW-Authenticate", body = ErrorBody),
        (status = 403, description = "`not_author`: only its author or a moderator may delete it", body = ErrorBody),
        (status = 404, description = "No such comment", body = ErrorBody),
        (status = 410, description = "Deleted already", body = ErrorBody),
        (status = 429, description = "Too many writes by this user; see Retry-After", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn delete_comment(
    ctx: web::Data<Context>,
    req: HttpRequest,
    path: web::Path<Uuid>,
) -> Result<HttpResponse> {
    let who = writer(&ctx, &req).await?;
    ctx.services().delete_comment(&who, path.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}
