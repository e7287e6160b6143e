//! Posting and reading answers.

use uuid::Uuid;

use super::{Posted, Services};
use crate::domain::{Answer, DomainError, EventKind, Idempotency, NewAnswer, Page, PostKind, PostRef};

impl Services {
    /// Stores an answer and, once it has committed, hands its event to the broker. With an
    /// Idempotency-Key that already stored one, returns that one instead (announced once).
    /// `recheck_token`: the hash of a service token authenticated from the cache
    /// ([`Services::authenticate_poster`]), checked again before the answer is written.
    pub async fn answer(
        &self,
        question_id: Uuid,
        new: NewAnswer,
        idempotency: Option<Idempotency>,
        recheck_token: Option<Vec<u8>>,
    ) -> Result<Posted<Answer>, DomainError> {
        if let Some(key) = &idempotency
            && let Some(id) = self.earlier_post(key).await?
        {
            return Ok(Posted::replay(self.stored_answer(id).await?));
        }
        let (store, broker, metrics) = (self.store.clone(), self.broker.clone(), self.metrics.clone());
        let notifier = self.notifier.clone();
        let key = idempotency.clone();
        let write = async move {
            let event = store.post_answer(question_id, new, key, recheck_token).await?;
            Ok((event.clone(), event))
        };
        let event = super::commit_then(write, move |event| {
            if let Some(event) = event {
                broker.publish(std::slice::from_ref(&event));
                notifier.saw(std::slice::from_ref(&event));
                metrics.answers_posted.inc();
            }
        })
        .await;
        match event {
            Ok(Some(event)) => match event.kind {
                EventKind::Answer(answer) => Ok(Posted::new(answer)),
                other => Err(DomainError::internal(format!("posting recorded a {} event", other.name()))),
            },
            Ok(None) => Err(DomainError::question_not_found()),
            Err(DomainError::Conflict { .. }) if idempotency.is_some() => {
                let id = self.concurrent_post(idempotency.as_ref().expect("checked")).await?;
                Ok(Posted::replay(self.stored_answer(id).await?))
            }
            Err(e) => Err(e),
        }
    }

    /// The answer an earlier request with the same key stored. The store reads only answers
    /// that are not deleted, and a key's record outlives its answer's deletion: a retry after
    /// that is told the answer is gone (410), as a comment's retry is.
    async fn stored_answer(&self, id: Uuid) -> Result<Answer, DomainError> {
        self.store.answer(id).await?.ok_or_else(|| PostRef { kind: PostKind::Answer, id }.deleted())
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
