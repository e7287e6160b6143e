//! The server's half of the wire format: domain events and session replies become JSON text,
//! client frames become requests. The message shapes themselves are documented in
//! docs/protocol.md; every message about a topic carries `topic` and `seq` at its top level.

use bytestring::ByteString;
use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use crate::domain::{Answer, Event, EventKind, Topic, TopicHead};

pub use crate::protocol::{ClientMessage, ProtocolError, parse};

#[derive(Serialize)]
struct AnswerBody<'a> {
    id: Uuid,
    question_id: Uuid,
    seq: i64,
    body: &'a str,
    author: &'a str,
    created_at: DateTime<Utc>,
}

impl<'a> From<&'a Answer> for AnswerBody<'a> {
    fn from(a: &'a Answer) -> Self {
        Self {
            id: a.id,
            question_id: a.question_id,
            seq: a.seq,
            body: &a.body,
            author: &a.author,
            created_at: a.created_at,
        }
    }
}

/// Everything the server sends; `topic` and `seq` come first in each.
#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Out<'a> {
    Subscribed {
        topic: String,
        seq: i64,
        #[serde(skip_serializing_if = "Option::is_none")]
        question_id: Option<Uuid>,
        #[serde(skip_serializing_if = "Option::is_none")]
        answer_count: Option<i64>,
    },
    Answer {
        topic: String,
        seq: i64,
        question_id: Uuid,
        answer: AnswerBody<'a>,
    },
    Unsubscribed {
        topic: String,
        seq: i64,
        #[serde(skip_serializing_if = "Option::is_none")]
        question_id: Option<Uuid>,
    },
    Error {
        code: &'a str,
        message: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        topic: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        question_id: Option<Uuid>,
    },
}

/// An event kind this build does not model, passed on with its own `type`.
#[derive(Serialize)]
struct OtherEvent<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    topic: String,
    seq: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    payload: Option<&'a serde_json::value::RawValue>,
}

fn text(value: &impl Serialize) -> ByteString {
    // These plain structs cannot fail to serialise: no maps with non-string keys, no custom
    // Serialize impls that error.
    serde_json::to_string(value).expect("server messages always serialise").into()
}

/// An event's frame: encoded once per event, whatever the number of subscribers.
pub fn event(event: &Event) -> ByteString {
    let topic = event.topic.to_string();
    match &event.kind {
        EventKind::Answer(answer) => text(&Out::Answer {
            topic,
            seq: event.seq,
            question_id: answer.question_id,
            answer: answer.into(),
        }),
        EventKind::Other { name, payload } => {
            let payload = payload.as_deref().and_then(|p| serde_json::from_str(p).ok());
            text(&OtherEvent { kind: name, topic, seq: event.seq, payload })
        }
    }
}

pub fn subscribed(topic: Topic, head: TopicHead) -> ByteString {
    text(&Out::Subscribed {
        topic: topic.to_string(),
        seq: head.seq,
        question_id: topic.question_id(),
        answer_count: head.answer_count,
    })
}

pub fn unsubscribed(topic: Topic, seq: i64) -> ByteString {
    text(&Out::Unsubscribed { topic: topic.to_string(), seq, question_id: topic.question_id() })
}

pub fn error(code: &str, message: &str, topic: Option<Topic>) -> ByteString {
    text(&Out::Error {
        code,
        message,
        topic: topic.map(|t| t.to_string()),
        question_id: topic.and_then(|t| t.question_id()),
    })
}

impl ProtocolError {
    pub fn encode(&self) -> ByteString {
        error(self.code, &self.message, self.topic)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_message_about_a_topic_carries_topic_and_seq() {
        let q = Uuid::now_v7();
        let topic = Topic::Question(q);
        let answer = Answer {
            id: Uuid::now_v7(),
            question_id: q,
            seq: 3,
            body: "b".into(),
            author: "a".into(),
            created_at: Utc::now(),
        };
        let frames = [
            event(&Event { topic, seq: 3, kind: EventKind::Answer(answer) }),
            event(&Event {
                topic,
                seq: 4,
                kind: EventKind::Other { name: "vote".into(), payload: Some("{\"score\":2}".into()) },
            }),
            subscribed(topic, TopicHead { seq: 4, answer_count: Some(3) }),
            unsubscribed(topic, 4),
        ];
        for frame in &frames {
            let v: serde_json::Value = serde_json::from_str(frame).unwrap();
            assert_eq!(v["topic"], format!("question:{q}"), "{frame}");
            assert!(v["seq"].is_i64(), "{frame}");
        }
        let answer: serde_json::Value = serde_json::from_str(&frames[0]).unwrap();
        assert_eq!(
            (answer["type"].as_str(), answer["question_id"].as_str()),
            (Some("answer"), Some(q.to_string().as_str()))
        );
        assert_eq!(answer["answer"]["seq"], 3);
        let other: serde_json::Value = serde_json::from_str(&frames[1]).unwrap();
        assert_eq!((other["type"].as_str(), other["payload"]["score"].as_i64()), (Some("vote"), Some(2)));
        let subscribed: serde_json::Value = serde_json::from_str(&frames[2]).unwrap();
        assert_eq!(subscribed["answer_count"], 3);
    }
}
