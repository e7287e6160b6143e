//! The hub's own web pages: a list of questions with an "Ask a question" form (`/`) that shows
//! new questions live, a question page (`/questions/{id}`) that follows the question's whole
//! life live (answers, votes, the accepted answer, edits, deletes, comments), and a post's
//! revisions (`/questions/{id}/revisions`, `?answer={answer_id}` for an answer's).
//!
//! Pages are rendered server-side from `templates/` by askama, which checks them at compile
//! time and HTML-escapes every value, so user text can never become markup. The forms work
//! without JavaScript (form-urlencoded POST, then a 303 redirect back to the page, or the page
//! again with the error next to the field); so do voting, accepting, editing, deleting and
//! commenting, which need a signed-in session and its CSRF token. With JavaScript,
//! `static/question.js` keeps the question page live and `static/home.js` the newest
//! questions, through `static/qa-hub-client.js`, the reusable WebSocket client that other
//! sites can embed too (see `docs/web-client.md`).
//!
//! A question's answers are shown in reading order (the accepted one, then by score, then
//! oldest first), 30 a page; pages follow that order, and `/questions/{id}/answers/{seq}`
//! redirects to the page that holds an answer now. Live changes never re-sort what is on
//! screen (docs/web-client.md says why).
//!
//! CSS and scripts are compiled into the binary, so the pages work offline with no build step.
//! Every HTML response carries a Content-Security-Policy that allows only this origin's own
//! scripts (no inline script, no inline handlers); pages hand data to scripts in `data-`
//! attributes.
//!
//! Unknown paths outside these routes keep the API's JSON 404; a malformed or unknown
//! question id under `/questions/` gets the HTML 404 page.

use std::collections::HashMap;

use actix_web::{
    HttpRequest, HttpResponse, ResponseError,
    error::UrlencodedError,
    http::{StatusCode, header},
    web,
};
use askama::Template;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use uuid::Uuid;

use super::{
    Context,
    auth::{self, Writer},
};
use crate::domain::{
    Answer, Body, Comment, CommentText, DomainError, Edit, Identity, NewAnswer, NewComment, NewQuestion,
    PostKind, PostRef, Question, Title, Vote,
};

/// Scripts only from this origin; `connect-src 'self'` also covers this origin's `ws:`/`wss:`
/// in CSP Level 3 browsers (checked in tests/browser.rs, where the page's socket must work).
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; \
     form-action 'self'; frame-ancestors 'none'";

/// Largest form body: a 30,000-character answer percent-encodes to up to 9 bytes a character.
pub(super) const FORM_LIMIT: usize = 512 * 1024;

/// Questions on one page of `/`.
const PAGE_SIZE: i64 = 20;

const APP_CSS: &str = include_str!("../../static/app.css");
const CLIENT_JS: &str = include_str!("../../static/qa-hub-client.js");
const QUESTION_JS: &str = include_str!("../../static/question.js");
const HOME_JS: &str = include_str!("../../static/home.js");
const INBOX_JS: &str = include_str!("../../static/inbox.js");

pub fn configure(cfg: &mut web::ServiceConfig) {
    // The form extractor's own errors (wrong content type, too large) become HTML pages too.
    let forms =
        web::FormConfig::default().limit(FORM_LIMIT).error_handler(|err, _req| form_error(err).into());
    // A page shown after a form error has the form's URL; reloading it (a GET) goes back to
    // the page the form is on.
    cfg.route("/", web::get().to(index))
        .service(
            web::resource("/questions")
                .app_data(forms.clone())
                .route(web::post().to(ask))
                .route(web::get().to(|| async { see_other("/".into()) })),
        )
        .route("/questions/{question_id}", web::get().to(question_page))
        .route("/questions/{question_id}/revisions", web::get().to(revisions_page))
        .route("/questions/{question_id}/answers/{seq}", web::get().to(go_to_answer))
        .service(
            web::resource("/questions/{question_id}/answers")
                .app_data(forms.clone())
                .route(web::post().to(answer))
                .route(web::get().to(back_to_question)),
        )
        .service(
            web::resource("/questions/{question_id}/vote")
                .app_data(forms.clone())
                .route(web::post().to(vote))
                .route(web::get().to(back_to_question)),
        )
        .service(
            web::resource("/questions/{question_id}/follow")
                .app_data(forms.clone())
                .route(web::post().to(follow))
                .route(web::get().to(back_to_question)),
        )
        .service(
            web::resource("/questions/{question_id}/accept")
                .app_data(forms.clone())
                .route(web::post().to(accept))
                .route(web::get().to(back_to_question)),
        )
        .service(
            web::resource("/questions/{question_id}/edit")
                .app_data(forms.clone())
                .route(web::post().to(edit))
                .route(web::get().to(back_to_question)),
        )
        .service(
            web::resource("/questions/{question_id}/delete")
                .app_data(forms.clone())
                .route(web::post().to(delete))
                .route(web::get().to(back_to_question)),
        )
        .service(
            web::resource("/questions/{question_id}/comments")
                .app_data(forms.clone())
                .route(web::post().to(comment))
                .route(web::get().to(back_to_question)),
        )
        .service(
            web::resource("/questions/{question_id}/comments/delete")
                .app_data(forms)
                .route(web::post().to(delete_comment))
                .route(web::get().to(back_to_question)),
        )
        .route("/static/{file}", web::get().to(asset))
        .configure(super::accounts::configure)
        .configure(super::inbox_page::configure);
}

/// A failure shown to a person as an HTML page.
#[derive(Debug)]
pub struct PageError {
    status: StatusCode,
    heading: &'static str,
    message: String,
    /// Seconds for `Retry-After`, on a 429.
    retry_after: Option<u64>,
}

impl PageError {
    pub(super) fn new(status: StatusCode, heading: &'static str, message: impl Into<String>) -> Self {
        Self { status, heading, message: message.into(), retry_after: None }
    }

    fn question_not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "Question not found",
            "There is no question at this address. It may have been mistyped.",
        )
    }
}

impl std::fmt::Display for PageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.heading, self.message)
    }
}

impl From<DomainError> for PageError {
    fn from(e: DomainError) -> Self {
        match e {
            DomainError::NotFound { code: "question_not_found", .. } => Self::question_not_found(),
            DomainError::NotFound { message, .. } => {
                Self::new(StatusCode::NOT_FOUND, "Not found", capitalised(&message))
            }
            DomainError::Invalid { message, .. } => {
                Self::new(StatusCode::UNPROCESSABLE_ENTITY, "Not accepted", capitalised(&message))
            }
            DomainError::Unauthenticated { message, .. } => {
                Self::new(StatusCode::UNAUTHORIZED, "Please log in", capitalised(&message))
            }
            DomainError::Forbidden { message, .. } => {
                Self::new(StatusCode::FORBIDDEN, "Not allowed", capitalised(&message))
            }
            DomainError::Gone { message, .. } => {
                Self::new(StatusCode::GONE, "Deleted", capitalised(&message))
            }
            DomainError::Conflict { message, .. } => {
                Self::new(StatusCode::CONFLICT, "Not accepted", capitalised(&message))
            }
            DomainError::OutcomeUnknown(cause) => {
                tracing::error!(error = %cause, "commit failed while serving a page; outcome unknown");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Not sure it was saved",
                    "The database failed while saving this. Check whether it appears before sending it again.",
                )
            }
            DomainError::Unavailable(cause) => {
                tracing::warn!(error = %cause, "database unavailable while serving a page");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Temporarily unavailable",
                    "The server cannot reach its database right now. Please try again in a moment.",
                )
            }
            DomainError::Internal(cause) => {
                tracing::error!(error = %cause, "internal error while serving a page");
                Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Something went wrong",
                    "The server could not complete the request. Please try again in a moment.",
                )
            }
        }
    }
}

impl ResponseError for PageError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let page = ErrorPage {
            status: self.status.as_u16(),
            heading: self.heading,
            message: &self.message,
            viewer: None,
        };
        let mut res = html(self.status, &page);
        if let Some(secs) = self.retry_after {
            res.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from(secs));
        }
        res
    }
}

/// A form post from another site's page (a cross-site request forgery): 403, nothing done.
pub(super) fn check_form_post(req: &HttpRequest) -> Result<(), PageError> {
    if super::origin::is_cross_site(req) {
        return Err(PageError::new(
            StatusCode::FORBIDDEN,
            "Not from this site",
            "This form was sent from another site's page, so it was not accepted. Post from this site.",
        ));
    }
    Ok(())
}

/// Over a rate limit: 429, and when to come back.
pub(super) fn slow_down(wait: std::time::Duration, what: &str) -> PageError {
    let secs = super::rate::retry_after_secs(wait);
    PageError {
        retry_after: Some(secs),
        ..PageError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "Slow down",
            format!("{what} Please try again in {secs} s."),
        )
    }
}

/// The person looking at a page: their name, and the CSRF token their forms carry.
pub struct Viewer {
    pub name: String,
    pub csrf: String,
    pub user_id: Uuid,
    /// Their inbox's unread count, and its topic's seq at that count: the header's badge
    /// shows the one and goes live from the other.
    pub unread: i64,
    pub inbox_seq: i64,
}

/// The viewer behind the request's session cookie, if it is a live session.
pub(super) async fn viewer(ctx: &Context, req: &HttpRequest) -> Option<(Viewer, crate::domain::Identity)> {
    let token = auth::session_cookie(req)?;
    let session = ctx.services().authenticate(&crate::domain::Credential::Session(token)).await.ok()?;
    let csrf = session.csrf_token?;
    // A page still renders if the count cannot be read; its badge then starts at 0 and the
    // live script corrects it from the events after seq 0.
    let (unread, inbox_seq) = ctx.services().unread(&session.identity).await.unwrap_or((0, 0));
    let viewer = Viewer {
        name: session.identity.name.as_str().to_owned(),
        csrf,
        user_id: session.identity.user_id,
        unread,
        inbox_seq,
    };
    Some((viewer, session.identity))
}

/// A form's CSRF token against its session's, in constant time: 403 when they differ.
pub(super) fn check_csrf(sent: &str, viewer: &Viewer) -> Result<(), PageError> {
    if bool::from(subtle::ConstantTimeEq::ct_eq(sent.as_bytes(), viewer.csrf.as_bytes())) {
        Ok(())
    } else {
        Err(PageError::new(
            StatusCode::FORBIDDEN,
            "Form expired",
            "This form does not belong to your current session (it may be from before you logged in again). Reload the page and send it again.",
        ))
    }
}

/// Who posts a form: the logged-in viewer (whose CSRF token the form must carry), an anonymous
/// author when `--anonymous-writes` allows it, or nobody: `Err` is the redirect to log in.
async fn form_writer(
    ctx: &Context,
    req: &HttpRequest,
    csrf: &str,
    back_to: &str,
) -> Result<Result<(Writer, Option<Viewer>), HttpResponse>, PageError> {
    match viewer(ctx, req).await {
        Some((viewer, identity)) => {
            check_csrf(csrf, &viewer)?;
            Ok(Ok((Writer::User(identity), Some(viewer))))
        }
        None if ctx.anonymous_writes() => Ok(Ok((Writer::Anonymous, None))),
        None => Ok(Err(see_other(super::accounts::login_url(back_to)))),
    }
}

/// The posts' rate limit, per writer: 429, and when to come back.
fn check_post_budget(req: &HttpRequest, writer: &Writer) -> Result<(), PageError> {
    super::rate::check_post(req, &writer.owner(req)).map_err(|wait| slow_down(wait, "Too many posts."))
}

/// The same budget for a signed-in user's votes and accepts.
fn check_user_budget(req: &HttpRequest, user: Uuid) -> Result<(), PageError> {
    super::rate::check_post(req, &super::auth::user_owner(user))
        .map_err(|wait| slow_down(wait, "Too many changes."))
}

pub(super) fn form_error(err: UrlencodedError) -> PageError {
    match err {
        UrlencodedError::Overflow { .. } => PageError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "Too long",
            "What you sent is too long for this form. Please shorten it.",
        ),
        UrlencodedError::Payload(e) if super::body::is_timed_out(&e) => PageError::new(
            StatusCode::REQUEST_TIMEOUT,
            "Too slow",
            "The form took too long to arrive. Please send it again.",
        ),
        UrlencodedError::ContentType => PageError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Unsupported form",
            "This form accepts application/x-www-form-urlencoded only.",
        ),
        other => PageError::new(
            StatusCode::BAD_REQUEST,
            "Bad form",
            format!("The form could not be read: {other}."),
        ),
    }
}

/// Renders a page with the security headers every HTML response gets.
pub(super) fn html(status: StatusCode, page: &impl Template) -> HttpResponse {
    match page.render() {
        Ok(body) => HttpResponse::build(status)
            .content_type("text/html; charset=utf-8")
            .insert_header((header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY))
            .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
            .insert_header((header::REFERRER_POLICY, "same-origin"))
            .body(body),
        Err(e) => {
            tracing::error!(error = %e, "template failed to render");
            HttpResponse::InternalServerError()
                .content_type("text/plain; charset=utf-8")
                .insert_header((header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY))
                .body("The page could not be rendered.")
        }
    }
}

/// A 303 to `location`, a path of this site. Callers pass paths built by `local_path` or
/// from ids; should one still not be a header value, the redirect goes home rather than
/// failing the request with a 500.
pub(super) fn see_other(location: String) -> HttpResponse {
    let location = header::HeaderValue::try_from(location).unwrap_or_else(|e| {
        tracing::warn!(error = %e, "a redirect's target is not a header value; going to /");
        header::HeaderValue::from_static("/")
    });
    HttpResponse::SeeOther().insert_header((header::LOCATION, location)).finish()
}

/// `raw` (a form's `next` or `back`) as a place to redirect to on this site: its path, query
/// and fragment, percent-encoded, so always a valid `Location`; `None` when it would lead
/// anywhere else. It is read as a browser reads a `Location`, relative to this site: a
/// browser drops tabs and line breaks and reads `\` as `/`, so `/\t/evil.com` and
/// `/\evil.com` are `//evil.com`, another host. Control characters are refused outright.
pub(super) fn local_path(raw: &str) -> Option<String> {
    if !raw.starts_with('/') || raw.chars().any(char::is_control) {
        return None;
    }
    let here = url::Url::parse("http://hub.invalid/").expect("a valid URL");
    let there = here.join(raw).ok()?;
    (there.origin() == here.origin()).then(|| there[url::Position::BeforePath..].to_owned())
}

fn plural(n: i64) -> &'static str {
    if n == 1 { "answer" } else { "answers" }
}

pub(super) fn when(t: DateTime<Utc>) -> (String, String) {
    (t.format("%Y-%m-%d %H:%M UTC").to_string(), t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
}

/// Parses one field with the domain's rules (the API's too); on failure the message goes
/// next to the field.
pub(super) fn check<T>(parsed: Result<T, DomainError>, error: &mut Option<String>) -> Option<T> {
    parsed.map_err(|e| *error = Some(capitalised(&e.to_string()))).ok()
}

pub(super) fn capitalised(message: &str) -> String {
    let mut chars = message.chars();
    chars.next().map(|first| first.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

#[derive(Default)]
struct FieldErrors {
    title: Option<String>,
    body: Option<String>,
    author: Option<String>,
}

/// What the user typed, echoed back when the form has an error.
#[derive(Debug, Default, Deserialize)]
pub struct QuestionForm {
    #[serde(default)]
    title: String,
    #[serde(default)]
    body: String,
    /// Only with `--anonymous-writes` and no one logged in.
    #[serde(default)]
    author: String,
    #[serde(default)]
    csrf: String,
}

#[derive(Debug, Default, Deserialize)]
pub struct AnswerForm {
    #[serde(default)]
    body: String,
    #[serde(default)]
    author: String,
    #[serde(default)]
    csrf: String,
}

struct QuestionSummary {
    id: Uuid,
    title: String,
    excerpt: String,
    author: String,
    when: String,
    iso: String,
    answer_count: i64,
    answers_word: &'static str,
}

impl From<Question> for QuestionSummary {
    fn from(q: Question) -> Self {
        let (when, iso) = when(q.created_at);
        let mut excerpt: String = q.body.chars().take(180).collect();
        if excerpt.len() < q.body.len() {
            excerpt.push('…');
        }
        Self {
            id: q.id,
            title: q.title,
            excerpt,
            author: q.author,
            when,
            iso,
            answer_count: q.answer_count,
            answers_word: plural(q.answer_count),
        }
    }
}

#[derive(Template)]
#[template(path = "index.html")]
struct IndexPage {
    questions: Vec<QuestionSummary>,
    next: Option<Uuid>,
    paged: bool,
    form: QuestionForm,
    errors: FieldErrors,
    viewer: Option<Viewer>,
    /// Whether people who are not logged in may post, naming themselves.
    anonymous: bool,
    /// On the newest page, the seq of the list of questions this page shows: the script
    /// subscribes to `questions` from here. Older pages are not live.
    list_seq: Option<i64>,
}

struct QuestionView {
    id: Uuid,
    title: String,
    body: String,
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
}

struct AnswerView {
    id: Uuid,
    seq: i64,
    body: String,
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
    body: String,
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
        Self { id: c.id, body: c.body, author: c.author, when, iso, deletable }
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

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    status: u16,
    heading: &'a str,
    message: &'a str,
    viewer: Option<Viewer>,
}

async fn index_page(
    ctx: &Context,
    before: Option<Uuid>,
    form: QuestionForm,
    errors: FieldErrors,
    viewer: Option<Viewer>,
) -> Result<IndexPage, PageError> {
    let (page, list_seq) = match before {
        None => {
            let (page, seq) = ctx.services().newest_questions(PAGE_SIZE).await?;
            (page, Some(seq))
        }
        Some(_) => (ctx.services().questions(before, PAGE_SIZE).await?, None),
    };
    Ok(IndexPage {
        questions: page.items.into_iter().map(Into::into).collect(),
        next: page.next,
        paged: before.is_some(),
        form,
        errors,
        viewer,
        anonymous: ctx.anonymous_writes(),
        list_seq,
    })
}

/// `GET /?before=ID`: a page of questions, newest first.
async fn index(
    ctx: web::Data<Context>,
    req: HttpRequest,
    query: web::Query<HashMap<String, String>>,
) -> Result<HttpResponse, PageError> {
    let before = match query.get("before").map(|s| s.trim()).filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => Some(Uuid::parse_str(s).map_err(|_| {
            PageError::new(StatusCode::BAD_REQUEST, "Bad page link", "That page link is not valid.")
        })?),
    };
    let viewer = viewer(&ctx, &req).await.map(|(v, _)| v);
    let page = index_page(&ctx, before, QuestionForm::default(), FieldErrors::default(), viewer).await?;
    Ok(html(StatusCode::OK, &page))
}

/// `POST /questions` (form): creates a question and redirects to it.
async fn ask(
    ctx: web::Data<Context>,
    req: HttpRequest,
    form: web::Form<QuestionForm>,
) -> Result<HttpResponse, PageError> {
    check_form_post(&req)?;
    let form = form.into_inner();
    let (writer, viewer) = match form_writer(&ctx, &req, &form.csrf, "/#ask").await? {
        Ok(writer) => writer,
        Err(to_login) => return Ok(to_login),
    };
    check_post_budget(&req, &writer)?;
    let mut errors = FieldErrors::default();
    let title = check(Title::parse(form.title.as_str()), &mut errors.title);
    let body = check(Body::parse(form.body.as_str()), &mut errors.body);
    let author = check(writer.author(Some(form.author.as_str())), &mut errors.author);
    let (Some(title), Some(body), Some((author, author_id))) = (title, body, author) else {
        let page = index_page(&ctx, None, form, errors, viewer).await?;
        return Ok(html(StatusCode::UNPROCESSABLE_ENTITY, &page));
    };
    let question = ctx.services().ask(NewQuestion { title, body, author, author_id }, None).await?;
    Ok(see_other(format!("/questions/{}", question.value.id)))
}

fn question_id(req: &HttpRequest) -> Result<Uuid, PageError> {
    let raw = req.match_info().get("question_id").unwrap_or_default();
    Uuid::parse_str(raw).map_err(|_| PageError::question_not_found())
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

/// `?page=N` of a question page: a whole number from 1; absent means 1.
fn page_number(req: &HttpRequest) -> Result<i64, PageError> {
    let query = web::Query::<HashMap<String, String>>::from_query(req.query_string())
        .unwrap_or_else(|_| web::Query(HashMap::new()));
    match query.get("page").map(|s| s.trim()) {
        None | Some("") => Ok(1),
        Some(raw) => {
            raw.parse::<i64>().ok().filter(|p| (1..=i64::MAX / ANSWERS_PER_PAGE).contains(p)).ok_or_else(
                || PageError::new(StatusCode::BAD_REQUEST, "Bad page link", "That page number is not valid."),
            )
        }
    }
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
        viewer,
        anonymous: ctx.anonymous_writes(),
    })
}

/// `GET /questions/{id}`.
async fn question_page(ctx: web::Data<Context>, req: HttpRequest) -> Result<HttpResponse, PageError> {
    let id = question_id(&req)?;
    let number = page_number(&req)?;
    let (viewer, identity) = viewer(&ctx, &req).await.unzip();
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
async fn answer(
    ctx: web::Data<Context>,
    req: HttpRequest,
    form: web::Form<AnswerForm>,
) -> Result<HttpResponse, PageError> {
    check_form_post(&req)?;
    let id = question_id(&req)?;
    let form = form.into_inner();
    let (writer, viewer) =
        match form_writer(&ctx, &req, &form.csrf, &format!("/questions/{id}#answer")).await? {
            Ok(writer) => writer,
            Err(to_login) => return Ok(to_login),
        };
    check_post_budget(&req, &writer)?;
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

/// Where a vote or accept form returns to: the page it was on, if that is a page of this
/// question (anything else, an open redirect, is not followed).
fn back_to(question: Uuid, back: &str) -> String {
    let page = format!("/questions/{question}");
    local_path(back)
        .filter(|path| {
            path.strip_prefix(&page).is_some_and(|rest| rest.is_empty() || rest.starts_with(['?', '#']))
        })
        .unwrap_or(page)
}

/// The identity behind a vote or accept form (these need a person, also on a hub that takes
/// anonymous posts); `Err` is the redirect to log in.
pub(super) async fn form_identity(
    ctx: &Context,
    req: &HttpRequest,
    csrf: &str,
    back: &str,
) -> Result<Result<crate::domain::Identity, HttpResponse>, PageError> {
    match viewer(ctx, req).await {
        Some((viewer, identity)) => {
            check_csrf(csrf, &viewer)?;
            Ok(Ok(identity))
        }
        None => Ok(Err(see_other(super::accounts::login_url(back)))),
    }
}

/// `POST /questions/{id}/vote` (form): the same vote as the REST API's, then back to the page.
async fn vote(
    ctx: web::Data<Context>,
    req: HttpRequest,
    form: web::Form<VoteForm>,
) -> Result<HttpResponse, PageError> {
    check_form_post(&req)?;
    let id = question_id(&req)?;
    let back = back_to(id, &form.back);
    let voter = match form_identity(&ctx, &req, &form.csrf, &back).await? {
        Ok(identity) => identity,
        Err(to_login) => return Ok(to_login),
    };
    check_user_budget(&req, voter.user_id)?;
    let kind = PostKind::parse(&form.kind).ok_or_else(|| {
        PageError::new(StatusCode::BAD_REQUEST, "Bad form", "That is not something to vote on.")
    })?;
    let vote = Vote::parse(form.value)?;
    ctx.services().vote(&voter, PostRef { kind, id: form.post }, vote).await?;
    Ok(see_other(back))
}

#[derive(Debug, Deserialize)]
pub struct FollowForm {
    #[serde(default)]
    csrf: String,
    /// `following`, `unfollowed` or `muted`.
    state: String,
}

/// `POST /questions/{id}/follow` (form): follow, unfollow or mute the question, then back.
async fn follow(
    ctx: web::Data<Context>,
    req: HttpRequest,
    form: web::Form<FollowForm>,
) -> Result<HttpResponse, PageError> {
    let id = question_id(&req)?;
    let back = format!("/questions/{id}#follow");
    let who = match form_changer(&ctx, &req, &form.csrf, &back).await? {
        Ok(identity) => identity,
        Err(to_login) => return Ok(to_login),
    };
    let choice = crate::domain::FollowChoice::parse(&form.state)?;
    ctx.services().set_follow(&who, id, choice).await?;
    Ok(see_other(back))
}

/// `POST /questions/{id}/accept` (form): the asker accepts an answer or withdraws it.
async fn accept(
    ctx: web::Data<Context>,
    req: HttpRequest,
    form: web::Form<AcceptForm>,
) -> Result<HttpResponse, PageError> {
    check_form_post(&req)?;
    let id = question_id(&req)?;
    let back = back_to(id, &form.back);
    let asker = match form_identity(&ctx, &req, &form.csrf, &back).await? {
        Ok(identity) => identity,
        Err(to_login) => return Ok(to_login),
    };
    check_user_budget(&req, asker.user_id)?;
    ctx.services().accept(&asker, form.answer, form.accept == 1).await?;
    Ok(see_other(back))
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

fn post_ref(kind: &str, id: Uuid) -> Result<PostRef, PageError> {
    let kind = PostKind::parse(kind)
        .ok_or_else(|| PageError::new(StatusCode::BAD_REQUEST, "Bad form", "That is not a post."))?;
    Ok(PostRef { kind, id })
}

/// The signed-in person behind a form that changes a post, a comment or a follow, within their
/// budget;
/// `Err` is the redirect to log in.
async fn form_changer(
    ctx: &Context,
    req: &HttpRequest,
    csrf: &str,
    back: &str,
) -> Result<Result<Identity, HttpResponse>, PageError> {
    check_form_post(req)?;
    let who = form_identity(ctx, req, csrf, back).await?;
    if let Ok(who) = &who {
        check_user_budget(req, who.user_id)?;
    }
    Ok(who)
}

/// `POST /questions/{id}/edit` (form): the author or a moderator edits a post (the REST
/// API's `PATCH`), then back to the page.
async fn edit(
    ctx: web::Data<Context>,
    req: HttpRequest,
    form: web::Form<EditForm>,
) -> Result<HttpResponse, PageError> {
    let id = question_id(&req)?;
    let back = back_to(id, &form.back);
    let editor = match form_changer(&ctx, &req, &form.csrf, &back).await? {
        Ok(identity) => identity,
        Err(to_login) => return Ok(to_login),
    };
    let form = form.into_inner();
    let post = post_ref(&form.kind, form.post)?;
    let edit = Edit {
        title: form.title.map(Title::parse).transpose()?,
        body: Some(Body::parse(form.body)?),
        editor: editor.name.clone(),
        editor_id: editor.user_id,
    };
    ctx.services().edit(&editor, post, edit).await?;
    Ok(see_other(back))
}

/// `POST /questions/{id}/delete` (form): the author or a moderator deletes a post; back to
/// the page, or to the list when it was the question.
async fn delete(
    ctx: web::Data<Context>,
    req: HttpRequest,
    form: web::Form<DeleteForm>,
) -> Result<HttpResponse, PageError> {
    let id = question_id(&req)?;
    let back = back_to(id, &form.back);
    let who = match form_changer(&ctx, &req, &form.csrf, &back).await? {
        Ok(identity) => identity,
        Err(to_login) => return Ok(to_login),
    };
    let post = post_ref(&form.kind, form.post)?;
    ctx.services().delete(&who, post).await?;
    Ok(see_other(if post.kind == PostKind::Question { "/".into() } else { back }))
}

/// `POST /questions/{id}/comments` (form): anyone signed in comments on a post.
async fn comment(
    ctx: web::Data<Context>,
    req: HttpRequest,
    form: web::Form<CommentForm>,
) -> Result<HttpResponse, PageError> {
    let id = question_id(&req)?;
    let back = back_to(id, &form.back);
    let who = match form_changer(&ctx, &req, &form.csrf, &back).await? {
        Ok(identity) => identity,
        Err(to_login) => return Ok(to_login),
    };
    let form = form.into_inner();
    let post = post_ref(&form.kind, form.post)?;
    let new = NewComment { body: CommentText::parse(form.body)?, author: who.name, author_id: who.user_id };
    ctx.services().comment(post, new, None).await?;
    Ok(see_other(back))
}

/// `POST /questions/{id}/comments/delete` (form): a comment's author or a moderator deletes it.
async fn delete_comment(
    ctx: web::Data<Context>,
    req: HttpRequest,
    form: web::Form<CommentDeleteForm>,
) -> Result<HttpResponse, PageError> {
    let id = question_id(&req)?;
    let back = back_to(id, &form.back);
    let who = match form_changer(&ctx, &req, &form.csrf, &back).await? {
        Ok(identity) => identity,
        Err(to_login) => return Ok(to_login),
    };
    ctx.services().delete_comment(&who, form.comment).await?;
    Ok(see_other(back))
}

/// `GET /questions/{id}/answers/{seq}`: to the page that shows answer `seq` now (the script's
/// way to an answer on another page, since pages follow the reading order).
async fn go_to_answer(ctx: web::Data<Context>, req: HttpRequest) -> Result<HttpResponse, PageError> {
    let id = question_id(&req)?;
    let seq =
        req.match_info().get("seq").and_then(|s| s.parse::<i64>().ok()).filter(|s| *s >= 1).ok_or_else(
            || PageError::new(StatusCode::NOT_FOUND, "No such answer", "That answer link is not valid."),
        )?;
    Ok(see_other(answer_location(&ctx, id, seq).await?))
}

struct RevisionView {
    revision: i64,
    title: Option<String>,
    body: String,
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
async fn revisions_page(ctx: web::Data<Context>, req: HttpRequest) -> Result<HttpResponse, PageError> {
    let id = question_id(&req)?;
    let query = web::Query::<HashMap<String, String>>::from_query(req.query_string())
        .unwrap_or_else(|_| web::Query(HashMap::new()));
    let post = match query.get("answer").map(|s| s.trim()).filter(|s| !s.is_empty()) {
        None => PostRef::question(id),
        Some(raw) => PostRef::answer(Uuid::parse_str(raw).map_err(|_| {
            PageError::new(StatusCode::BAD_REQUEST, "Bad link", "That revisions link is not valid.")
        })?),
    };
    let (viewer, identity) = viewer(&ctx, &req).await.unzip();
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
            RevisionView { revision: r.revision, title: r.title, body: r.body, editor: r.editor, when, iso }
        })
        .collect();
    let page = RevisionsPage { question_id: id, title, kind: post.kind.name(), revisions, viewer };
    Ok(html(StatusCode::OK, &page))
}

/// `GET /questions/{id}/answers`: the question page.
async fn back_to_question(req: HttpRequest) -> Result<HttpResponse, PageError> {
    Ok(see_other(format!("/questions/{}", question_id(&req)?)))
}

/// `GET /static/{file}`: the stylesheet and scripts compiled into the binary.
async fn asset(path: web::Path<String>) -> Result<HttpResponse, PageError> {
    let (body, content_type) = match path.as_str() {
        "app.css" => (APP_CSS, "text/css; charset=utf-8"),
        "qa-hub-client.js" => (CLIENT_JS, "text/javascript; charset=utf-8"),
        "question.js" => (QUESTION_JS, "text/javascript; charset=utf-8"),
        "home.js" => (HOME_JS, "text/javascript; charset=utf-8"),
        "inbox.js" => (INBOX_JS, "text/javascript; charset=utf-8"),
        _ => return Err(PageError::new(StatusCode::NOT_FOUND, "Not found", "There is no such file.")),
    };
    Ok(HttpResponse::Ok()
        .content_type(content_type)
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        // Revalidate every time: the files are small and change with the binary.
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        // Other sites may embed the client script.
        .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"))
        .body(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_uses_the_domain_rules_and_capitalises() {
        let mut error = None;
        assert_eq!(check(Title::parse("  hi  "), &mut error).map(Title::into_inner).as_deref(), Some("hi"));
        assert_eq!(error, None);
        assert!(check(Title::parse("   "), &mut error).is_none());
        assert_eq!(error.as_deref(), Some("Title must not be empty."));
    }

    #[test]
    fn local_paths_stay_on_this_site() {
        for (raw, path) in [
            ("/", Some("/")),
            ("/questions?page=2#ask", Some("/questions?page=2#ask")),
            ("/a b/é?q=ü", Some("/a%20b/%C3%A9?q=%C3%BC")),
            ("/x/../y", Some("/y")),
            ("/\t/evil.com", None),
            ("/\n/x", None),
            ("/\r\n", None),
            ("/\x7f", None),
            ("/\u{85}", None),
            ("//evil.com", None),
            ("/\\evil.com", None),
            ("https://evil.com/", None),
            ("javascript:alert(1)", None),
            ("questions", None),
            ("", None),
        ] {
            assert_eq!(local_path(raw).as_deref(), path, "{raw:?}");
        }
    }

    #[test]
    fn templates_escape_user_text() {
        let page =
            ErrorPage { status: 404, heading: "x", message: "<script>alert(1)</script>", viewer: None };
        let html = page.render().unwrap();
        assert!(html.contains("&#60;script&#62;") || html.contains("&lt;script&gt;"), "{html}");
        assert!(!html.contains("<script>alert"));
    }
}
