//! Follows: the choices users made about questions (`follows`), and what their posts imply.

use uuid::Uuid;

use super::{Store, now};
use crate::domain::{DomainError, Follow, FollowChoice, Involvement};

impl Store {
    /// `user`'s relation to a question that is not deleted; `None` when there is no such
    /// question.
    pub async fn follow(&self, user: Uuid, question_id: Uuid) -> Result<Option<Follow>, DomainError> {
        const SQL: &str = "SELECT f.state, q.author_id = $2 AS asked, \
             EXISTS (SELECT 1 FROM answers a WHERE a.question_id = q.id AND a.author_id = $2 \
                     AND a.deleted_at IS NULL) AS answered, \
             EXISTS (SELECT 1 FROM comments c WHERE c.question_id = q.id AND c.author_id = $2 \
                     AND c.deleted_at IS NULL) AS commented \
             FROM questions q LEFT JOIN follows f ON f.question_id = q.id AND f.user_id = $2 \
             WHERE q.id = $1 AND q.deleted_at IS NULL";
        let row: Option<(Option<String>, Option<bool>, bool, bool)> =
            self.read(SQL).bind(question_id).bind(user).fetch_optional().await?;
        Ok(row.map(|(state, asked, answered, commented)| Follow {
            question_id,
            choice: state.as_deref().and_then(FollowChoice::from_name),
            involvement: Involvement { asked: asked.unwrap_or(false), answered, commented },
        }))
    }

    /// Records `user`'s choice about a question, replacing an earlier one.
    pub async fn set_follow(
        &self,
        user: Uuid,
        question_id: Uuid,
        choice: FollowChoice,
    ) -> Result<(), DomainError> {
        const SQL: &str = "INSERT INTO follows (user_id, question_id, state, updated_at) VALUES ($1, $2, $3, $4) \
                           ON CONFLICT (user_id, question_id) \
                           DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at";
        self.write(SQL).bind(user).bind(question_id).bind(choice.name()).bind(now()).execute().await?;
        Ok(())
    }
}
