//! The events of a post's life after it is written: edits, deletes, comments, and the
//! `redacted` place-holder a resume sends for an event whose content was deleted since.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::TagName;

/// What a score, an edit, a delete or a comment is about: a question or an answer. The server
/// uses this type too, so both ends spell a post's kind one way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PostKind {
    Question,
    Answer,
}

impl PostKind {
    /// The name on the wire and in the server's event log.
    pub fn name(self) -> &'static str {
        match self {
            Self::Question => "question",
            Self::Answer => "answer",
        }
    }

    /// The kind a name (as [`PostKind::name`] writes it) stands for.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "question" => Some(Self::Question),
            "answer" => Some(Self::Answer),
            _ => None,
        }
    }
}

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
    /// `body` as HTML, rendered and sanitised by the server when it was written (docs/security.md):
    /// show it as it is. Empty from a server older than `body_html`.
    #[serde(default)]
    pub body_html: String,
    /// A question's tags after the edit, only when the edit changed them; absent otherwise
    /// (and always for answers). The tags' own topics (`tag:{name}`) say the same to their
    /// subscribers: a `question` event on each tag added, a `question-delete` on each removed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<TagName>>,
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
    /// `body` as HTML, rendered (the inline subset: code, emphasis, links) and sanitised by the server when it was written (docs/security.md):
    /// show it as it is. Empty from a server older than `body_html`.
    #[serde(default)]
    pub body_html: String,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kinds_name_is_its_wire_form() {
        for kind in [PostKind::Question, PostKind::Answer] {
            assert_eq!(serde_json::to_string(&kind).unwrap(), format!("\"{}\"", kind.name()));
            assert_eq!(PostKind::parse(kind.name()), Some(kind));
        }
        assert_eq!(PostKind::parse("comment"), None);
    }
}
