//! Topics and the events recorded on them.
//!
//! Everything that happens to a question is an [`Event`] on its topic, with the topic's next
//! `seq` (1, 2, 3, … contiguous, in commit order). A subscriber that remembers the last seq it
//! saw per topic can resume exactly. "Question created" is not an event of its own topic, so
//! for a question that only receives answers, event seq = answer number; it is an event of
//! the list's topic, `questions`, as is a question's deletion.

use uuid::Uuid;

use chrono::{DateTime, Utc};

use super::{Answer, Comment, CredentialId, InboxEntry, PostRef, Revision};

/// A stream of events with its own seq, named `question:{id}`, `questions` (the list of
/// questions) or `user:{id}` (a person's inbox) on the wire and in the event log. The wire
/// protocol crate owns the type, so that server and clients spell topics one way.
pub use qa_hub_protocol::Topic;

/// A new question as the list of questions announces it: no body.
#[derive(Debug, Clone, PartialEq)]
pub struct QuestionSummary {
    pub id: Uuid,
    pub title: String,
    pub author: String,
    pub author_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub tags: Vec<super::TagName>,
}

/// What happened. Each kind has its wire `type`; a client that meets a kind it does not know
/// skips it but still counts its seq.
#[derive(Debug, Clone, PartialEq)]
pub enum EventKind {
    /// An answer was added (wire type `answer`).
    Answer(Answer),
    /// A post's score changed (wire type `score`): its new absolute score.
    Score { post: PostRef, score: i64 },
    /// The asker accepted this answer (wire type `accept`).
    Accept { answer_id: Uuid },
    /// The asker withdrew the acceptance of this answer, or accepted another instead (wire
    /// type `unaccept`, just before that `accept`).
    Unaccept { answer_id: Uuid },
    /// A post was edited (wire type `edit`): its new text and revision number.
    Edit(Revision),
    /// A post was deleted (wire type `delete`): a tombstone; clients remove what they show.
    Delete { post: PostRef },
    /// A comment was added to a post (wire type `comment`).
    Comment(Comment),
    /// A comment was deleted (wire type `comment-delete`).
    CommentDelete { comment_id: Uuid, post: PostRef },
    /// A question was asked (wire type `question`, on the topic `questions`).
    Question(QuestionSummary),
    /// A question was deleted (wire type `question-delete`, on the topic `questions`): a
    /// tombstone for the list.
    QuestionDelete { question_id: Uuid },
    /// An event whose content was deleted after it was recorded (wire type `redacted`): it
    /// keeps its seq, so a resume still counts it, and says nothing else.
    Redacted,
    /// An inbox entry is new or changed (wire type `inbox`; a user topic), and the inbox's
    /// unread count after the change.
    Inbox { entry: InboxEntry, unread: i64 },
    /// Inbox entries were marked read (wire type `read`; a user topic).
    Read { entry_ids: Vec<Uuid>, unread: i64 },
    /// One of the user's credentials was revoked (wire type `revoked`; a user topic): a
    /// connection resting on it ends its private subscriptions on every node.
    Revoked { credential: CredentialId },
    /// A kind this build does not model (recorded by a newer node, or by a test): carried by
    /// name with its JSON payload, if any, so clients see its seq.
    Other { name: String, payload: Option<String> },
}

impl EventKind {
    /// The name stored in the event log and used as the wire `type`.
    pub fn name(&self) -> &str {
        match self {
            Self::Answer(_) => "answer",
            Self::Score { .. } => "score",
            Self::Accept { .. } => "accept",
            Self::Unaccept { .. } => "unaccept",
            Self::Edit(_) => "edit",
            Self::Delete { .. } => "delete",
            Self::Comment(_) => "comment",
            Self::CommentDelete { .. } => "comment-delete",
            Self::Question(_) => "question",
            Self::QuestionDelete { .. } => "question-delete",
            Self::Redacted => "redacted",
            Self::Inbox { .. } => "inbox",
            Self::Read { .. } => "read",
            Self::Revoked { .. } => "revoked",
            Self::Other { name, .. } => name,
        }
    }
}

/// One committed change, with its place in its topic.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub topic: Topic,
    pub seq: i64,
    pub kind: EventKind,
}

/// Where a topic stands: its last seq, and for a question topic the answer count that the
/// `subscribed` message has always carried (`None` for the list of questions).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TopicHead {
    pub seq: i64,
    pub answer_count: Option<i64>,
}
