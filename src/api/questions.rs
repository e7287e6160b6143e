//! `/api/questions` and `/api/questions/{id}/answers`.

use actix_web::{HttpResponse, http::header, web};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::JsonObject;
use crate::{
    app::AppState,
    error::{Error, ErrorBody, Result},
    store::{Answer, NewAnswer, NewQuestion, Question, limits},
};

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
    (status = 422, description = "A field is missing, empty or too long", body = ErrorBody),
))]
pub async fn create(
    state: web::Data<AppState>,
    JsonObject(new): JsonObject<NewQuestion>,
) -> Result<HttpResponse> {
    let new = NewQuestion {
        title: text("title", new.title, limits::TITLE, true)?,
        body: text("body", new.body, limits::BODY, false)?,
        author: text("author", new.author, limits::AUTHOR, true)?,
    };
    let question = state.store.create_question(new).await?;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/api/questions/{}", question.id)))
        .json(question))
}

/// List questions, newest first.
#[utoipa::path(get, path = "/api/questions", tag = "questions", params(ListQuestions), responses(
    (status = 200, description = "A page of questions", body = QuestionPage),
    (status = 400, description = "Bad query parameter", body = ErrorBody),
))]
pub async fn list(
    state: web::Data<AppState>,
    query: web::Query<ListQuestions>,
) -> Result<web::Json<QuestionPage>> {
    let limit = page_size(query.limit, 20)?;
    let page = state.store.question_page(query.before, limit).await?;
    Ok(web::Json(QuestionPage { items: page.items, next: page.next }))
}

/// Get one question.
#[utoipa::path(get, path = "/api/questions/{question_id}", tag = "questions",
    params(("question_id" = Uuid, Path, description = "The question's id")),
    responses(
        (status = 200, description = "The question", body = Question),
        (status = 400, description = "The id is not a UUID", body = ErrorBody),
        (status = 404, description = "No such question", body = ErrorBody),
    ))]
pub async fn get(state: web::Data<AppState>, path: web::Path<Uuid>) -> Result<web::Json<Question>> {
    let question = state.store.question(path.into_inner()).await?.ok_or_else(Error::question_not_found)?;
    Ok(web::Json(question))
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
        (status = 422, description = "A field is missing, empty or too long", body = ErrorBody),
    ))]
pub async fn post_answer(
    state: web::Data<AppState>,
    path: web::Path<Uuid>,
    JsonObject(new): JsonObject<NewAnswer>,
) -> Result<HttpResponse> {
    let question_id = path.into_inner();
    let new = NewAnswer {
        body: text("body", new.body, limits::BODY, false)?,
        author: text("author", new.author, limits::AUTHOR, true)?,
    };
    let answer = commit_answer(&state, question_id, new).await?.ok_or_else(Error::question_not_found)?;
    Ok(HttpResponse::Created().json(answer))
}

/// Stores a validated answer and announces it to the question's watchers; `None` when the
/// question does not exist. Shared by the REST API and the web form.
pub(crate) async fn commit_answer(
    state: &AppState,
    question_id: Uuid,
    new: NewAnswer,
) -> Result<Option<Answer>> {
    // Commit and publish in a task of their own: if the client hangs up mid-request, the
    // handler is dropped, but a committed answer must still be announced.
    let (store, hub, metrics) = (state.store.clone(), state.hub.clone(), state.metrics.clone());
    tokio::spawn(async move {
        let answer = store.post_answer(question_id, new).await?;
        if let Some(answer) = &answer {
            hub.publish(answer);
            metrics.answers_posted.inc();
        }
        Ok::<_, sqlx::Error>(answer)
    })
    .await
    .map_err(|e| Error::Internal(format!("post task failed: {e}")))?
    .map_err(Error::from)
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
    state: web::Data<AppState>,
    path: web::Path<Uuid>,
    query: web::Query<ListAnswers>,
) -> Result<web::Json<AnswerPage>> {
    let question_id = path.into_inner();
    let limit = page_size(query.limit, 50)?;
    let after_seq = query.after_seq.unwrap_or(0);
    if after_seq < 0 {
        return Err(Error::bad_request("invalid_query", "after_seq must be 0 or more."));
    }
    if state.store.answer_count(question_id).await?.is_none() {
        return Err(Error::question_not_found());
    }
    let page = state.store.answer_page(question_id, after_seq, limit).await?;
    Ok(web::Json(AnswerPage { items: page.items, next_after_seq: page.next }))
}

fn page_size(limit: Option<i64>, default: i64) -> Result<i64> {
    match limit.unwrap_or(default) {
        n @ 1..=100 => Ok(n),
        _ => Err(Error::bad_request("invalid_query", "limit must be between 1 and 100.")),
    }
}

/// Checks a text field's length in characters; `trim` strips surrounding white space first
/// (for one-line fields). A field of only white space counts as empty.
pub fn text(field: &str, value: String, max: usize, trim: bool) -> Result<String> {
    let value = if trim { value.trim().to_owned() } else { value };
    let len = value.chars().count();
    if value.trim().is_empty() {
        Err(Error::invalid_field(format!("{field} must not be empty.")))
    } else if len > max {
        Err(Error::invalid_field(format!("{field} must be at most {max} characters (it has {len}).")))
    } else {
        Ok(value)
    }
}
