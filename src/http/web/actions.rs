//! The forms on a question's page that change something and need a signed-in person (also on
//! a hub that takes anonymous posts): vote, accept, follow, edit, delete, comment and delete a
//! comment. Each calls the same service as the REST API, then goes back to where the form
//! was (`back`, a path on this question's page), within the poster's budget.

use actix_web::{HttpRequest, HttpResponse, http::StatusCode, web};
use serde::Deserialize;
use uuid::Uuid;

use super::{
    extract::{PageForm, QuestionId, WithCsrf},
    page::{PageError, check_user_budget, local_path, see_other, tag_names},
};
use crate::{
    domain::{
        Body, CommentText, Edit, FollowChoice, Identity, NewComment, PostKind, PostRef, Tags, Title, Vote,
    },
    http::Context,
};

#[derive(Debug, Deserialize)]
pub struct VoteForm {
    #[serde(default)]
    csrf: String,
    /// `question` or `answer`.
    kind: String,
    post: Uuid,
    /// 1, -1 or 0.
    value: i64,
    /// Where the form was (a path on this question's page), to come back to.
    #[serde(default)]
    back: String,
}

#[derive(Debug, Deserialize)]
pub struct AcceptForm {
    #[serde(default)]
    csrf: String,
    answer: Uuid,
    /// 1 accepts the answer, 0 withdraws it.
    accept: u8,
    #[serde(default)]
    back: String,
}

/// Where a form returns to: the page it was on, if that is a page of this
#[derive(Debug, Deserialize)]
pub struct FollowForm {
    #[serde(default)]
    csrf: String,
    /// `following`, `unfollowed` or `muted`.
    state: String,
}

#[derive(Debug, Deserialize)]
pub struct EditForm {
    #[serde(default)]
    csrf: String,
    /// `question` or `answer`.
    kind: String,
    post: Uuid,
    /// A question's new title; absent for an answer.
    #[serde(default)]
    title: Option<String>,
    /// A question's tags, separated by spaces or commas (all of them, as the form prefills
    /// them); absent for an answer.
    #[serde(default)]
    tags: Option<String>,
    #[serde(default)]
    body: String,
    #[serde(default)]
    back: String,
}

#[derive(Debug, Deserialize)]
pub struct DeleteForm {
    #[serde(default)]
    csrf: String,
    kind: String,
    post: Uuid,
    #[serde(default)]
    back: String,
}

#[derive(Debug, Deserialize)]
pub struct CommentForm {
    #[serde(default)]
    csrf: String,
    /// What it comments on: `question` or `answer`, and its id.
    kind: String,
    post: Uuid,
    #[serde(default)]
    body: String,
    #[serde(default)]
    back: String,
}

#[derive(Debug, Deserialize)]
pub struct CommentDeleteForm {
    #[serde(default)]
    csrf: String,
    comment: Uuid,
    #[serde(default)]
    back: String,
}

impl WithCsrf for VoteForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

impl WithCsrf for AcceptForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

impl WithCsrf for FollowForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

impl WithCsrf for EditForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

impl WithCsrf for DeleteForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

impl WithCsrf for CommentForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

impl WithCsrf for CommentDeleteForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// Where a form returns to: the page it was on, if that is a page of this
/// question (anything else, an open redirect, is not followed).
fn back_to(question: Uuid, back: &str) -> String {
    let page = format!("/questions/{question}");
    local_path(back)
        .filter(|path| {
            path.strip_prefix(&page).is_some_and(|rest| rest.is_empty() || rest.starts_with(['?', '#']))
        })
        .unwrap_or(page)
}

fn post_ref(kind: &str, id: Uuid) -> Result<PostRef, PageError> {
    let kind = PostKind::parse(kind)
        .ok_or_else(|| PageError::new(StatusCode::BAD_REQUEST, "Bad form", "That is not a post."))?;
    Ok(PostRef { kind, id })
}

/// The signed-in sender of a form that changes something, within their budget; nobody is
/// sent to log in, then back to `back`.
async fn changer<T: WithCsrf>(
    req: &HttpRequest,
    form: &PageForm<T>,
    back: &str,
) -> Result<Identity, PageError> {
    let who = form.signed_in(back).await?;
    check_user_budget(req, who.user_id)?;
    Ok(who)
}

/// `POST /questions/{id}/vote` (form): the same vote as the REST API's, then back to the page.
pub async fn vote(
    ctx: web::Data<Context>,
    req: HttpRequest,
    form: PageForm<VoteForm>,
) -> Result<HttpResponse, PageError> {
    let id = QuestionId::of(&req)?;
    let back = back_to(id, &form.back);
    let voter = changer(&req, &form, &back).await?;
    let kind = PostKind::parse(&form.kind).ok_or_else(|| {
        PageError::new(StatusCode::BAD_REQUEST, "Bad form", "That is not something to vote on.")
    })?;
    let vote = Vote::parse(form.value)?;
    ctx.services().vote(&voter, PostRef { kind, id: form.post }, vote).await?;
    Ok(see_other(back))
}

/// `POST /questions/{id}/follow` (form): follow, unfollow or mute the question, then back.
pub async fn follow(
    ctx: web::Data<Context>,
    req: HttpRequest,
    form: PageForm<FollowForm>,
) -> Result<HttpResponse, PageError> {
    let id = QuestionId::of(&req)?;
    let back = format!("/questions/{id}#follow");
    let who = changer(&req, &form, &back).await?;
    let choice = FollowChoice::parse(&form.state)?;
    ctx.services().set_follow(&who, id, choice).await?;
    Ok(see_other(back))
}

/// `POST /questions/{id}/accept` (form): the asker accepts an answer or withdraws it.
pub async fn accept(
    ctx: web::Data<Context>,
    req: HttpRequest,
    form: PageForm<AcceptForm>,
) -> Result<HttpResponse, PageError> {
    let id = QuestionId::of(&req)?;
    let back = back_to(id, &form.back);
    let asker = changer(&req, &form, &back).await?;
    ctx.services().accept(&asker, form.answer, form.accept == 1).await?;
    Ok(see_other(back))
}

/// `POST /questions/{id}/edit` (form): the author or a moderator edits a post (the REST
/// API's `PATCH`), then back to the page.
pub async fn edit(
    ctx: web::Data<Context>,
    req: HttpRequest,
    form: PageForm<EditForm>,
) -> Result<HttpResponse, PageError> {
    let id = QuestionId::of(&req)?;
    let back = back_to(id, &form.back);
    let editor = changer(&req, &form, &back).await?;
    let form = form.into_inner();
    let post = post_ref(&form.kind, form.post)?;
    let edit = Edit {
        title: form.title.map(Title::parse).transpose()?,
        body: Some(Body::parse(form.body)?),
        tags: form.tags.as_deref().map(|typed| Tags::parse(&tag_names(typed))).transpose()?,
        editor: editor.name.clone(),
        editor_id: editor.user_id,
    };
    ctx.services().edit(&editor, post, edit).await?;
    Ok(see_other(back))
}

/// `POST /questions/{id}/delete` (form): the author or a moderator deletes a post; back to
/// the page, or to the list when it was the question.
pub async fn delete(
    ctx: web::Data<Context>,
    req: HttpRequest,
    form: PageForm<DeleteForm>,
) -> Result<HttpResponse, PageError> {
    let id = QuestionId::of(&req)?;
    let back = back_to(id, &form.back);
    let who = changer(&req, &form, &back).await?;
    let post = post_ref(&form.kind, form.post)?;
    ctx.services().delete(&who, post).await?;
    Ok(see_other(if post.kind == PostKind::Question { "/".into() } else { back }))
}

/// `POST /questions/{id}/comments` (form): anyone signed in comments on a post.
pub async fn comment(
    ctx: web::Data<Context>,
    req: HttpRequest,
    form: PageForm<CommentForm>,
) -> Result<HttpResponse, PageError> {
    let id = QuestionId::of(&req)?;
    let back = back_to(id, &form.back);
    let who = changer(&req, &form, &back).await?;
    let form = form.into_inner();
    let post = post_ref(&form.kind, form.post)?;
    let new = NewComment { body: CommentText::parse(form.body)?, author: who.name, author_id: who.user_id };
    ctx.services().comment(post, new, None).await?;
    Ok(see_other(back))
}

/// `POST /questions/{id}/comments/delete` (form): a comment's author or a moderator deletes it.
pub async fn delete_comment(
    ctx: web::Data<Context>,
    req: HttpRequest,
    form: PageForm<CommentDeleteForm>,
) -> Result<HttpResponse, PageError> {
    let id = QuestionId::of(&req)?;
    let back = back_to(id, &form.back);
    let who = changer(&req, &form, &back).await?;
    ctx.services().delete_comment(&who, form.comment).await?;
    Ok(see_other(back))
}
