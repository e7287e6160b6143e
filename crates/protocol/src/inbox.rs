//! A user's inbox (`user:<uuid>`): notifications grouped into entries, and read marks.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::TagName;

/// One inbox entry as it stands: several notifications of one kind about one question, while
/// unread, are one entry whose `count` grows ("3 new answers to …").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InboxEntry {
    pub id: Uuid,
    /// Why: `answer` (to your question), `followed_answer` (to a question you follow),
    /// `comment` (on your post), `accepted` (your answer), `edit` (of your post, by someone
    /// else), `tag` (new questions in a tag you watch). Clients show a reason they do not know as a plain notification.
    pub reason: String,
    pub question_id: Uuid,
    /// The question's title when the entry last changed.
    pub title: String,
    /// How many notifications the entry groups.
    pub count: i64,
    /// Who did the latest of them (a display name).
    pub actor: String,
    /// The answer or comment the latest of them is about, if any: where to link.
    #[serde(default)]
    pub ref_id: Option<Uuid>,
    pub read: bool,
    pub updated_at: DateTime<Utc>,
    /// The tag of a `tag` entry ("3 new questions in [rust]": `count` new questions, the
    /// newest being `question_id`); absent for every other reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<TagName>,
}
