//! Asking and reading questions.

use uuid::Uuid;

use super::{Posted, Services};
use crate::domain::{
    Answer, DomainError, Idempotency, NewQuestion, Page, PostKind, PostRef, Question, TagCount, TagName,
};

impl Services {
    /// Stores a new question (its topic starts with no events) and announces it on the list
    /// of questions and on its tags' topics once committed. With an Idempotency-Key that already stored one, returns
    /// that one instead (announced once).
    pub async fn ask(
        &self,
        new: NewQuestion,
        idempotency: Option<Idempotency>,
    ) -> Result<Posted<Question>, DomainError> {
        if let Some(key) = &idempotency
            && let Some(id) = self.earlier_post(key).await?
        {
            return Ok(Posted::replay(self.stored_question(id).await?));
        }
        let key = idempotency.clone();
        let created = self
            .commit_and_publish(move |store| async move { store.create_question(new, key.as_ref()).await })
            .await;
        match created {
            Ok(question) => Ok(Posted::new(question)),
            Err(DomainError::Conflict { .. }) if idempotency.is_some() => {
                let id = self.concurrent_post(idempotency.as_ref().expect("checked")).await?;
                Ok(Posted::replay(self.stored_question(id).await?))
            }
            Err(e) => Err(e),
        }
    }

    /// The question an earlier request with the same key stored; one deleted since is gone
    /// (410), not unknown.
    async fn stored_question(&self, id: Uuid) -> Result<Question, DomainError> {
        self.store.question(id).await?.ok_or_else(|| PostRef { kind: PostKind::Question, id }.deleted())
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

    /// The questions carrying `tag`, newest first; `before` is the `next` of the previous page.
    pub async fn questions_tagged(
        &self,
        tag: TagName,
        before: Option<Uuid>,
        limit: i64,
    ) -> Result<Page<Question, Uuid>, DomainError> {
        self.store.tagged_question_page(tag, before, limit).await
    }

    /// The newest questions carrying `tag` and the seq of its topic (`tag:{name}`) they
    /// reflect: where a live per-tag page subscribes from.
    pub async fn newest_questions_tagged(
        &self,
        tag: TagName,
        limit: i64,
    ) -> Result<(Page<Question, Uuid>, i64), DomainError> {
        self.store.tagged_question_page_and_seq(tag, limit).await
    }

    /// Tags in use, most used first, then by name; `offset` is the `next` of the previous page.
    pub async fn tags(&self, offset: i64, limit: i64) -> Result<Page<TagCount, i64>, DomainError> {
        self.store.tag_page(offset, limit).await
    }

    /// One tag's count and its topic's last seq; a tag no question ever carried is not found.
    pub async fn tag(&self, tag: TagName) -> Result<(TagCount, i64), DomainError> {
        self.store.tag(tag).await?.ok_or_else(|| DomainError::NotFound {
            code: "tag_not_found",
            message: format!("No question was ever tagged {tag}."),
        })
    }

    /// A question and one page of its live answers in reading order (the accepted answer,
    /// then by score, then oldest first): `offset` of them skipped, at most `limit`, so a
    /// request's memory is bounded whatever the question's size. The question is read first,
    /// so its `answer_count` is exact at its `last_seq`; an answer, edit or vote the second
    /// read already shows is also an event after that seq, which a live page applies
    /// idempotently (by answer seq, comment id, absolute score).
    pub async fn question_with_answers(
        &self,
        id: Uuid,
        offset: i64,
        limit: i64,
    ) -> Result<(Question, Vec<Answer>), DomainError> {
        let question = self.question(id).await?;
        let answers = self.store.answers_ranked(id, offset, limit).await?;
        Ok((question, answers))
    }

    /// How many live answers come before answer `seq` of a question in reading order: where
    /// a page shows it. A deleted or unknown answer is not found.
    pub async fn answer_rank(&self, question_id: Uuid, seq: i64) -> Result<i64, DomainError> {
        self.store.answer_rank(question_id, seq).await?.ok_or_else(|| DomainError::NotFound {
            code: "answer_not_found",
            message: "No answer has that number.".into(),
        })
    }
}
