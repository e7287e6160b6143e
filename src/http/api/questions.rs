//! `/api/questions` and `/api/questions/{id}/answers`.

use actix_web::{HttpRequest, HttpResponse, http::header, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::JsonObject;
use crate::{
    domain::{self, Body, Name, Title},
    http::{
        Context,
        error::{Error, ErrorBody, Result},
        rate,
    },
};

/// A question as the API returns it.
#[derive(Debug, Serialize, ToSchema)]
pub struct Question {
    pub id: Uuid,
    pub title: String,
    pub body: String,
    pub author: String,
    pub created_at: DateTime<Utc>,
    /// How many answers the question has; also the highest answer `seq`.
    pub answer_count: i64,
}

impl From<domain::Question> for Question {
    fn from(q: domain::Question) -> Self {
        Self {
            id: q.id,
            title: q.title,
            body: q.body,
            author: q.author,
            created_at: q.created_at,
            answer_count: q.answer_count,
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
    pub body: String,
    pub author: String,
    pub created_at: DateTime<Utc>,
}

impl From<domain::Answer> for Answer {
    fn from(a: domain::Answer) -> Self {
        Self {
            id: a.id,
            question_id: a.question_id,
            seq: a.seq,
            body: a.body,
            author: a.author,
            created_at: a.created_at,
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
    /// 1 to 64 characters.
    #[schema(min_length = 1, max_length = 64)]
    author: String,
}

impl TryFrom<NewQuestion> for domain::NewQuestion {
    type Error = domain::DomainError;

    fn try_from(q: NewQuestion) -> Result<Self, Self::Error> {
        Ok(Self { title: Title::parse(q.title)?, body: Body::parse(q.body)?, author: Name::parse(q.author)? })
    }
}

/// An answer to post.
#[derive(Debug, Deserialize, ToSchema)]
pub struct NewAnswer {
    /// 1 to 30,000 characters.
    #[schema(min_length = 1, max_length = 30000)]
    body: String,
    /// 1 to 64 characters.
    #[schema(min_length = 1, max_length = 64)]
    author: String,
}

impl TryFrom<NewAnswer> for domain::NewAnswer {
    type Error = domain::DomainError;

    fn try_from(a: NewAnswer) -> Result<Self, Self::Error> {
        Ok(Self { body: Body::parse(a.body)?, author: Name::parse(a.author)? })
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuestions {
    /// Page size, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<i64>,
    /// Return questions older than this one (the `next` of the previous page).
    before: Option<Uuid>,
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
#[utoipa::path(post, path = "/api/questions", tag = "questions", request_body = NewQuestion, responses(
    (status = 201, description = "Created", body = Question, headers(("Location" = String, description = "URL of the new question"))),
    (status = 400, description = "Malformed JSON", body = ErrorBody),
    (status = 413, description = "Body too large", body = ErrorBody),
    (status = 415, description = "Not application/json", body = ErrorBody),
    (status = 408, description = "The body did not arrive in time", body = ErrorBody),
    (status = 422, description = "A field is missing, empty or too long", body = ErrorBody),
    (status = 429, description = "Too many posts from this address; see Retry-After", body = ErrorBody,
        headers(("Retry-After" = u64, description = "Seconds to wait"))),
))]
pub async fn create(
    ctx: web::Data<Context>,
    req: HttpRequest,
    JsonObject(new): JsonObject<NewQuestion>,
) -> Result<HttpResponse> {
    rate::check_post(&req).map_err(Error::rate_limited)?;
    let question = ctx.services().ask(new.try_into()?).await?;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/api/questions/{}", question.id)))
        .json(Question::from(question)))
}

/// List questions, newest first.
#[utoipa::path(get, path = "/api/questions", tag = "questions", params(ListQuestions), responses(
    (status = 200, description = "A page of questions", body = QuestionPage),
    (status = 400, description = "Bad query parameter", body = ErrorBody),
))]
pub async fn list(
    ctx: web::Data<Context>,
    query: web::Query<ListQuestions>,
) -> Result<web::Json<QuestionPage>> {
    let limit = page_size(query.limit, 20)?;
    let page = ctx.services().questions(query.before, limit).await?;
    Ok(web::Json(QuestionPage { items: page.items.into_iter().map(Into::into).collect(), next: page.next }))
}

/// Get one question.
#[utoipa::path(get, path = "/api/questions/{question_id}", tag = "questions",
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
    params(("question_id" = Uuid, Path, description = "The question's id")),
    responses(
        (status = 201, description = "Stored under the question's next seq", body = Answer),
        (status = 400, description = "Malformed JSON or id", body = ErrorBody),
        (status = 404, description = "No such question", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Not application/json", body = ErrorBody),
        (status = 408, description = "The body did not arrive in time", body = ErrorBody),
        (status = 422, description = "A field is missing, empty or too long", body = ErrorBody),
        (status = 429, description = "Too many posts from this address; see Retry-After", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
    ))]
pub async fn post_answer(
    ctx: web::Data<Context>,
    req: HttpRequest,
    path: web::Path<Uuid>,
    JsonObject(new): JsonObject<NewAnswer>,
) -> Result<HttpResponse> {
    rate::check_post(&req).map_err(Error::rate_limited)?;
    let answer = ctx.services().answer(path.into_inner(), new.try_into()?).await?;
    Ok(HttpResponse::Created().json(Answer::from(answer)))
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

fn page_size(limit: Option<i64>, default: i64) -> Result<i64> {
    match limit.unwrap_or(default) {
        n @ 1..=100 => Ok(n),
        _ => Err(Error::bad_request("invalid_query", "limit must be between 1 and 100.")),
    }
}
