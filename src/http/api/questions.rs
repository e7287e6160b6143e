//! `/api/questions` and `/api/questions/{id}/answers`.

use actix_web::{HttpRequest, HttpResponse, http::header, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::JsonObject;
use crate::{
    domain::{self, Body, Tags, Title, parse_tag_name},
    http::{
        Context,
        auth::{self, Writer},
        error::{Error, ErrorBody, Result},
        rate,
    },
    service::Posted,
};

/// A question as the API returns it.
#[derive(Debug, Serialize, ToSchema)]
pub struct Question {
    pub id: Uuid,
    pub title: String,
    /// The Markdown source, exactly as written (what an edit starts from).
    pub body: String,
    /// `body` rendered to sanitised HTML when it was written (docs/security.md): show it as is.
    pub body_html: String,
    /// The asker's display name.
    pub author: String,
    /// The asker's user id; null for anonymous posts.
    pub author_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    /// How many answers the question has; also the highest answer `seq`.
    pub answer_count: i64,
    /// The sum of its standing votes.
    pub score: i64,
    /// The answer the asker accepted; null when none is.
    pub accepted_answer_id: Option<Uuid>,
    /// The last seq of the question's topic (`question:{id}`): subscribe with this as
    /// `after_seq` to get every change after what this response shows.
    pub last_seq: i64,
    /// 1 until its first edit; see `/api/questions/{id}/revisions`.
    pub revision: i64,
    /// When it was last edited; null if never.
    pub edited_at: Option<DateTime<Utc>>,
    /// Its tags in the asker's order; empty for a question asked without any.
    #[schema(value_type = Vec<String>)]
    pub tags: Vec<domain::TagName>,
}

impl From<domain::Question> for Question {
    fn from(q: domain::Question) -> Self {
        Self {
            id: q.id,
            title: q.title,
            body: q.body,
            body_html: q.body_html,
            author: q.author,
            author_id: q.author_id,
            created_at: q.created_at,
            answer_count: q.answer_count,
            score: q.score,
            accepted_answer_id: q.accepted_answer_id,
            last_seq: q.last_seq,
            revision: q.revision,
            edited_at: q.edited_at,
            tags: q.tags,
        }
    }
}

/// An answer as the API returns it.
#[derive(Debug, Serialize, ToSchema)]
pub struct Answer {
    pub id: Uuid,
    pub question_id: Uuid,
    /// Position of the answer in its question: 1, 2, 3, … contiguous, in commit order.
    pub seq: i64,
    /// The Markdown source, exactly as written (what an edit starts from).
    pub body: String,
    /// `body` rendered to sanitised HTML when it was written (docs/security.md): show it as is.
    pub body_html: String,
    /// The answerer's display name.
    pub author: String,
    /// The answerer's user id; null for anonymous posts.
    pub author_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    /// The sum of its standing votes.
    pub score: i64,
    /// 1 until its first edit; see `/api/answers/{id}/revisions`.
    pub revision: i64,
    /// When it was last edited; null if never.
    pub edited_at: Option<DateTime<Utc>>,
}

impl From<domain::Answer> for Answer {
    fn from(a: domain::Answer) -> Self {
        Self {
            id: a.id,
            question_id: a.question_id,
            seq: a.seq,
            body: a.body,
            body_html: a.body_html,
            author: a.author,
            author_id: a.author_id,
            created_at: a.created_at,
            score: a.score,
            revision: a.revision,
            edited_at: a.edited_at,
        }
    }
}

/// A question to create.
#[derive(Debug, Deserialize, ToSchema)]
pub struct NewQuestion {
    /// 1 to 300 characters.
    #[schema(min_length = 1, max_length = 300)]
    title: String,
    /// 1 to 30,000 characters.
    #[schema(min_length = 1, max_length = 30000)]
    body: String,
    /// 1 to 5 tag names, each 1 to 35 characters from `a-z 0-9 + # . -` (upper case is folded
    /// to lower case; a repeated name counts once). Optional for clients built before tags: a
    /// question asked without `tags` has none, but a `tags` given must hold at least one.
    #[schema(min_items = 1, max_items = 5)]
    #[serde(default)]
    tags: Option<Vec<String>>,
    /// Ignored when the request has an identity (the author is that identity); required, 1 to
    /// 64 characters, only on a hub run with `--anonymous-writes`.
    #[schema(min_length = 1, max_length = 64)]
    #[serde(default)]
    author: Option<String>,
}

impl NewQuestion {
    fn parse(self, writer: &Writer) -> Result<domain::NewQuestion, domain::DomainError> {
        let title = Title::parse(self.title)?;
        let body = Body::parse(self.body)?;
        let tags = self.tags.as_deref().map(Tags::parse).transpose()?;
        let (author, author_id) = writer.author(self.author.as_deref())?;
        Ok(domain::NewQuestion { title, body, tags, author, author_id })
    }
}

/// An answer to post.
#[derive(Debug, Deserialize, ToSchema)]
pub struct NewAnswer {
    /// 1 to 30,000 characters.
    #[schema(min_length = 1, max_length = 30000)]
    body: String,
    /// Ignored when the request has an identity; required only with `--anonymous-writes`.
    #[schema(min_length = 1, max_length = 64)]
    #[serde(default)]
    author: Option<String>,
}

impl NewAnswer {
    fn parse(self, writer: &Writer) -> Result<domain::NewAnswer, domain::DomainError> {
        let body = Body::parse(self.body)?;
        let (author, author_id) = writer.author(self.author.as_deref())?;
        Ok(domain::NewAnswer { body, author, author_id })
    }
}

/// 201, marked `Idempotent-Replayed: true` when an earlier request with the same
/// Idempotency-Key stored the post.
fn created<T>(posted: &Posted<T>) -> actix_web::HttpResponseBuilder {
    let mut res = HttpResponse::Created();
    if posted.replayed {
        res.insert_header(("Idempotent-Replayed", "true"));
    }
    res
}

/// Who posts (401 without an identity, unless anonymous posts are allowed), within their
/// post budget (429), with the request's Idempotency-Key for `parts` of the input.
fn budget(req: &HttpRequest, writer: &Writer, parts: &[&str]) -> Result<Option<domain::Idempotency>> {
    let owner = writer.owner(req);
    rate::check_post(req, &owner).map_err(Error::rate_limited)?;
    Ok(auth::idempotency(req, owner, parts)?)
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuestions {
    /// Page size, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<i64>,
    /// Return questions older than this one (the `next` of the previous page).
    before: Option<Uuid>,
    /// Only the questions carrying this tag (`c%23` for `c#`, `c%2B%2B` for `c++`).
    tag: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct QuestionPage {
    /// Newest first.
    items: Vec<Question>,
    /// Pass as `before` for the next (older) page; null on the last page.
    next: Option<Uuid>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListAnswers {
    /// Return answers with seq greater than this (default 0).
    #[param(minimum = 0)]
    after_seq: Option<i64>,
    /// Page size, 1 to 100 (default 50).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AnswerPage {
    /// In seq order.
    items: Vec<Answer>,
    /// Pass as `after_seq` for the next page; null on the last page.
    next_after_seq: Option<i64>,
}

/// Create a question.
#[utoipa::path(post, path = "/api/questions", operation_id = "create_question", tag = "questions", request_body = NewQuestion, responses(
    (status = 201, description = "Created", body = Question, headers(("Location" = String, description = "URL of the new question"))),
    (status = 400, description = "Malformed JSON", body = ErrorBody),
    (status = 413, description = "Body too large", body = ErrorBody),
    (status = 415, description = "Not application/json", body = ErrorBody),
    (status = 408, description = "The body did not arrive in time", body = ErrorBody),
    (status = 401, description = "No identity (or an invalid one); see WWW-Authenticate", body = ErrorBody),
    (status = 410, description = "`question_deleted`: a retry with the Idempotency-Key of a question deleted since", body = ErrorBody),
    (status = 422, description = "A field is missing, empty or too long, or the Idempotency-Key was used for another request", body = ErrorBody),
    (status = 429, description = "Too many posts by this user; see Retry-After", body = ErrorBody,
        headers(("Retry-After" = u64, description = "Seconds to wait"))),
    (status = 503, description = "Database unavailable (nothing stored), or `outcome_unknown`: the commit failed midway", body = ErrorBody),
),
params(("Idempotency-Key" = Option<String>, Header, description = "Repeat a post safely: the same key from the same identity within 24 h returns the first result and writes nothing")),
security((), ("bearer" = [])))]
pub async fn create(
    ctx: web::Data<Context>,
    req: HttpRequest,
    JsonObject(new): JsonObject<NewQuestion>,
) -> Result<HttpResponse> {
    let writer = auth::writer(&ctx, &req).await?;
    let key = budget(&req, &writer, &["question", &new.title, &new.body])?;
    let posted = ctx.services().ask(new.parse(&writer)?, key).await?;
    Ok(created(&posted)
        .insert_header((header::LOCATION, format!("/api/questions/{}", posted.value.id)))
        .json(Question::from(posted.value)))
}

/// List questions, newest first; with `tag`, only those carrying it.
#[utoipa::path(get, path = "/api/questions", operation_id = "list_questions", tag = "questions", params(ListQuestions), responses(
    (status = 200, description = "A page of questions", body = QuestionPage),
    (status = 400, description = "Bad query parameter", body = ErrorBody),
    (status = 422, description = "`tag` is not a tag name; the message gives the rule", body = ErrorBody),
))]
pub async fn list(
    ctx: web::Data<Context>,
    query: web::Query<ListQuestions>,
) -> Result<web::Json<QuestionPage>> {
    let limit = page_size(query.limit, 20)?;
    let services = ctx.services();
    let page = match query.tag.as_deref() {
        Some(tag) => services.questions_tagged(parse_tag_name("tag", tag)?, query.before, limit).await?,
        None => services.questions(query.before, limit).await?,
    };
    Ok(web::Json(QuestionPage { items: page.items.into_iter().map(Into::into).collect(), next: page.next }))
}

/// Get one question.
#[utoipa::path(get, path = "/api/questions/{question_id}", operation_id = "get_question", tag = "questions",
    params(("question_id" = Uuid, Path, description = "The question's id")),
    responses(
        (status = 200, description = "The question", body = Question),
        (status = 400, description = "The id is not a UUID", body = ErrorBody),
        (status = 404, description = "No such question", body = ErrorBody),
    ))]
pub async fn get(ctx: web::Data<Context>, path: web::Path<Uuid>) -> Result<web::Json<Question>> {
    Ok(web::Json(ctx.services().question(path.into_inner()).await?.into()))
}

/// Post an answer; every WebSocket subscriber of the question is notified once it commits.
#[utoipa::path(post, path = "/api/questions/{question_id}/answers", tag = "answers", request_body = NewAnswer,
    params(("question_id" = Uuid, Path, description = "The question's id"),
        ("Idempotency-Key" = Option<String>, Header, description = "Repeat a post safely: the same key from the same identity within 24 h returns the first result and writes nothing")),
    responses(
        (status = 201, description = "Stored under the question's next seq", body = Answer),
        (status = 400, description = "Malformed JSON or id", body = ErrorBody),
        (status = 404, description = "No such question", body = ErrorBody),
        (status = 410, description = "`answer_deleted`: a retry with the Idempotency-Key of an answer deleted since", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Not application/json", body = ErrorBody),
        (status = 408, description = "The body did not arrive in time", body = ErrorBody),
        (status = 401, description = "No identity (or an invalid one); see WWW-Authenticate", body = ErrorBody),
        (status = 422, description = "A field is missing, empty or too long, or the Idempotency-Key was used for another request", body = ErrorBody),
        (status = 429, description = "Too many posts by this user; see Retry-After", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 503, description = "Database unavailable (nothing stored), or `outcome_unknown`: the commit failed midway", body = ErrorBody),
    ),
    security((), ("bearer" = [])))]
pub async fn post_answer(
    ctx: web::Data<Context>,
    req: HttpRequest,
    path: web::Path<Uuid>,
    JsonObject(new): JsonObject<NewAnswer>,
) -> Result<HttpResponse> {
    let question_id = path.into_inner();
    // The hot path: a service token's identity may come from the cache, and is checked again
    // in the batch that writes the answer.
    let (writer, recheck) = auth::answer_writer(&ctx, &req).await?;
    let key = budget(&req, &writer, &["answer", &question_id.to_string(), &new.body])?;
    let posted = ctx.services().answer(question_id, new.parse(&writer)?, key, recheck).await?;
    Ok(created(&posted).json(Answer::from(posted.value)))
}

/// List a question's answers in seq order.
#[utoipa::path(get, path = "/api/questions/{question_id}/answers", tag = "answers",
    params(("question_id" = Uuid, Path, description = "The question's id"), ListAnswers),
    responses(
        (status = 200, description = "A page of answers", body = AnswerPage),
        (status = 400, description = "Bad id or query parameter", body = ErrorBody),
        (status = 404, description = "No such question", body = ErrorBody),
    ))]
pub async fn list_answers(
    ctx: web::Data<Context>,
    path: web::Path<Uuid>,
    query: web::Query<ListAnswers>,
) -> Result<web::Json<AnswerPage>> {
    let question_id = path.into_inner();
    let limit = page_size(query.limit, 50)?;
    let after_seq = query.after_seq.unwrap_or(0);
    if after_seq < 0 {
        return Err(Error::bad_request("invalid_query", "after_seq must be 0 or more."));
    }
    let page = ctx.services().answers(question_id, after_seq, limit).await?;
    Ok(web::Json(AnswerPage {
        items: page.items.into_iter().map(Into::into).collect(),
        next_after_seq: page.next,
    }))
}

pub(super) fn page_size(limit: Option<i64>, default: i64) -> Result<i64> {
    match limit.unwrap_or(default) {
        n @ 1..=100 => Ok(n),
        _ => Err(Error::bad_request("invalid_query", "limit must be between 1 and 100.")),
    }
}
