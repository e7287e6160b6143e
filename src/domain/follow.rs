//! Following a question: who hears about its changes. Asking, answering or commenting follows
//! a question by itself; a user may also follow any question, unfollow one, or mute it.

use uuid::Uuid;

use super::DomainError;

/// A user's own choice about a question, overriding what their posts imply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FollowChoice {
    /// Follow it, whether or not they wrote on it.
    Following,
    /// Stop following it (as its asker, they still hear of new answers).
    Unfollowed,
    /// Hear nothing about it, not even as its asker.
    Muted,
}

impl FollowChoice {
    /// The name in the store and on the wire.
    pub fn name(self) -> &'static str {
        match self {
            Self::Following => "following",
            Self::Unfollowed => "unfollowed",
            Self::Muted => "muted",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "following" => Some(Self::Following),
            "unfollowed" => Some(Self::Unfollowed),
            "muted" => Some(Self::Muted),
            _ => None,
        }
    }

    /// Parses a client's choice (422 otherwise).
    pub fn parse(name: &str) -> Result<Self, DomainError> {
        Self::from_name(name).ok_or_else(|| {
            DomainError::invalid("state", "`state` must be \"following\", \"unfollowed\" or \"muted\".")
        })
    }
}

/// Why a user follows a question without having chosen to: what they wrote on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Involvement {
    pub asked: bool,
    pub answered: bool,
    pub commented: bool,
}

/// A user's relation to a question: their choice, if any, and what they wrote on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Follow {
    pub question_id: Uuid,
    pub choice: Option<FollowChoice>,
    pub involvement: Involvement,
}

impl Follow {
    /// Whether changes to the question reach this user as a follower: by choice, or (with no
    /// choice made) because they asked, answered or commented.
    pub fn following(&self) -> bool {
        match self.choice {
            Some(FollowChoice::Following) => true,
            Some(FollowChoice::Unfollowed | FollowChoice::Muted) => false,
            None => self.involvement.asked || self.involvement.answered || self.involvement.commented,
        }
    }

    pub fn muted(&self) -> bool {
        self.choice == Some(FollowChoice::Muted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn follow(choice: Option<FollowChoice>, answered: bool) -> Follow {
        Follow {
            question_id: Uuid::nil(),
            choice,
            involvement: Involvement { answered, ..Involvement::default() },
        }
    }

    #[test]
    fn a_choice_overrides_what_posts_imply() {
        assert!(!follow(None, false).following());
        assert!(follow(None, true).following(), "answering follows");
        assert!(follow(Some(FollowChoice::Following), false).following());
        assert!(!follow(Some(FollowChoice::Unfollowed), true).following());
        assert!(!follow(Some(FollowChoice::Muted), true).following());
        assert!(follow(Some(FollowChoice::Muted), true).muted());
    }

    #[test]
    fn names_round_trip_and_others_are_refused() {
        for c in [FollowChoice::Following, FollowChoice::Unfollowed, FollowChoice::Muted] {
            assert_eq!(FollowChoice::parse(c.name()).unwrap(), c);
        }
        assert!(FollowChoice::parse("Following").is_err());
    }
}
