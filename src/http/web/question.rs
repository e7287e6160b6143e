//! A question's page (`/questions/{id}`): the question, its comments and a page of its
//! answers in reading order (the accepted one, then by score, then oldest first), 30 a page
//! (`?page=N`), kept live by `static/question.js`; the answer form (`POST
//! /questions/{id}/answers`); and `/questions/{id}/answers/{seq}`, which redirects to the page
//! that holds an answer now. Live changes never re-sort what is on screen
//! (docs/web-client.md says why).

use std::collections::HashMap;

use actix_web::{HttpRequest, HttpResponse, http::StatusCode, web};
use askama::Template;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use uuid::Uuid;

use super::{
    extract::{PageForm, PageLink, PageQuery, QuestionId, Visitor, WithCsrf, blank_is_none},
    page::{
        FieldErrors, PageError, TagLink, Viewer, check, check_post_budget, check_preview_budget, html,
        plural, see_other, when,
    },
};
use crate::{
    domain::{Answer, Body, Comment, DomainError, Identity, NewAnswer, Vote, markdown},
    http::{Context, auth::Writer},
};

#[derive(Debug, Default, Deserialize)]
pub struct AnswerForm {
    #[serde(default)]
    body: String,
    #[serde(default)]
    author: String,
    #[serde(default)]
    csrf: String,
}

impl WithCsrf for AnswerForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// `?page=N`: a page of the question's answers.
#[derive(Debug, Deserialize)]
pub struct PageNumber {
    #[serde(default, deserialize_with = "blank_is_none")]
    page: Option<AnswersPage>,
}

impl PageLink for PageNumber {
    fn invalid() -> PageError {
        PageError::new(StatusCode::BAD_REQUEST, "Bad page link", "That page number is not valid.")
    }
}

/// A page number of a question's answers: a whole number from 1, small enough that its first
/// answer's offset is one too.
#[derive(Debug, Clone, Copy)]
struct AnswersPage(i64);

impl std::str::FromStr for AnswersPage {
    type Err = ();

    fn from_str(raw: &str) -> Result<Self, ()> {
        raw.parse::<i64>().ok().filter(|p| (1..=i64::MAX / ANSWERS_PER_PAGE).contains(p)).map(Self).ok_or(())
    }
}

struct QuestionView {
    id: Uuid,
    title: String,
    body: String,
    /// Rendered and sanitised when it was written: shown as is (`|safe`).
    body_html: String,
    author: String,
    when: String,
    iso: String,
    score: i64,
    /// The viewer's vote on it (1, -1, 0), and whether they may vote on it at all.
    my_vote: i64,
    votable: bool,
    edited: Option<Edited>,
    /// The viewer may edit it (its author or a moderator), and delete it (a moderator, or its
    /// author while it has no answers: the service's rule, so the button is never a 403).
    editable: bool,
    deletable: bool,
    comments: Vec<CommentView>,
    tags: Vec<TagLink>,
}

struct AnswerView {
    id: Uuid,
    seq: i64,
    body: String,
    /// Rendered and sanitised when it was written: shown as is (`|safe`), byte for byte what
    /// the live insert (`static/question.js`) shows from the `answer` event.
    body_html: String,
    author: String,
    when: String,
    iso: String,
    score: i64,
    /// The asker accepted it.
    accepted: bool,
    my_vote: i64,
    votable: bool,
    edited: Option<Edited>,
    /// Its author or a moderator may edit and delete it.
    editable: bool,
    comments: Vec<CommentView>,
}

/// A post's "edited" marker: its revision number and when the last edit was made.
struct Edited {
    revision: i64,
    when: String,
    iso: String,
}

impl Edited {
    fn of(revision: i64, at: Option<DateTime<Utc>>) -> Option<Self> {
        let (when, iso) = when(at?);
        (revision > 1).then_some(Self { revision, when, iso })
    }
}

struct CommentView {
    id: Uuid,
    /// The inline HTML rendered when it was written: shown as is (`|safe`).
    body_html: String,
    author: String,
    when: String,
    iso: String,
    /// Its author or a moderator may delete it.
    deletable: bool,
}

/// What the page's reader may do: vote (with their standing votes), accept (the asker), edit
/// and delete their own posts and comments (a moderator: anyone's).
struct Reader {
    user_id: Option<Uuid>,
    moderator: bool,
    votes: HashMap<Uuid, Vote>,
}

impl Reader {
    fn vote_on(&self, post: Uuid) -> i64 {
        self.votes.get(&post).map_or(0, |v| v.value())
    }

    /// Signed in, and not the post's author.
    fn may_vote(&self, author: Option<Uuid>) -> bool {
        self.user_id.is_some() && author != self.user_id
    }

    /// Signed in, and the author or a moderator.
    fn may_change(&self, author: Option<Uuid>) -> bool {
        self.user_id.is_some() && (self.moderator || author == self.user_id)
    }
}

impl CommentView {
    fn of(c: Comment, reader: &Reader) -> Self {
        let (when, iso) = when(c.created_at);
        let deletable = reader.may_change(c.author_id);
        Self { id: c.id, body_html: c.body_html, author: c.author, when, iso, deletable }
    }
}

impl AnswerView {
    fn of(a: Answer, accepted: Option<Uuid>, reader: &Reader, comments: Vec<CommentView>) -> Self {
        let (when, iso) = when(a.created_at);
        let accepted = accepted == Some(a.id);
        let (my_vote, votable) = (reader.vote_on(a.id), reader.may_vote(a.author_id));
        Self {
            id: a.id,
            seq: a.seq,
            body: a.body,
            body_html: a.body_html,
            author: a.author,
            when,
            iso,
            score: a.score,
            accepted,
            my_vote,
            votable,
            edited: Edited::of(a.revision, a.edited_at),
            editable: reader.may_change(a.author_id),
            comments,
        }
    }
}

#[derive(Template)]
#[template(path = "question.html")]
struct QuestionPage {
    question: QuestionView,
    answers: Vec<AnswerView>,
    answer_count: i64,
    answers_word: &'static str,
    /// The viewer asked the question: they may accept an answer.
    asker: bool,
    /// The viewer moderates: the script offers them delete on comments that arrive live.
    moderator: bool,
    /// The viewer's relation to the question (signed in only): the follow control shows it.
    follow: Option<FollowView>,
    /// The question topic's last seq when the page was read: the script subscribes from here.
    last_seq: i64,
    /// This page's number (from 1), how many there are, and answers per page.
    page: i64,
    pages: i64,
    per_page: i64,
    form: AnswerForm,
    errors: FieldErrors,
    /// The answer form's body as it will show (the Preview button without JavaScript).
    preview: Option<String>,
    viewer: Option<Viewer>,
    anonymous: bool,
}

/// What the follow control says and offers.
struct FollowView {
    /// "You follow this question (you answered it)." and the like.
    says: String,
    /// The choices it offers: (state, button label).
    offers: Vec<(&'static str, &'static str)>,
}

impl FollowView {
    fn of(f: crate::domain::Follow) -> Self {
        let i = f.involvement;
        let why =
            [(i.asked, "you asked it"), (i.answered, "you answered it"), (i.commented, "you commented")]
                .into_iter()
                .find_map(|(yes, why)| yes.then_some(why));
        let says = match (f.muted(), f.following(), why) {
            (true, _, _) => "Muted: you hear nothing about this question.".to_owned(),
            (false, true, Some(why)) if f.choice.is_none() => format!("You follow this question ({why})."),
            (false, true, _) => "You follow this question.".to_owned(),
            (false, false, _) => "You do not follow this question.".to_owned(),
        };
        let offers = match (f.muted(), f.following()) {
            (true, _) => vec![("following", "Unmute and follow"), ("unfollowed", "Unmute")],
            (false, true) => vec![("unfollowed", "Unfollow"), ("muted", "Mute")],
            (false, false) => vec![("following", "Follow"), ("muted", "Mute")],
        };
        Self { says, offers }
    }
}

/// Answers per page of a question, as on Stack Overflow.
pub const ANSWERS_PER_PAGE: i64 = 30;

/// How many pages `count` answers fill: at least one (which may be empty).
fn pages_for(count: i64) -> i64 {
    (count.max(1) - 1) / ANSWERS_PER_PAGE + 1
}

/// Where the question page shows answer `seq`: pages follow the reading order (accepted,
/// score, age), so the page is the one that holds it now; a link with the answer's number
/// (`/questions/{id}/answers/{seq}`) asks again each time it is followed. An answer that is
/// not there (deleted since) sends to the question's first page.
async fn answer_location(ctx: &Context, question: Uuid, seq: i64) -> Result<String, PageError> {
    let page = match ctx.services().answer_rank(question, seq).await {
        Ok(rank) => rank / ANSWERS_PER_PAGE + 1,
        Err(DomainError::NotFound { .. }) => return Ok(format!("/questions/{question}")),
        Err(e) => return Err(e.into()),
    };
    Ok(match page {
        1 => format!("/questions/{question}#answer-{seq}"),
        page => format!("/questions/{question}?page={page}#answer-{seq}"),
    })
}

async fn render_question(
    ctx: &Context,
    id: Uuid,
    page: i64,
    form: AnswerForm,
    errors: FieldErrors,
    viewer: Option<Viewer>,
    identity: Option<&Identity>,
) -> Result<QuestionPage, PageError> {
    let services = ctx.services();
    let (question, answers) =
        services.question_with_answers(id, (page - 1) * ANSWERS_PER_PAGE, ANSWERS_PER_PAGE).await?;
    let answer_count = question.answer_count;
    let pages = pages_for(answer_count);
    if page > pages {
        return Err(PageError::new(
            StatusCode::NOT_FOUND,
            "No such page",
            format!("This question's answers fill {pages} page{}.", if pages == 1 { "" } else { "s" }),
        ));
    }
    // The script resumes from the question topic's last event, whichever page this is.
    let last_seq = question.last_seq;
    let accepted = question.accepted_answer_id;
    let user_id = viewer.as_ref().map(|v| v.user_id);
    let votes = match user_id {
        Some(user) => services.votes_of(user, id).await?,
        None => HashMap::new(),
    };
    let reader = Reader { user_id, moderator: identity.is_some_and(Identity::moderates), votes };
    let asker = user_id.is_some() && question.author_id == user_id;
    let follow = match identity {
        Some(identity) => Some(FollowView::of(services.follow_status(identity, id).await?)),
        None => None,
    };
    // The comments of the question and of this page's answers, oldest first.
    let mut comments: HashMap<Uuid, Vec<CommentView>> = HashMap::new();
    for c in services.comments(id).await? {
        comments.entry(c.post.id).or_default().push(CommentView::of(c, &reader));
    }
    let answers: Vec<AnswerView> = answers
        .into_iter()
        .map(|a| {
            let on_it = comments.remove(&a.id).unwrap_or_default();
            AnswerView::of(a, accepted, &reader, on_it)
        })
        .collect();
    let (when, iso) = when(question.created_at);
    let editable = reader.may_change(question.author_id);
    Ok(QuestionPage {
        question: QuestionView {
            id: question.id,
            title: question.title,
            body: question.body,
            body_html: question.body_html,
            author: question.author,
            when,
            iso,
            score: question.score,
            my_vote: reader.vote_on(question.id),
            votable: reader.may_vote(question.author_id),
            edited: Edited::of(question.revision, question.edited_at),
            editable,
            deletable: editable && (reader.moderator || answer_count == 0),
            comments: comments.remove(&question.id).unwrap_or_default(),
            tags: TagLink::all(&question.tags),
        },
        answers,
        asker,
        moderator: reader.moderator,
        follow,
        answer_count,
        answers_word: plural(answer_count),
        last_seq,
        page,
        pages,
        per_page: ANSWERS_PER_PAGE,
        form,
        errors,
        preview: None,
        viewer,
        anonymous: ctx.anonymous_writes(),
    })
}

/// `GET /questions/{id}[?page=N]`.
pub async fn page(
    ctx: web::Data<Context>,
    QuestionId(id): QuestionId,
    PageQuery(query): PageQuery<PageNumber>,
    visitor: Visitor,
) -> Result<HttpResponse, PageError> {
    let number = query.page.map_or(1, |AnswersPage(n)| n);
    let (viewer, identity) = visitor.unzip();
    let page = render_question(
        &ctx,
        id,
        number,
        AnswerForm::default(),
        FieldErrors::default(),
        viewer,
        identity.as_ref(),
    )
    .await?;
    Ok(html(StatusCode::OK, &page))
}

/// `POST /questions/{id}/answers` (form): posts an answer (announced to every watcher, like
/// the REST API's) and redirects to it.
pub async fn answer(
    ctx: web::Data<Context>,
    req: HttpRequest,
    form: PageForm<AnswerForm>,
) -> Result<HttpResponse, PageError> {
    let id = QuestionId::of(&req)?;
    let (writer, viewer) = form.writer(&format!("/questions/{id}#answer")).await?;
    check_post_budget(&req, &writer)?;
    let form = form.into_inner();
    let mut errors = FieldErrors::default();
    let body = check(Body::parse(form.body.as_str()), &mut errors.body);
    let author = check(writer.author(Some(form.author.as_str())), &mut errors.author);
    let (Some(body), Some((author, author_id))) = (body, author) else {
        // Shown on the last page, where the form's answer would appear.
        let last = pages_for(ctx.services().question(id).await?.answer_count);
        let identity = match &writer {
            Writer::User(identity) => Some(identity),
            Writer::Anonymous => None,
        };
        let page = render_question(&ctx, id, last, form, errors, viewer, identity).await?;
        return Ok(html(StatusCode::UNPROCESSABLE_ENTITY, &page));
    };
    let answer = ctx.services().answer(id, NewAnswer { body, author, author_id }, None, None).await?;
    Ok(see_other(answer_location(&ctx, id, answer.value.seq).await?))
}

/// `POST /questions/{id}/answers/preview` (the answer form's Preview button, `formaction`):
/// the question's last page (where the answer would appear) with the form as typed and its
/// body shown as it will be posted. Stores nothing.
pub async fn preview(
    ctx: web::Data<Context>,
    req: HttpRequest,
    form: PageForm<AnswerForm>,
) -> Result<HttpResponse, PageError> {
    let id = QuestionId::of(&req)?;
    let (writer, viewer) = form.writer(&format!("/questions/{id}#answer")).await?;
    check_preview_budget(&req, &writer)?;
    let form = form.into_inner();
    let mut errors = FieldErrors::default();
    let preview =
        check(Body::parse(form.body.as_str()), &mut errors.body).map(|b| markdown::full(b.as_str()));
    let last = pages_for(ctx.services().question(id).await?.answer_count);
    let identity = match &writer {
        Writer::User(identity) => Some(identity),
        Writer::Anonymous => None,
    };
    let mut page = render_question(&ctx, id, last, form, errors, viewer, identity).await?;
    page.preview = preview;
    Ok(html(StatusCode::OK, &page))
}

/// `GET /questions/{id}/answers/{seq}`: to the page that shows answer `seq` now (the script's
/// way to an answer on another page, since pages follow the reading order).
pub async fn go_to_answer(
    ctx: web::Data<Context>,
    QuestionId(id): QuestionId,
    req: HttpRequest,
) -> Result<HttpResponse, PageError> {
    let seq =
        req.match_info().get("seq").and_then(|s| s.parse::<i64>().ok()).filter(|s| *s >= 1).ok_or_else(
            || PageError::new(StatusCode::NOT_FOUND, "No such answer", "That answer link is not valid."),
        )?;
    Ok(see_other(answer_location(&ctx, id, seq).await?))
}

/// `GET` on one of the question's form URLs (a page shown after a form error has the form's
/// URL, and reloading it is a GET): the question page.
pub async fn back_to_question(QuestionId(id): QuestionId) -> HttpResponse {
    see_other(format!("/questions/{id}"))
}
