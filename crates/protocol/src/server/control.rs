//! Control messages: the server's replies to what a client asked (`subscribed`,
//! `unsubscribed`, `authenticated`) and its refusals (`error`). They take no seq of their own.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{DecodeError, ServerMessage, legacy};
use crate::{ErrorCode, ProtocolError, Topic};

/// The wire form of a control message, both ways: what the encoder writes and every form the
/// decoder accepts (hence the optional fields; see [`legacy`]).
#[derive(Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(super) enum Control {
    Subscribed {
        #[serde(skip_serializing_if = "Option::is_none")]
        topic: Option<Topic>,
        #[serde(skip_serializing_if = "Option::is_none")]
        seq: Option<i64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        question_id: Option<Uuid>,
        #[serde(skip_serializing_if = "Option::is_none")]
        answer_count: Option<i64>,
    },
    Unsubscribed {
        #[serde(skip_serializing_if = "Option::is_none")]
        topic: Option<Topic>,
        #[serde(skip_serializing_if = "Option::is_none")]
        seq: Option<i64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        question_id: Option<Uuid>,
    },
    Authenticated {
        user_id: Uuid,
        #[serde(default)]
        name: String,
    },
    Error {
        code: ErrorCode,
        #[serde(default)]
        message: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        topic: Option<Topic>,
        #[serde(skip_serializing_if = "Option::is_none")]
        question_id: Option<Uuid>,
    },
}

impl Control {
    pub(super) fn subscribed(topic: Topic, seq: i64, answer_count: Option<i64>) -> Self {
        let question_id = legacy::question_id(&topic);
        Control::Subscribed { topic: Some(topic), seq: Some(seq), question_id, answer_count }
    }

    pub(super) fn unsubscribed(topic: Topic, seq: Option<i64>) -> Self {
        Control::Unsubscribed { topic: Some(topic), seq, question_id: legacy::question_id(&topic) }
    }

    pub(super) fn authenticated(user_id: Uuid, name: &str) -> Self {
        Control::Authenticated { user_id, name: name.to_owned() }
    }

    pub(super) fn error(err: &ProtocolError) -> Self {
        Control::Error {
            code: err.code.clone(),
            message: err.message.clone(),
            topic: err.topic,
            question_id: err.topic.as_ref().and_then(legacy::question_id),
        }
    }

    /// The message as one JSON text frame.
    pub(super) fn encode(&self) -> String {
        // A derived serialisation with string keys and infallible field types: cannot fail.
        serde_json::to_string(self).expect("control messages always serialise")
    }

    /// The message a decoded control message stands for.
    pub(super) fn message(self) -> Result<ServerMessage, DecodeError> {
        Ok(match self {
            Control::Subscribed { topic, seq, question_id, answer_count } => ServerMessage::Subscribed {
                topic: legacy::target(topic, question_id)?,
                seq: seq.or(answer_count).ok_or_else(|| DecodeError::new("subscribed without seq"))?,
                answer_count,
            },
            Control::Unsubscribed { topic, seq, question_id } => {
                ServerMessage::Unsubscribed { topic: legacy::target(topic, question_id)?, seq }
            }
            Control::Authenticated { user_id, name } => ServerMessage::Authenticated { user_id, name },
            Control::Error { code, message, topic, question_id } => ServerMessage::Error(ProtocolError {
                code,
                message,
                topic: topic.or(question_id.map(Topic::Question)),
            }),
        })
    }
}
