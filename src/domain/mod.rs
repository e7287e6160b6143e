//! The vocabulary every layer shares: ids and parsed text, questions and answers, topics,
//! events, and the one domain error. No sqlx, no actix, no wire format: the store, the HTTP
//! front-ends and the realtime path each map these to their own shapes at their edge.

mod error;
mod event;
mod text;

pub use error::DomainError;
pub use event::{Event, EventKind, Topic, TopicHead};
pub use text::{Body, Name, Title, limits};

use chrono::{DateTime, Utc};
use uuid::Uuid;

/// A stored question.
#[derive(Debug, Clone, PartialEq)]
pub struct Question {
    pub id: Uuid,
    pub title: String,
    pub body: String,
    pub author: String,
    pub created_at: DateTime<Utc>,
    /// How many answers the question has; also the highest answer `seq`.
    pub answer_count: i64,
}

/// A stored answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub id: Uuid,
    pub question_id: Uuid,
    /// Position of the answer in its question: 1, 2, 3, … contiguous, in commit order.
    pub seq: i64,
    pub body: String,
    pub author: String,
    pub created_at: DateTime<Utc>,
}

/// A question to ask, already parsed: it cannot hold an empty or over-long field.
#[derive(Debug, Clone)]
pub struct NewQuestion {
    pub title: Title,
    pub body: Body,
    pub author: Name,
}

/// An answer to post, already parsed.
#[derive(Debug, Clone)]
pub struct NewAnswer {
    pub body: Body,
    pub author: Name,
}

/// One page of a listing and the cursor of the next page (`None` on the last one).
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T, C> {
    pub items: Vec<T>,
    pub next: Option<C>,
}

impl<T, C> Page<T, C> {
    /// Builds a page from up to `limit + 1` rows: the extra row, when present, only proves
    /// there is a next page, whose cursor is `cursor` of the page's last item.
    pub fn of(mut rows: Vec<T>, limit: i64, cursor: impl Fn(&T) -> C) -> Self {
        let more = rows.len() as i64 > limit;
        rows.truncate(limit.max(0) as usize);
        let next = if more { rows.last().map(cursor) } else { None };
        Self { items: rows, next }
    }
}
