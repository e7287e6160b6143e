//! What servers wrote before topics and seqs, in one place: on a question's topic, `answer`,
//! `subscribed`, `unsubscribed` and `error` also carry `question_id` (older clients read it
//! instead of `topic`), and `subscribed` carries `answer_count` (which they read instead of
//! `seq`). The decoder accepts the old forms: `question_id` without `topic`, `answer_count`
//! (or an answer's own `seq`) without `seq`.

use serde::Deserialize;
use uuid::Uuid;

use super::{DecodeError, EventBody, EventFrame};
use crate::{Answer, Topic};

/// The `question_id` a message about `topic` carries besides `topic`: the question's id on a
/// question's topic, nothing on any other.
pub(super) fn question_id(topic: &Topic) -> Option<Uuid> {
    topic.question_id()
}

/// The topic of a message that may name it by `topic`, by `question_id` (older servers), or
/// by both, which must then agree.
pub(super) fn target(topic: Option<Topic>, question_id: Option<Uuid>) -> Result<Topic, DecodeError> {
    match (topic, question_id) {
        (Some(topic), Some(id)) if topic != Topic::Question(id) => {
            Err(DecodeError::new(format!("topic {topic} and question_id {id} disagree")))
        }
        (Some(topic), _) => Ok(topic),
        (None, Some(id)) => Ok(Topic::Question(id)),
        (None, None) => Err(DecodeError::new("no topic")),
    }
}

/// An `answer` as any server sent it: before topics it had neither `topic` nor `seq`, and its
/// answer's `seq` was the event's.
#[derive(Deserialize)]
pub(super) struct AnswerIn {
    topic: Option<Topic>,
    question_id: Option<Uuid>,
    seq: Option<i64>,
    answer: Answer,
}

impl AnswerIn {
    pub(super) fn frame(self) -> Result<EventFrame, DecodeError> {
        let topic = target(self.topic, self.question_id.or(Some(self.answer.question_id)))?;
        let seq = self.seq.unwrap_or(self.answer.seq);
        Ok(EventFrame { topic, seq, body: EventBody::Answer { answer: self.answer } })
    }
}
