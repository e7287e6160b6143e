//! Votes and scores: any signed-in user but a post's author votes it up or down, once, and
//! may change or withdraw the vote. A post's score is the sum of its standing votes; what a
//! score event carries is that absolute number, never a delta, so a client that misses one
//! still shows the truth after the next.

use uuid::Uuid;

use super::DomainError;

/// What can be voted on, edited, deleted or commented: a question or an answer. The wire
/// protocol crate owns the type, so that server and clients spell a post's kind one way.
pub use qa_hub_protocol::PostKind;

/// A question or an answer, by id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PostRef {
    pub kind: PostKind,
    pub id: Uuid,
}

impl PostRef {
    pub fn question(id: Uuid) -> Self {
        Self { kind: PostKind::Question, id }
    }

    pub fn answer(id: Uuid) -> Self {
        Self { kind: PostKind::Answer, id }
    }

    pub fn not_found(self) -> DomainError {
        match self.kind {
            PostKind::Question => DomainError::question_not_found(),
            PostKind::Answer => {
                DomainError::NotFound { code: "answer_not_found", message: "No answer has that id.".into() }
            }
        }
    }
}

/// One user's vote on one post: up, down, or none (withdrawn, or never cast).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Vote {
    Up,
    Down,
    None,
}

impl Vote {
    /// From the REST body's `value`: 1, -1 or 0.
    pub fn parse(value: i64) -> Result<Self, DomainError> {
        match value {
            1 => Ok(Self::Up),
            -1 => Ok(Self::Down),
            0 => Ok(Self::None),
            _ => Err(DomainError::invalid(
                "value",
                "value must be 1 (up), -1 (down) or 0 (withdraw the vote).",
            )),
        }
    }

    /// What the vote adds to the post's score.
    pub fn value(self) -> i64 {
        match self {
            Self::Up => 1,
            Self::Down => -1,
            Self::None => 0,
        }
    }

    pub fn from_value(value: i64) -> Self {
        match value.signum() {
            1 => Self::Up,
            -1 => Self::Down,
            _ => Self::None,
        }
    }
}

/// A post's score after a vote, and the voter's standing vote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Score {
    pub post: PostRef,
    pub score: i64,
    pub vote: Vote,
}
