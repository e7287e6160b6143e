//! Voting on questions and answers.

use std::collections::HashMap;

use uuid::Uuid;

use super::Services;
use crate::domain::{DomainError, Identity, PostRef, Score, Vote};

impl Services {
    /// Sets `voter`'s vote on `post` (up, down, or none to withdraw it) and returns the post's
    /// score. Anyone signed in may vote, once per post, but not on their own post. A change is
    /// announced as a `score` event with the new absolute score; casting the vote that already
    /// stands changes nothing and announces nothing.
    pub async fn vote(&self, voter: &Identity, post: PostRef, vote: Vote) -> Result<Score, DomainError> {
        let owner = self.live_post(post).await?;
        if owner.author_id == Some(voter.user_id) {
            return Err(DomainError::Forbidden {
                code: "own_post",
                message: "You cannot vote on your own post.".into(),
            });
        }
        // Commit and publish in a task of their own: if the client hangs up mid-request, the
        // caller's future is dropped, but a committed change must still be announced.
        let (store, broker, user) = (self.store.clone(), self.broker.clone(), voter.user_id);
        tokio::spawn(async move {
            let (score, event) = store.vote(user, post, owner.question_id, vote).await?;
            if let Some(event) = &event {
                broker.publish(std::slice::from_ref(event));
            }
            Ok(score)
        })
        .await
        .map_err(|e| DomainError::Internal(format!("vote task failed: {e}")))?
    }

    /// `user`'s standing votes on a question and its answers, by post id.
    pub async fn votes_of(&self, user: Uuid, question_id: Uuid) -> Result<HashMap<Uuid, Vote>, DomainError> {
        let votes = self.store.votes_of(user, question_id).await?;
        Ok(votes.into_iter().map(|(post, value)| (post, Vote::from_value(value))).collect())
    }
}
