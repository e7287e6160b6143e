//! Accepting an answer.

use uuid::Uuid;

use super::Services;
use crate::domain::{DomainError, Identity, PostRef};

impl Services {
    /// Makes `answer_id` its question's accepted answer (`accept: true`), or withdraws that
    /// (`false`; withdrawing an answer that is not the accepted one changes nothing). Only the
    /// asker may. Returns the question's accepted answer afterwards. Changes are announced as
    /// `unaccept` of the answer accepted before, then `accept` of the new one.
    pub async fn accept(
        &self,
        asker: &Identity,
        answer_id: Uuid,
        accept: bool,
    ) -> Result<(Uuid, Option<Uuid>), DomainError> {
        let answer = PostRef::answer(answer_id);
        let owner = self.live_post(answer).await?;
        let question_id = owner.question_id;
        if owner.asker_id != Some(asker.user_id) {
            return Err(DomainError::Forbidden {
                code: "not_asker",
                message: "Only the person who asked the question can accept an answer.".into(),
            });
        }
        self.commit_and_publish(move |store| async move {
            let (events, accepted) = store.set_accepted(question_id, answer_id, accept).await?;
            Ok(((question_id, accepted), events))
        })
        .await
    }
}
