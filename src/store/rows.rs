//! The shapes rows come back in, private to the store; callers get domain types.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::domain::{Answer, Event, EventKind, PostKind, PostRef, Question, Topic};

#[derive(sqlx::FromRow)]
pub(super) struct QuestionRow {
    id: Uuid,
    title: String,
    body: String,
    author: String,
    author_id: Option<Uuid>,
    created_at: DateTime<Utc>,
    answer_count: i64,
    score: i64,
    accepted_answer_id: Option<Uuid>,
    last_seq: i64,
}

impl From<QuestionRow> for Question {
    fn from(r: QuestionRow) -> Self {
        Self {
            id: r.id,
            title: r.title,
            body: r.body,
            author: r.author,
            author_id: r.author_id,
            created_at: r.created_at,
            answer_count: r.answer_count,
            score: r.score,
            accepted_answer_id: r.accepted_answer_id,
            last_seq: r.last_seq,
        }
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct AnswerRow {
    id: Uuid,
    question_id: Uuid,
    seq: i64,
    body: String,
    author: String,
    author_id: Option<Uuid>,
    created_at: DateTime<Utc>,
    score: i64,
}

impl From<AnswerRow> for Answer {
    fn from(r: AnswerRow) -> Self {
        Self {
            id: r.id,
            question_id: r.question_id,
            seq: r.seq,
            body: r.body,
            author: r.author,
            author_id: r.author_id,
            created_at: r.created_at,
            score: r.score,
        }
    }
}

/// The columns every event read selects (`events e LEFT JOIN answers a ON a.id = e.ref_id`):
/// the event, and the answer it refers to, if any. A macro, so queries stay `&'static str`.
macro_rules! event_columns {
    () => {
        "e.topic, e.seq, e.kind, e.payload, e.ref_id, a.id AS answer_id, a.question_id, \
         a.seq AS answer_seq, a.body, a.author, a.author_id, a.created_at, a.score"
    };
}
pub(super) use event_columns;

/// An event joined to the row it describes (`LEFT JOIN answers a ON a.id = e.ref_id`).
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
    author: Option<String>,
    author_id: Option<Uuid>,
    created_at: Option<DateTime<Utc>>,
    score: Option<i64>,
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
                body: self.body?,
                author: self.author?,
                author_id: self.author_id,
                created_at: self.created_at?,
                score: self.score.unwrap_or(0),
            }),
            ("accept", _) if let Some(answer_id) = self.ref_id => EventKind::Accept { answer_id },
            ("unaccept", _) if let Some(answer_id) = self.ref_id => EventKind::Unaccept { answer_id },
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

/// A score event's post and score, from its `ref_id` and payload.
fn score_of(ref_id: Option<Uuid>, payload: Option<&str>) -> Option<(PostRef, i64)> {
    let payload: serde_json::Value = serde_json::from_str(payload?).ok()?;
    let kind = PostKind::parse(payload.get("post_kind")?.as_str()?)?;
    Some((PostRef { kind, id: ref_id? }, payload.get("score")?.as_i64()?))
}
