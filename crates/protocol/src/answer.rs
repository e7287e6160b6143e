//! The answer payload: the same object the REST API returns.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// An answer as `answer` messages (and the REST API) carry it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Answer {
    pub id: Uuid,
    pub question_id: Uuid,
    /// Position of the answer in its question: 1, 2, 3, … contiguous, in commit order.
    pub seq: i64,
    /// The Markdown source, as written.
    pub body: String,
    /// `body` as HTML, rendered and sanitised by the server when it was written (docs/security.md):
    /// show it as it is. Empty from a server older than `body_html`.
    #[serde(default)]
    pub body_html: String,
    /// The author's display name.
    pub author: String,
    /// The author's user id; null for an anonymous post (a hub run with `--anonymous-writes`).
    #[serde(default)]
    pub author_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
}
