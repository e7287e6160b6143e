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
        let (store, broker, user) = (self.store.clone(), self.broker.clone(), voter.user_id);
        let write = async move { store.vote(user, post, owner.question_id, vote).await };
        super::commit_then(write, move |event| {
            if let Some(event) = event {
                broker.publish(std::slice::from_ref(&event));
            }
        })
        .await
    }

    /// `user`'s standing votes on a question and its answers, by post id.
    pub async fn votes_of(&self, user: Uuid, question_id: Uuid) -> Result<HashMap<Uuid, Vote>, DomainError> {
        let votes = self.store.votes_of(user, question_id).await?;
        Ok(votes.into_iter().map(|(post, value)| (post, Vote::from_value(value))).collect())
    }
}
