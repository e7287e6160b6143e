//! The vocabulary every layer shares: ids and parsed text, questions and answers, topics,
//! events, and the one domain error. No sqlx, no actix, no wire format: the store, the HTTP
//! front-ends and the realtime path each map these to their own shapes at their edge.

mod error;
mod event;
mod follow;
mod host_tokens;
mod inbox;
pub mod markdown;
mod post;
mod tag;
mod tag_watch;
mod text;
mod user;
mod vote;
mod webhook;

pub use error::{Cause, DomainError};
pub use event::{Event, EventKind, QuestionSummary, Topic, TopicHead};
pub use follow::{Follow, FollowChoice, Involvement};
pub use host_tokens::HostTokens;
pub use inbox::{InboxEntry, Notification, Reason};
pub use post::{Comment, Edit, NewComment, Revision};
pub use tag::{TagCount, TagError, TagName, Tags, parse_tag_name};
pub use tag_watch::{MAX_TAG_WATCHES_PER_USER, TagNotification, TagWatch, TagWatchState};
pub use text::{Body, CommentText, Name, Subject, Title, TokenName, limits};
pub use user::{Credential, CredentialId, Handle, Identity, Password, Role, ServiceToken, User};
pub use vote::{PostKind, PostRef, Score, Vote};
pub use webhook::{
    MAX_WEBHOOKS_PER_USER, NewWebhook, SIGNATURE_HEADER, Webhook, WebhookAllow, WebhookTarget, WebhookUrl,
    backoff, new_secret, signature,
};

use chrono::{DateTime, Utc};
use uuid::Uuid;

/// A stored question.
#[derive(Debug, Clone, PartialEq)]
pub struct Question {
    pub id: Uuid,
    pub title: String,
    pub body: String,
    /// `body` rendered ([`markdown::full`]) when it was written.
    pub body_html: String,
    pub author: String,
    /// The user who asked; `None` for anonymous posts (`--anonymous-writes`, or older ones).
    pub author_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    /// How many answers the question has; also the highest answer `seq`.
    pub answer_count: i64,
    /// The sum of its standing votes.
    pub score: i64,
    /// The answer the asker accepted, if any.
    pub accepted_answer_id: Option<Uuid>,
    /// The last seq of the question's topic: where a client that read this resumes.
    pub last_seq: i64,
    /// 1 until its first edit.
    pub revision: i64,
    pub edited_at: Option<DateTime<Utc>>,
    /// Its tags in the asker's order; empty for a question asked without any (before tags
    /// existed, or through the API without `tags`).
    pub tags: Vec<TagName>,
}

/// A stored answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub id: Uuid,
    pub question_id: Uuid,
    /// Position of the answer in its question: 1, 2, 3, … contiguous, in commit order.
    pub seq: i64,
    pub body: String,
    /// `body` rendered ([`markdown::full`]) when it was written.
    pub body_html: String,
    pub author: String,
    /// The user who answered; `None` for anonymous posts.
    pub author_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    /// The sum of its standing votes.
    pub score: i64,
    /// 1 until its first edit.
    pub revision: i64,
    pub edited_at: Option<DateTime<Utc>>,
}

/// A question to ask, already parsed: it cannot hold an empty or over-long field.
#[derive(Debug, Clone)]
pub struct NewQuestion {
    pub title: Title,
    pub body: Body,
    /// `None` only for an API client that sends no `tags` (one built before tags existed).
    pub tags: Option<Tags>,
    pub author: Name,
    pub author_id: Option<Uuid>,
}

/// An answer to post, already parsed.
#[derive(Debug, Clone)]
pub struct NewAnswer {
    pub body: Body,
    /// The identity's name, or the typed one of an anonymous post.
    pub author: Name,
    pub author_id: Option<Uuid>,
}

/// An `Idempotency-Key` and who sent it: the same key from the same owner within
/// [`IDEMPOTENCY_WINDOW`] returns the first post instead of writing again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Idempotency {
    /// `user:{id}` for an identity, `addr:{client}` for an anonymous post.
    pub owner: String,
    /// 1 to 255 visible ASCII characters.
    pub key: String,
    /// SHA-256 of the route and the input as sent: a key reused for another request is refused.
    pub fingerprint: [u8; 32],
}

/// How long an `Idempotency-Key` is remembered.
pub const IDEMPOTENCY_WINDOW: chrono::TimeDelta = chrono::TimeDelta::hours(24);

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
