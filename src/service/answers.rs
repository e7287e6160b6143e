//! Posting and reading answers.

use uuid::Uuid;

use super::Services;
use crate::domain::{Answer, DomainError, EventKind, NewAnswer, Page};

impl Services {
    /// Stores an answer and, once it has committed, hands its event to the broker.
    pub async fn answer(&self, question_id: Uuid, new: NewAnswer) -> Result<Answer, DomainError> {
        // Commit and publish in a task of their own: if the client hangs up mid-request, the
        // caller's future is dropped, but a committed answer must still be announced.
        let (store, broker, metrics) = (self.store.clone(), self.broker.clone(), self.metrics.clone());
        let event = tokio::spawn(async move {
            let event = store.post_answer(question_id, new).await?;
            if let Some(event) = &event {
                broker.publish(std::slice::from_ref(event));
                metrics.answers_posted.inc();
            }
            Ok::<_, DomainError>(event)
        })
        .await
        .map_err(|e| DomainError::Internal(format!("post task failed: {e}")))??;
        match event.map(|e| e.kind) {
            Some(EventKind::Answer(answer)) => Ok(answer),
            Some(other) => Err(DomainError::Internal(format!("posting recorded a {} event", other.name()))),
            None => Err(DomainError::question_not_found()),
        }
    }

    /// A question's answers with `seq > after_seq`, in seq order.
    pub async fn answers(
        &self,
        question_id: Uuid,
        after_seq: i64,
        limit: i64,
    ) -> Result<Page<Answer, i64>, DomainError> {
        // Tells an unknown question from one without answers.
        self.store.question(question_id).await?.ok_or_else(DomainError::question_not_found)?;
        self.store.answer_page(question_id, after_seq, limit).await
    }
}
