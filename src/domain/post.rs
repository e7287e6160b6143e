//! The rest of a post's life after it is written: edits (every revision kept), deletes and
//! comments. Who may do what is decided by the services; these are the shapes.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{Body, CommentText, DomainError, Identity, Name, PostRef, Role, TagName, Tags, Title};

/// One revision of a post: revision 1 is the text as posted, each edit adds the next.
#[derive(Debug, Clone, PartialEq)]
pub struct Revision {
    pub post: PostRef,
    pub question_id: Uuid,
    pub revision: i64,
    /// A question's title at this revision; `None` for an answer.
    pub title: Option<String>,
    pub body: String,
    /// `body` rendered ([`super::markdown::full`]) when this revision was written.
    pub body_html: String,
    /// A question's tags. Read back as a revision: its tags at this revision (`None` for an
    /// answer). In an `edit` event: the new tags when the edit changed them, else `None`.
    pub tags: Option<Vec<TagName>>,
    /// Who wrote this revision (the author for revision 1).
    pub editor: String,
    pub editor_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
}

/// An edit to make, already parsed. A question's edit may change its title, its body, its tags
/// or any mix (`None` keeps that part); an answer has no title and no tags.
#[derive(Debug, Clone)]
pub struct Edit {
    pub title: Option<Title>,
    pub body: Option<Body>,
    pub tags: Option<Tags>,
    pub editor: Name,
    pub editor_id: Uuid,
}

impl Edit {
    /// An edit must change something it can: a title only on a question, and at least one field.
    pub fn check(&self, post: PostRef) -> Result<(), DomainError> {
        if self.title.is_some() && post.kind == super::PostKind::Answer {
            return Err(DomainError::invalid("title", "An answer has no title."));
        }
        if self.tags.is_some() && post.kind == super::PostKind::Answer {
            return Err(DomainError::invalid(
                "tags",
                "An answer has no tags; a question's edit may change them.",
            ));
        }
        if self.title.is_none() && self.body.is_none() && self.tags.is_none() {
            return Err(DomainError::invalid(
                "body",
                "An edit needs a new body (or, for a question, a title or tags).",
            ));
        }
        Ok(())
    }
}

/// A comment on a question or an answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Comment {
    pub id: Uuid,
    pub question_id: Uuid,
    pub post: PostRef,
    pub body: String,
    /// `body` rendered ([`super::markdown::inline`]) when it was written.
    pub body_html: String,
    pub author: String,
    pub author_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
}

/// A comment to add, already parsed.
#[derive(Debug, Clone)]
pub struct NewComment {
    pub body: CommentText,
    pub author: Name,
    pub author_id: Uuid,
}

impl Identity {
    /// Moderators and admins may edit and delete what others wrote.
    pub fn moderates(&self) -> bool {
        matches!(self.role, Role::Moderator | Role::Admin)
    }
}

impl PostRef {
    /// The refusal for a change to a deleted post.
    pub fn deleted(self) -> DomainError {
        match self.kind {
            super::PostKind::Question => {
                DomainError::Gone { code: "question_deleted", message: "That question was deleted.".into() }
            }
            super::PostKind::Answer => {
                DomainError::Gone { code: "answer_deleted", message: "That answer was deleted.".into() }
            }
        }
    }
}

impl DomainError {
    pub fn comment_not_found() -> Self {
        Self::NotFound { code: "comment_not_found", message: "No comment has that id.".into() }
    }

    pub fn comment_deleted() -> Self {
        Self::Gone { code: "comment_deleted", message: "That comment was deleted.".into() }
    }
}
