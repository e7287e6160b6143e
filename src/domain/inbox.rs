//! A user's inbox: notifications about questions they asked, answered, commented on or follow,
//! grouped into entries, with read marks. Its events form the topic `user:{id}`.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::TagName;

/// Why someone is notified.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Reason {
    /// A new answer to your question.
    Answer,
    /// A new answer to a question you follow.
    FollowedAnswer,
    /// A comment on your question or answer.
    Comment,
    /// The asker accepted your answer.
    Accepted,
    /// Someone else (a moderator) edited your post.
    Edit,
    /// A new question in a tag you watch.
    Tag,
}

impl Reason {
    /// The name in the store and on the wire.
    pub fn name(self) -> &'static str {
        match self {
            Self::Answer => "answer",
            Self::FollowedAnswer => "followed_answer",
            Self::Comment => "comment",
            Self::Accepted => "accepted",
            Self::Edit => "edit",
            Self::Tag => "tag",
        }
    }
}

/// One notification to deliver: to whom, why, who did it and what it is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    pub user_id: Uuid,
    pub reason: Reason,
    pub actor: String,
    /// The answer or comment it is about.
    pub ref_id: Option<Uuid>,
}

/// One inbox entry as it stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboxEntry {
    pub id: Uuid,
    pub user_id: Uuid,
    /// The reason's name (kept as stored: a newer node may write one this build does not know).
    pub reason: String,
    pub question_id: Uuid,
    pub title: String,
    /// How many notifications it groups.
    pub count: i64,
    pub actor: String,
    pub ref_id: Option<Uuid>,
    /// The user topic's seq of its latest change.
    pub seq: i64,
    pub read: bool,
    pub updated_at: DateTime<Utc>,
    /// The tag of a `tag` entry (its question is the newest of those it groups); `None` for
    /// every other reason.
    pub tag: Option<TagName>,
}
