//! Asking and reading questions.

use uuid::Uuid;

use super::{Posted, Services};
use crate::domain::{Answer, DomainError, Idempotency, NewQuestion, Page, Question};

impl Services {
    /// Stores a new question (its topic starts with no events) and announces it on the list
    /// of questions once committed. With an Idempotency-Key that already stored one, returns
    /// that one instead (announced once).
    pub async fn ask(
        &self,
        new: NewQuestion,
        idempotency: Option<Idempotency>,
    ) -> Result<Posted<Question>, DomainError> {
        if let Some(key) = &idempotency
            && let Some(id) = self.earlier_post(key).await?
        {
            return Ok(Posted::replay(self.question(id).await?));
        }
        let key = idempotency.clone();
        let created = self
            .commit_and_publish(move |store| async move {
                let (question, event) = store.create_question(new, key.as_ref()).await?;
                Ok((question, vec![event]))
            })
            .await;
        match created {
            Ok(question) => Ok(Posted::new(question)),
            Err(DomainError::Conflict { .. }) if idempotency.is_some() => {
                let id = self.concurrent_post(idempotency.as_ref().expect("checked")).await?;
                Ok(Posted::replay(self.question(id).await?))
            }
            Err(e) => Err(e),
        }
    }

    pub async fn question(&self, id: Uuid) -> Result<Question, DomainError> {
        self.store.question(id).await?.ok_or_else(DomainError::question_not_found)
    }

    /// Newest first; `before` is the `next` of the previous page.
    pub async fn questions(
        &self,
        before: Option<Uuid>,
        limit: i64,
    ) -> Result<Page<Question, Uuid>, DomainError> {
        self.store.question_page(before, limit).await
    }

    /// The newest questions and the seq of the list of questions they reflect: where a live
    /// page subscribes to `questions` from.
    pub async fn newest_questions(&self, limit: i64) -> Result<(Page<Question, Uuid>, i64), DomainError> {
        self.store.question_page_and_list_seq(limit).await
    }

    /// A question and one page of its answers: at most `limit` of those after `after_seq`, in
    /// seq order, so a request's memory is bounded whatever the question's size. The answer
    /// count shown (and the seq a live page resumes from) includes any answer of this page
    /// committed between the two reads, so the count, the list and the resume point agree.
    pub async fn question_with_answers(
        &self,
        id: Uuid,
        after_seq: i64,
        limit: i64,
    ) -> Result<(Question, Vec<Answer>), DomainError> {
        let mut question = self.question(id).await?;
        let answers = self.store.answers_after(id, after_seq, limit).await?;
        if let Some(last) = answers.last() {
            question.answer_count = question.answer_count.max(last.seq);
        }
        Ok((question, answers))
    }
}
