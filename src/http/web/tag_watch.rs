//! The page of the signed-in user's watched and ignored tags (`/inbox/tags`, linked from the
//! inbox): the list with a remove button each, and a form to watch or ignore a tag. Each
//! button and the form post to `/inbox/tags` (session + CSRF), the same choice as
//! `PUT /api/tags/{tag}/watch`.
//!
//! Under `/inbox`, not `/tags/…`: every name under `/tags/` is a tag's page, and `watched` is
//! a valid tag name.

use actix_web::{HttpRequest, HttpResponse, http::StatusCode, web};
use askama::Template;
use serde::Deserialize;

use super::{
    extract::{PageForm, SignedIn, WithCsrf},
    page::{PageError, Viewer, check_user_budget, html, see_other},
};
use crate::{
    domain::{DomainError, Identity, MAX_TAG_WATCHES_PER_USER, TagName, TagWatchState},
    http::Context,
};

struct WatchView {
    tag: String,
    state: &'static str,
}

/// "Watching" or "Ignored", and its tags.
struct Section {
    title: &'static str,
    id: &'static str,
    list: Vec<WatchView>,
}

#[derive(Template)]
#[template(path = "tag_watch.html")]
struct TagWatchPage {
    sections: [Section; 2],
    max: i64,
    /// Why the last form was refused (a bad name, the cap), and what was typed.
    error: Option<String>,
    typed: String,
    viewer: Option<Viewer>,
}

async fn render(
    ctx: &Context,
    viewer: Viewer,
    identity: &Identity,
    status: StatusCode,
    error: Option<String>,
    typed: String,
) -> Result<HttpResponse, PageError> {
    let (mut watching, mut ignored) = (Vec::new(), Vec::new());
    for w in ctx.services().tag_watches(identity).await? {
        let view = WatchView { tag: w.tag.to_string(), state: w.state.name() };
        match w.state {
            TagWatchState::Watching => watching.push(view),
            TagWatchState::Ignored => ignored.push(view),
        }
    }
    let sections = [
        Section { title: "Watching", id: "tags-watching", list: watching },
        Section { title: "Ignored", id: "tags-ignored", list: ignored },
    ];
    let page = TagWatchPage { sections, max: MAX_TAG_WATCHES_PER_USER, error, typed, viewer: Some(viewer) };
    Ok(html(status, &page))
}

/// `GET /inbox/tags`: the viewer's watched and ignored tags; to log in first without a session.
pub async fn page(
    ctx: web::Data<Context>,
    SignedIn { viewer, identity }: SignedIn,
) -> Result<HttpResponse, PageError> {
    render(&ctx, viewer, &identity, StatusCode::OK, None, String::new()).await
}

#[derive(Debug, Deserialize)]
pub struct WatchForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    tag: String,
    /// `watching`, `ignored` or `none` (remove).
    #[serde(default)]
    state: String,
}

impl WithCsrf for WatchForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// `POST /inbox/tags` (form): watch, ignore or remove a tag, then back to the page; a bad name
/// or the cap shows the page again with the reason.
pub async fn set(
    ctx: web::Data<Context>,
    req: HttpRequest,
    form: PageForm<WatchForm>,
) -> Result<HttpResponse, PageError> {
    const BACK: &str = "/inbox/tags";
    let Some((viewer, identity)) = form.session().await? else { return Err(PageError::log_in(BACK)) };
    check_user_budget(&req, identity.user_id)?;
    let state = TagWatchState::parse(Some(form.state.as_str()))?;
    let tag = form.tag.trim();
    let refused = match tag.parse::<TagName>() {
        Ok(tag) => match ctx.services().set_tag_watch(&identity, tag, state).await {
            Ok(()) => return Ok(see_other(BACK.into())),
            Err(DomainError::Conflict { message, .. }) => (StatusCode::CONFLICT, message),
            Err(e) => return Err(e.into()),
        },
        Err(_) => (StatusCode::UNPROCESSABLE_ENTITY, format!("{tag:?} is not a tag name. {}", TagName::RULE)),
    };
    render(&ctx, viewer, &identity, refused.0, Some(refused.1), tag.to_owned()).await
}
