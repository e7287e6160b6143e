//! Watched and ignored tags: a user's choice per tag. A new question in a watched tag is an
//! inbox entry (reason `tag`); a question carrying an ignored tag never notifies them and is
//! hidden from their home page.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{DomainError, TagName};

/// The most tags one user may watch or ignore together: the notifier reads a tag's watchers,
/// and a page lists them all, so a hostile client must not grow the list without bound.
pub const MAX_TAG_WATCHES_PER_USER: i64 = 200;

/// A user's choice about one tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TagWatchState {
    /// Be told of each new question carrying it.
    Watching,
    /// Never be told of a question carrying it, and do not see it on the home page.
    Ignored,
}

impl TagWatchState {
    /// The name in the store and on the wire.
    pub fn name(self) -> &'static str {
        match self {
            Self::Watching => "watching",
            Self::Ignored => "ignored",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "watching" => Some(Self::Watching),
            "ignored" => Some(Self::Ignored),
            _ => None,
        }
    }

    /// Parses a client's choice: `watching`, `ignored`, or `none` (or nothing) to clear it.
    pub fn parse(name: Option<&str>) -> Result<Option<Self>, DomainError> {
        match name {
            None | Some("none") => Ok(None),
            Some(name) => Self::from_name(name).map(Some).ok_or_else(|| {
                DomainError::invalid("state", "`state` must be \"watching\", \"ignored\", \"none\" or null.")
            }),
        }
    }
}

/// One of a user's tag choices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagWatch {
    pub tag: TagName,
    pub state: TagWatchState,
    pub since: DateTime<Utc>,
}

/// One tag notification to deliver: a new question in a tag `user_id` watches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagNotification {
    pub user_id: Uuid,
    pub tag: TagName,
    pub question_id: Uuid,
    pub title: String,
    /// Who asked it.
    pub actor: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_none_clears_and_others_are_refused() {
        for s in [TagWatchState::Watching, TagWatchState::Ignored] {
            assert_eq!(TagWatchState::parse(Some(s.name())).unwrap(), Some(s));
        }
        assert_eq!(TagWatchState::parse(None).unwrap(), None);
        assert_eq!(TagWatchState::parse(Some("none")).unwrap(), None);
        assert!(TagWatchState::parse(Some("Watching")).is_err());
    }
}
