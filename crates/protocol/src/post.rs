//! The events of a post's life after it is written: edits, deletes, comments, and the
//! `redacted` place-holder a resume sends for an event whose content was deleted since.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::PostKind;

/// A post's new text (`edit`): the whole of it, with its revision number (2 for the first
/// edit; revision 1 is the post as written).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Edit {
    pub post_kind: PostKind,
    pub post_id: Uuid,
    pub revision: i64,
    /// A question's title after the edit; absent for answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    pub body: String,
    /// Who made the edit.
    pub editor: String,
    #[serde(default)]
    pub editor_id: Option<Uuid>,
    pub edited_at: DateTime<Utc>,
}

/// A comment on a question or an answer (`comment`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Comment {
    pub id: Uuid,
    pub post_kind: PostKind,
    pub post_id: Uuid,
    pub body: String,
    pub author: String,
    #[serde(default)]
    pub author_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
}

/// A post that was deleted (`delete`), or the post of a deleted comment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PostId {
    pub post_kind: PostKind,
    pub post_id: Uuid,
}
