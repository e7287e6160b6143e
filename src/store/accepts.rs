//! The accepted answer: at most one per question, chosen, changed or withdrawn by the asker,
//! each change recorded as events on the question's topic in the same transaction.

use uuid::Uuid;

use super::{Store, events, now};
use crate::domain::{DomainError, Event, EventKind, Topic};

impl Store {
    /// Makes `answer_id` (one of the question's answers) the accepted one (`accept`), or
    /// withdraws it if it is the accepted one (`!accept`; otherwise nothing changes: the check
    /// is made inside the transaction, so a concurrent change is never undone by mistake). A
    /// change records `unaccept` of the answer accepted before (if any), then `accept` of the
    /// new one (if any), each under the topic's next seq. Returns those events (none when
    /// nothing changed) and the accepted answer afterwards.
    pub async fn set_accepted(
        &self,
        question_id: Uuid,
        answer_id: Uuid,
        accept: bool,
    ) -> Result<(Vec<Event>, Option<Uuid>), DomainError> {
        let created_at = now();
        let mut tx = self.begin().await?;
        tx.lock_question(question_id).await?;
        let current: Option<Option<Uuid>> = tx
            .query("SELECT accepted_answer_id FROM questions WHERE id = $1")
            .bind(question_id)
            .scalar_optional()
            .await?;
        let current = current.ok_or_else(DomainError::question_not_found)?;
        let answer_id = match (accept, current) {
            (true, _) => Some(answer_id),
            (false, Some(id)) if id == answer_id => None,
            (false, other) => other,
        };
        let mut events = Vec::new();
        if current != answer_id {
            tx.query("UPDATE questions SET accepted_answer_id = $2 WHERE id = $1")
                .bind(question_id)
                .bind(answer_id)
                .execute()
                .await?;
            let changes = current
                .map(|id| EventKind::Unaccept { answer_id: id })
                .into_iter()
                .chain(answer_id.map(|id| EventKind::Accept { answer_id: id }));
            for kind in changes {
                let (EventKind::Accept { answer_id: id } | EventKind::Unaccept { answer_id: id }) = kind
                else {
                    unreachable!("only acceptance changes here")
                };
                let seq =
                    events::record_question_event(&mut tx, question_id, kind.name(), id, None, created_at)
                        .await?;
                let topic = Topic::Question(question_id);
                events.push(Event { topic, seq, kind });
            }
        }
        tx.commit(&events).await?;
        Ok((events, answer_id))
    }
}
