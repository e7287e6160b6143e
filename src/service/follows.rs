//! Following questions: what a user follows, and their choice to follow, unfollow or mute.

use uuid::Uuid;

use super::Services;
use crate::domain::{DomainError, Follow, FollowChoice, Identity};

impl Services {
    /// `who`'s relation to a question (404 for a question that does not exist or was deleted).
    pub async fn follow_status(&self, who: &Identity, question_id: Uuid) -> Result<Follow, DomainError> {
        self.store.follow(who.user_id, question_id).await?.ok_or_else(DomainError::question_not_found)
    }

    /// Records `who`'s choice about a question and returns their relation to it now. Setting
    /// the choice that already stands changes nothing.
    pub async fn set_follow(
        &self,
        who: &Identity,
        question_id: Uuid,
        choice: FollowChoice,
    ) -> Result<Follow, DomainError> {
        let current = self.follow_status(who, question_id).await?;
        if current.choice == Some(choice) {
            return Ok(current);
        }
        self.store.set_follow(who.user_id, question_id, choice).await?;
        Ok(Follow { choice: Some(choice), ..current })
    }
}
