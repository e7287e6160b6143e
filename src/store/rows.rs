//! The shapes rows come back in, private to the store; callers get domain types.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::domain::{
    Answer, Comment, CredentialId, Event, EventKind, InboxEntry, PostKind, PostRef, Question,
    QuestionSummary, Revision, TagName, Tags, Topic, markdown,
};

/// A row's stored HTML; a row written before the `body_html` column existed (NULL until
/// `Store::migrate` has filled it) is rendered here instead, so no reader ever sees raw text.
pub(super) fn rendered(html: Option<String>, body: &str, render: fn(&str) -> String) -> String {
    html.unwrap_or_else(|| render(body))
}

#[derive(sqlx::FromRow)]
pub(super) struct QuestionRow {
    id: Uuid,
    title: String,
    body: String,
    body_html: Option<String>,
    author: String,
    author_id: Option<Uuid>,
    created_at: DateTime<Utc>,
    answer_count: i64,
    score: i64,
    accepted_answer_id: Option<Uuid>,
    last_seq: i64,
    revision: i64,
    edited_at: Option<DateTime<Utc>>,
    tags: String,
}

impl From<QuestionRow> for Question {
    fn from(r: QuestionRow) -> Self {
        Self {
            id: r.id,
            title: r.title,
            body_html: rendered(r.body_html, &r.body, markdown::full),
            body: r.body,
            author: r.author,
            author_id: r.author_id,
            created_at: r.created_at,
            answer_count: r.answer_count,
            score: r.score,
            accepted_answer_id: r.accepted_answer_id,
            last_seq: r.last_seq,
            revision: r.revision,
            edited_at: r.edited_at,
            tags: Tags::from_column(&r.tags),
        }
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct AnswerRow {
    id: Uuid,
    question_id: Uuid,
    seq: i64,
    body: String,
    body_html: Option<String>,
    author: String,
    author_id: Option<Uuid>,
    created_at: DateTime<Utc>,
    score: i64,
    revision: i64,
    edited_at: Option<DateTime<Utc>>,
}

impl From<AnswerRow> for Answer {
    fn from(r: AnswerRow) -> Self {
        Self {
            id: r.id,
            question_id: r.question_id,
            seq: r.seq,
            body_html: rendered(r.body_html, &r.body, markdown::full),
            body: r.body,
            author: r.author,
            author_id: r.author_id,
            created_at: r.created_at,
            score: r.score,
            revision: r.revision,
            edited_at: r.edited_at,
        }
    }
}

/// An event joined to the row it describes (see `events::EVENT_COLUMNS`).
#[derive(sqlx::FromRow)]
pub(super) struct EventRow {
    topic: String,
    seq: i64,
    kind: String,
    payload: Option<String>,
    ref_id: Option<Uuid>,
    answer_id: Option<Uuid>,
    question_id: Option<Uuid>,
    answer_seq: Option<i64>,
    body: Option<String>,
    body_html: Option<String>,
    author: Option<String>,
    author_id: Option<Uuid>,
    created_at: Option<DateTime<Utc>>,
    score: Option<i64>,
    revision: Option<i64>,
    edited_at: Option<DateTime<Utc>>,
    r_post_id: Option<Uuid>,
    r_post_kind: Option<String>,
    r_question_id: Option<Uuid>,
    r_revision: Option<i64>,
    r_title: Option<String>,
    r_body: Option<String>,
    r_body_html: Option<String>,
    r_editor: Option<String>,
    r_editor_id: Option<Uuid>,
    r_created_at: Option<DateTime<Utc>>,
    c_question_id: Option<Uuid>,
    c_post_id: Option<Uuid>,
    c_post_kind: Option<String>,
    c_body: Option<String>,
    c_body_html: Option<String>,
    c_author: Option<String>,
    c_author_id: Option<Uuid>,
    c_created_at: Option<DateTime<Utc>>,
    i_user_id: Option<Uuid>,
    i_reason: Option<String>,
    i_question_id: Option<Uuid>,
    i_title: Option<String>,
    i_count: Option<i64>,
    i_actor: Option<String>,
    i_ref_id: Option<Uuid>,
    i_seq: Option<i64>,
    i_read: Option<bool>,
    i_updated_at: Option<DateTime<Utc>>,
    i_tag: Option<String>,
}

impl EventRow {
    /// `None` for a row this build cannot read (a topic name it does not know); it is logged.
    pub(super) fn into_event(self) -> Option<Event> {
        let topic: Topic = match self.topic.parse() {
            Ok(topic) => topic,
            Err(e) => {
                tracing::warn!(error = %e, seq = self.seq, "skipping an event of an unknown topic");
                return None;
            }
        };
        let kind = match (self.kind.as_str(), self.answer_id) {
            ("answer", Some(id)) => EventKind::Answer(Answer {
                id,
                question_id: self.question_id?,
                seq: self.answer_seq?,
                body_html: rendered(self.body_html, self.body.as_deref()?, markdown::full),
                body: self.body?,
                author: self.author?,
                author_id: self.author_id,
                created_at: self.created_at?,
                score: self.score.unwrap_or(0),
                revision: self.revision.unwrap_or(1),
                edited_at: self.edited_at,
            }),
            ("accept", _) if let Some(answer_id) = self.ref_id => EventKind::Accept { answer_id },
            ("unaccept", _) if let Some(answer_id) = self.ref_id => EventKind::Unaccept { answer_id },
            ("redacted", _) => EventKind::Redacted,
            ("inbox", _)
                if let (Some(entry), Some(unread)) =
                    (self.inbox_row(), unread_of(self.payload.as_deref())) =>
            {
                EventKind::Inbox { entry, unread }
            }
            ("read", _) if let Some((entry_ids, unread)) = read_of(self.payload.as_deref()) => {
                EventKind::Read { entry_ids, unread }
            }
            ("revoked", _) if let Some(credential) = revoked_of(self.payload.as_deref()) => {
                EventKind::Revoked { credential }
            }
            ("edit", _) if let Some(mut revision) = self.revision_row() => {
                // An edit that changed a question's tags has them in its payload.
                revision.tags = tags_of(self.payload.as_deref());
                EventKind::Edit(revision)
            }
            ("comment", _) if let Some(comment) = self.comment_row() => EventKind::Comment(comment),
            ("comment-delete", _) if let Some(comment) = self.comment_row() => {
                EventKind::CommentDelete { comment_id: comment.id, post: comment.post }
            }
            ("delete", _) if let Some(post) = post_of(self.ref_id, self.payload.as_deref()) => {
                EventKind::Delete { post }
            }
            ("question", _) if let Some(q) = summary_of(self.ref_id, self.payload.as_deref()) => {
                EventKind::Question(q)
            }
            ("question-delete", _) if let Some(question_id) = self.ref_id => {
                EventKind::QuestionDelete { question_id }
            }
            // Unreadable, it still goes out (as an unknown kind), so its seq is not a gap.
            ("score", _) => match score_of(self.ref_id, self.payload.as_deref()) {
                Some((post, score)) => EventKind::Score { post, score },
                None => EventKind::Other { name: self.kind, payload: self.payload },
            },
            // A kind recorded by a newer build (or a test): passed on by name, so clients skip
            // it but still count its seq.
            _ => EventKind::Other { name: self.kind, payload: self.payload },
        };
        Some(Event { topic, seq: self.seq, kind })
    }
}

impl EventRow {
    fn revision_row(&self) -> Option<Revision> {
        let kind = PostKind::parse(self.r_post_kind.as_deref()?)?;
        Some(Revision {
            post: PostRef { kind, id: self.r_post_id? },
            question_id: self.r_question_id?,
            revision: self.r_revision?,
            title: self.r_title.clone(),
            body_html: rendered(self.r_body_html.clone(), self.r_body.as_deref()?, markdown::full),
            body: self.r_body.clone()?,
            tags: None,
            editor: self.r_editor.clone()?,
            editor_id: self.r_editor_id,
            created_at: self.r_created_at?,
        })
    }

    fn inbox_row(&self) -> Option<InboxEntry> {
        Some(InboxEntry {
            id: self.ref_id?,
            user_id: self.i_user_id?,
            reason: self.i_reason.clone()?,
            question_id: self.i_question_id?,
            title: self.i_title.clone()?,
            count: self.i_count?,
            actor: self.i_actor.clone()?,
            ref_id: self.i_ref_id,
            seq: self.i_seq?,
            read: self.i_read?,
            updated_at: self.i_updated_at?,
            tag: self.i_tag.as_deref().and_then(|t| t.parse().ok()),
        })
    }

    fn comment_row(&self) -> Option<Comment> {
        let kind = PostKind::parse(self.c_post_kind.as_deref()?)?;
        Some(Comment {
            id: self.ref_id?,
            question_id: self.c_question_id?,
            post: PostRef { kind, id: self.c_post_id? },
            body_html: rendered(self.c_body_html.clone(), self.c_body.as_deref()?, markdown::inline),
            body: self.c_body.clone()?,
            author: self.c_author.clone()?,
            author_id: self.c_author_id,
            created_at: self.c_created_at?,
        })
    }
}

/// A `revoked` event's credential, from its payload (`{"credential": "…"}`).
fn revoked_of(payload: Option<&str>) -> Option<CredentialId> {
    let value: serde_json::Value = serde_json::from_str(payload?).ok()?;
    CredentialId::parse(value.get("credential")?.as_str()?)
}

/// An inbox event's unread count, from its payload (`{"unread": n}`).
fn unread_of(payload: Option<&str>) -> Option<i64> {
    let payload: serde_json::Value = serde_json::from_str(payload?).ok()?;
    payload.get("unread")?.as_i64()
}

/// A read event's entries and unread count, from its payload.
fn read_of(payload: Option<&str>) -> Option<(Vec<Uuid>, i64)> {
    let payload: serde_json::Value = serde_json::from_str(payload?).ok()?;
    let ids = payload.get("entry_ids")?.as_array()?;
    let ids = ids.iter().map(|id| id.as_str()?.parse().ok()).collect::<Option<Vec<Uuid>>>()?;
    Some((ids, payload.get("unread")?.as_i64()?))
}

/// A delete event's post, from its `ref_id` and payload.
fn post_of(ref_id: Option<Uuid>, payload: Option<&str>) -> Option<PostRef> {
    let payload: serde_json::Value = serde_json::from_str(payload?).ok()?;
    let kind = PostKind::parse(payload.get("post_kind")?.as_str()?)?;
    Some(PostRef { kind, id: ref_id? })
}

/// A score event's post and score, from its `ref_id` and payload.
fn score_of(ref_id: Option<Uuid>, payload: Option<&str>) -> Option<(PostRef, i64)> {
    let payload: serde_json::Value = serde_json::from_str(payload?).ok()?;
    let kind = PostKind::parse(payload.get("post_kind")?.as_str()?)?;
    Some((PostRef { kind, id: ref_id? }, payload.get("score")?.as_i64()?))
}

/// An `edit` event's new tags, from its payload (`{"tags": [...]}`), when it changed them.
fn tags_of(payload: Option<&str>) -> Option<Vec<TagName>> {
    let value: serde_json::Value = serde_json::from_str(payload?).ok()?;
    serde_json::from_value(value.get("tags")?.clone()).ok()
}

/// A `question` event's summary, from its `ref_id` (the question) and payload.
fn summary_of(ref_id: Option<Uuid>, payload: Option<&str>) -> Option<QuestionSummary> {
    #[derive(serde::Deserialize)]
    struct Payload {
        title: String,
        author: String,
        author_id: Option<Uuid>,
        created_at: DateTime<Utc>,
        // Absent from the events of questions asked before tags.
        #[serde(default)]
        tags: Vec<TagName>,
    }
    let p: Payload = serde_json::from_str(payload?).ok()?;
    Some(QuestionSummary {
        id: ref_id?,
        title: p.title,
        author: p.author,
        author_id: p.author_id,
        created_at: p.created_at,
        tags: p.tags,
    })
}
