//! The list of questions' events: a summary of each new question (`question`) and the
//! tombstone of a deleted one (`question-delete`), on the topic `questions`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::TagName;

/// A new question as the list shows it (`question`): no body, which a list does not show and
/// which may be long; a reader who wants it opens the question.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuestionSummary {
    pub id: Uuid,
    pub title: String,
    /// The asker's display name.
    pub author: String,
    /// The asker's user id; null for an anonymous post.
    #[serde(default)]
    pub author_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    /// Its tags, in the order the asker gave them; empty for a question asked without tags
    /// (through the API, or before tags existed).
    #[serde(default)]
    pub tags: Vec<TagName>,
}
