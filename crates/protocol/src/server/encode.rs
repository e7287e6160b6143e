//! Encoders for the server: each returns one JSON text frame, to be encoded once per message
//! and shared by every subscriber that gets it. An event is encoded by
//! [`EventFrame::encode`](crate::EventFrame::encode).

use uuid::Uuid;

use super::control::Control;
use crate::{Answer, EventFrame, ProtocolError, Topic};

/// `{"type":"subscribed","topic":…,"seq":N,"question_id":…,"answer_count":N}`; the last
/// two only on question topics (`answer_count` when given).
pub fn subscribed(topic: &Topic, seq: i64, answer_count: Option<i64>) -> String {
    Control::subscribed(*topic, seq, answer_count).encode()
}

/// `{"type":"answer","topic":"question:<id>","seq":N,"question_id":…,"answer":{…}}`,
/// where `seq` is the answer's.
pub fn answer(answer: &Answer) -> String {
    EventFrame::answer(answer.clone()).encode()
}

/// `{"type":"unsubscribed","topic":…,"seq":N,"question_id":…}`, where `seq` is the last
/// seq sent on the topic to this connection; `question_id` only on question topics.
pub fn unsubscribed(topic: &Topic, seq: i64) -> String {
    Control::unsubscribed(*topic, Some(seq)).encode()
}

/// `{"type":"error","code":…,"message":…,"topic":…,"question_id":…}`; `topic` (and
/// `question_id`, on a question topic) only when the error concerns a topic.
pub fn error(err: &ProtocolError) -> String {
    Control::error(err).encode()
}

/// `{"type":"authenticated","user_id":…,"name":…}`.
pub fn authenticated(user_id: Uuid, name: &str) -> String {
    Control::authenticated(user_id, name).encode()
}
