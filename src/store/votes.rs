//! Votes: the vote row, the post's score and the score event, in one transaction.
//!
//! The question's row is the lock: its `last_seq` increment serialises every change on the
//! question's topic (as for answers), so two votes on one post cannot both read the same old
//! score, and the seqs of the score events follow commit order.

use uuid::Uuid;

use super::{Store, events, now};
use crate::domain::{DomainError, Event, EventKind, PostKind, PostRef, Score, Topic, Vote};

/// Who wrote a post, and its question and who asked that, if it exists.
pub struct PostOwner {
    pub question_id: Uuid,
    pub author_id: Option<Uuid>,
    pub asker_id: Option<Uuid>,
    /// The post, or its question, was deleted.
    pub deleted: bool,
}

impl Store {
    /// Who wrote `post`, under which question, and who asked it (one read); `None` when it
    /// does not exist.
    pub async fn post_owner(&self, post: PostRef) -> Result<Option<PostOwner>, DomainError> {
        let sql = match post.kind {
            PostKind::Question => {
                "SELECT id, author_id, author_id, deleted_at IS NOT NULL FROM questions WHERE id = $1"
            }
            PostKind::Answer => {
                "SELECT a.question_id, a.author_id, q.author_id, \
                 a.deleted_at IS NOT NULL OR q.deleted_at IS NOT NULL FROM answers a \
                 JOIN questions q ON q.id = a.question_id WHERE a.id = $1"
            }
        };
        let row: Option<(Uuid, Option<Uuid>, Option<Uuid>, bool)> =
            self.read(sql).bind(post.id).fetch_optional().await?;
        Ok(row.map(|(question_id, author_id, asker_id, deleted)| PostOwner {
            question_id,
            author_id,
            asker_id,
            deleted,
        }))
    }

    /// Sets `user`'s vote on `post` (of `question_id`) and returns the post's score. A change
    /// also returns its `score` event, recorded under the question topic's next seq; casting
    /// the vote that already stands changes nothing and records nothing.
    pub async fn vote(
        &self,
        user: Uuid,
        post: PostRef,
        question_id: Uuid,
        vote: Vote,
    ) -> Result<(Score, Option<Event>), DomainError> {
        let created_at = now();
        let mut tx = self.begin().await?;
        if !tx.lock_question(question_id).await? {
            return Err(post.not_found());
        }
        let old: Option<i64> = tx
            .query("SELECT CAST(value AS BIGINT) FROM votes WHERE user_id = $1 AND post_id = $2")
            .bind(user)
            .bind(post.id)
            .scalar_optional()
            .await?;
        let old = Vote::from_value(old.unwrap_or(0));
        // The score moves by the difference; the vote that already stands is only read.
        let score_sql = match post.kind {
            PostKind::Question => "UPDATE questions SET score = score + $2 WHERE id = $1 RETURNING score",
            PostKind::Answer => "UPDATE answers SET score = score + $2 WHERE id = $1 RETURNING score",
        };
        let read_sql = match post.kind {
            PostKind::Question => "SELECT score FROM questions WHERE id = $1",
            PostKind::Answer => "SELECT score FROM answers WHERE id = $1",
        };
        let delta = vote.value() - old.value();
        let outcome = if delta == 0 {
            let score: i64 = tx.query(read_sql).bind(post.id).scalar_one().await?;
            (Score { post, score, vote }, None)
        } else {
            let score: i64 = tx.query(score_sql).bind(post.id).bind(delta).scalar_one().await?;
            match (old, vote) {
                (_, Vote::None) => {
                    tx.query("DELETE FROM votes WHERE user_id = $1 AND post_id = $2")
                        .bind(user)
                        .bind(post.id)
                        .execute()
                        .await?
                }
                (Vote::None, _) => {
                    tx.query(
                        "INSERT INTO votes (user_id, post_id, question_id, value, created_at) \
                             VALUES ($1, $2, $3, $4, $5)",
                    )
                    .bind(user)
                    .bind(post.id)
                    .bind(question_id)
                    .bind(vote.value() as i16)
                    .bind(created_at)
                    .execute()
                    .await?
                }
                _ => {
                    tx.query("UPDATE votes SET value = $3 WHERE user_id = $1 AND post_id = $2")
                        .bind(user)
                        .bind(post.id)
                        .bind(vote.value() as i16)
                        .execute()
                        .await?
                }
            };
            let payload = score_payload(post.kind, score);
            let seq = events::record_question_event(
                &mut tx,
                question_id,
                "score",
                post.id,
                Some(&payload),
                created_at,
            )
            .await?;
            let topic = Topic::Question(question_id);
            (Score { post, score, vote }, Some(Event { topic, seq, kind: EventKind::Score { post, score } }))
        };
        tx.commit(outcome.1.as_slice()).await?;
        Ok(outcome)
    }
}

/// A score event's payload in the log (the post's id is the event's `ref_id`).
pub(super) fn score_payload(kind: PostKind, score: i64) -> String {
    serde_json::json!({"post_kind": kind.name(), "score": score}).to_string()
}

impl Store {
    /// `user`'s standing votes on a question and its answers: (post id, +1 or -1).
    pub async fn votes_of(&self, user: Uuid, question_id: Uuid) -> Result<Vec<(Uuid, i64)>, DomainError> {
        const SQL: &str =
            "SELECT post_id, CAST(value AS BIGINT) FROM votes WHERE user_id = $1 AND question_id = $2";
        Ok(self.read(SQL).bind(user).bind(question_id).fetch_all().await?)
    }
}
