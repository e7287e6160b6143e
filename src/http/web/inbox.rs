//! The inbox page (`/inbox`): the signed-in user's notifications, most recently changed first,
//! as plain links. Following one (`GET /inbox/{id}`) marks it read and goes to its question;
//! "Mark all read" is a form (session + CSRF). The header's badge on every page is live
//! through `static/inbox.js`.
//!
//! Following a link marks read on a GET: it is what following a notification means, as on
//! every site with an inbox. Another site can make a visitor's browser send that GET, but
//! only with an entry id, which it cannot know, and at worst it marks one entry read.

use actix_web::{HttpRequest, HttpResponse, http::StatusCode, web};
use askama::Template;
use serde::Deserialize;
use uuid::Uuid;

use super::{
    extract::{PageForm, PageLink, PageQuery, SignedIn, Visitor, WithCsrf, blank_is_none},
    page::{PageError, Viewer, html, see_other, when},
};
use crate::http::Context;

/// `?before={seq}`: the entries older than that one.
#[derive(Debug, Deserialize)]
pub struct InboxQuery {
    #[serde(default, deserialize_with = "blank_is_none")]
    before: Option<i64>,
}

impl PageLink for InboxQuery {
    fn invalid() -> PageError {
        PageError::new(StatusCode::BAD_REQUEST, "Bad page link", "That page link is not valid.")
    }
}

/// Entries a page shows.
const PER_PAGE: i64 = 30;

struct EntryView {
    id: Uuid,
    /// "3 new answers to", "A comment on your post in", …
    what: String,
    title: String,
    actor: String,
    read: bool,
    when: String,
    iso: String,
}

/// What an entry says, before its question's title (for a `tag` entry, its newest question's).
fn what(reason: &str, count: i64, tag: Option<&str>) -> String {
    let n = |one: &str, many: &str| if count == 1 { one.to_owned() } else { format!("{count} {many}") };
    match reason {
        "answer" => format!("{} to your question", n("A new answer", "new answers")),
        "followed_answer" => format!("{} to", n("A new answer", "new answers")),
        "comment" => format!("{} on your post in", n("A comment", "comments")),
        "accepted" => "Your answer was accepted in".to_owned(),
        "edit" => format!("{} of your post in", n("An edit", "edits")),
        "tag" => {
            let tag = tag.unwrap_or("?");
            let newest = if count == 1 { "" } else { ", the newest" };
            format!("{} in [{tag}]{newest}:", n("A new question", "new questions"))
        }
        _ => n("A notification", "notifications") + " about",
    }
}

#[derive(Template)]
#[template(path = "inbox.html")]
struct InboxPage {
    entries: Vec<EntryView>,
    next: Option<i64>,
    viewer: Option<Viewer>,
}

/// `GET /inbox`: the viewer's notifications; to log in first without a session.
pub async fn page(
    ctx: web::Data<Context>,
    PageQuery(query): PageQuery<InboxQuery>,
    SignedIn { viewer, identity }: SignedIn,
) -> Result<HttpResponse, PageError> {
    let before = query.before;
    let mut entries = ctx.services().inbox(&identity, before, false, PER_PAGE + 1).await?;
    let next = if entries.len() as i64 > PER_PAGE {
        entries.truncate(PER_PAGE as usize);
        entries.last().map(|e| e.seq)
    } else {
        None
    };
    let entries = entries
        .into_iter()
        .map(|e| {
            let (when, iso) = when(e.updated_at);
            EntryView {
                id: e.id,
                what: what(&e.reason, e.count, e.tag.as_ref().map(|t| t.as_str())),
                // The store blanks the title when the question is deleted.
                title: if e.title.is_empty() { "(a deleted question)".to_owned() } else { e.title },
                actor: e.actor,
                read: e.read,
                when,
                iso,
            }
        })
        .collect();
    Ok(html(StatusCode::OK, &InboxPage { entries, next, viewer: Some(viewer) }))
}

/// `GET /inbox/{id}`: marks the viewer's entry read and goes to its question.
pub async fn open_entry(
    ctx: web::Data<Context>,
    req: HttpRequest,
    visitor: Visitor,
) -> Result<HttpResponse, PageError> {
    let id: Uuid = req.match_info().get("entry_id").and_then(|s| s.parse().ok()).ok_or_else(|| {
        PageError::new(StatusCode::NOT_FOUND, "Not found", "There is no such notification.")
    })?;
    let identity = visitor.signed_in(&format!("/inbox/{id}"))?;
    let question = ctx.services().open_entry(&identity, id).await?;
    Ok(see_other(format!("/questions/{question}")))
}

#[derive(Debug, Deserialize)]
pub struct ReadAllForm {
    #[serde(default)]
    csrf: String,
}

impl WithCsrf for ReadAllForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// `POST /inbox/read-all` (form): marks every entry read, then back to the inbox.
pub async fn read_all(
    ctx: web::Data<Context>,
    form: PageForm<ReadAllForm>,
) -> Result<HttpResponse, PageError> {
    let identity = form.signed_in("/inbox").await?;
    ctx.services().mark_read(&identity, None).await?;
    Ok(see_other("/inbox".into()))
}

#[cfg(test)]
mod tests {
    use super::what;

    #[test]
    fn entries_say_what_and_how_many() {
        assert_eq!(what("answer", 1, None), "A new answer to your question");
        assert_eq!(what("answer", 3, None), "3 new answers to your question");
        assert_eq!(what("followed_answer", 2, None), "2 new answers to");
        assert_eq!(what("accepted", 1, None), "Your answer was accepted in");
        assert_eq!(what("someday", 2, None), "2 notifications about");
        assert_eq!(what("tag", 1, Some("rust")), "A new question in [rust]:");
        assert_eq!(what("tag", 3, Some("rust")), "3 new questions in [rust], the newest:");
    }
}
