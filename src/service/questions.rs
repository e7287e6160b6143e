//! Asking and reading questions.

use uuid::Uuid;

use super::Services;
use crate::domain::{Answer, DomainError, NewQuestion, Page, Question};

/// Answers read per round trip when a whole question is read.
const ANSWER_CHUNK: i64 = 500;

impl Services {
    /// Stores a new question (its topic starts with no events).
    pub async fn ask(&self, new: NewQuestion) -> Result<Question, DomainError> {
        self.store.create_question(new).await
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

    /// A question and all its answers, as a page shows them. The answer count is what is
    /// shown: answers committed between the two reads are included, so the count, the list
    /// and the seq a live page resumes from agree.
    pub async fn question_with_answers(&self, id: Uuid) -> Result<(Question, Vec<Answer>), DomainError> {
        let mut question = self.question(id).await?;
        let mut answers: Vec<Answer> = Vec::new();
        loop {
            let after = answers.last().map_or(0, |a| a.seq);
            let chunk = self.store.answers_after(id, after, ANSWER_CHUNK).await?;
            let done = (chunk.len() as i64) < ANSWER_CHUNK;
            answers.extend(chunk);
            if done {
                break;
            }
        }
        question.answer_count = answers.len() as i64;
        Ok((question, answers))
    }
}
