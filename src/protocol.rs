//! What clients send over the WebSocket, and how a client frame is parsed into a request or a
//! precise error. Kept free of I/O so it can be tested and fuzzed on its own.

use serde_json::{Map, Value};
use uuid::Uuid;

use crate::domain::Topic;

/// A request from a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientMessage {
    Subscribe { topic: Topic, after_seq: Option<i64> },
    Unsubscribe { topic: Topic },
}

/// Why a client frame was refused; sent back as an `error` message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtocolError {
    pub code: &'static str,
    pub message: String,
    pub topic: Option<Topic>,
}

impl ProtocolError {
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self { code, message: message.into(), topic: None }
    }

    pub fn about(mut self, topic: Topic) -> Self {
        self.topic = Some(topic);
        self
    }
}

/// Parses one text frame. Every malformed input yields an error naming what is wrong.
pub fn parse(text: &str) -> Result<ClientMessage, ProtocolError> {
    let value: Value = serde_json::from_str(text)
        .map_err(|e| ProtocolError::new("invalid_json", format!("The frame is not valid JSON: {e}.")))?;
    let Value::Object(fields) = value else {
        return Err(ProtocolError::new("invalid_message", "A message must be a JSON object."));
    };
    let kind = match fields.get("type") {
        Some(Value::String(kind)) => kind.as_str(),
        Some(_) => return Err(ProtocolError::new("invalid_message", "\"type\" must be a string.")),
        None => return Err(ProtocolError::new("invalid_message", "A message needs a \"type\".")),
    };
    match kind {
        "subscribe" => {
            let topic = topic(&fields)?;
            let after_seq = match fields.get("after_seq") {
                None | Some(Value::Null) => None,
                Some(Value::Number(n)) => match n.as_i64() {
                    Some(seq) if seq >= 0 => Some(seq),
                    _ => return Err(bad_after_seq().about(topic)),
                },
                Some(_) => return Err(bad_after_seq().about(topic)),
            };
            Ok(ClientMessage::Subscribe { topic, after_seq })
        }
        "unsubscribe" => Ok(ClientMessage::Unsubscribe { topic: topic(&fields)? }),
        other => Err(ProtocolError::new(
            "unknown_type",
            format!("Unknown message type {other:?}; expected \"subscribe\" or \"unsubscribe\"."),
        )),
    }
}

/// The `topic` of a request, or (as before topics existed) its `question_id`; both must
/// agree when both are given.
fn topic(fields: &Map<String, Value>) -> Result<Topic, ProtocolError> {
    let named = match fields.get("topic") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.parse::<Topic>().map_err(|_| {
            ProtocolError::new(
                "invalid_topic",
                format!("{s:?} is not a topic; expected \"question:<uuid>\"."),
            )
        })?),
        Some(_) => return Err(ProtocolError::new("invalid_topic", "\"topic\" must be a string.")),
    };
    match (named, fields.contains_key("question_id")) {
        (Some(topic), false) => Ok(topic),
        (Some(topic), true) => match question_id(fields)? {
            id if topic.question_id() == Some(id) => Ok(topic),
            _ => Err(ProtocolError::new(
                "invalid_topic",
                "\"topic\" and \"question_id\" name different questions.",
            )),
        },
        (None, _) => Ok(Topic::Question(question_id(fields)?)),
    }
}

fn question_id(fields: &Map<String, Value>) -> Result<Uuid, ProtocolError> {
    match fields.get("question_id") {
        Some(Value::String(s)) => Uuid::parse_str(s).map_err(|_| {
            ProtocolError::new("invalid_question_id", format!("{s:?} is not a valid question id (a UUID)."))
        }),
        Some(_) => Err(ProtocolError::new("invalid_question_id", "\"question_id\" must be a UUID string.")),
        None => Err(ProtocolError::new(
            "invalid_question_id",
            "The message needs a \"topic\" or a \"question_id\".",
        )),
    }
}

fn bad_after_seq() -> ProtocolError {
    ProtocolError::new("invalid_after_seq", "\"after_seq\" must be a whole number, 0 or more.")
}

#[cfg(test)]
mod tests {
    use super::*;

    const Q: &str = "01936d5e-7a3b-7c00-8000-000000000001";

    #[test]
    fn parses_requests() {
        let q = Topic::Question(Uuid::parse_str(Q).unwrap());
        assert_eq!(
            parse(&format!(r#"{{"type":"subscribe","question_id":"{Q}"}}"#)),
            Ok(ClientMessage::Subscribe { topic: q, after_seq: None })
        );
        assert_eq!(
            parse(&format!(r#"{{"type":"subscribe","topic":"question:{Q}","after_seq":7}}"#)),
            Ok(ClientMessage::Subscribe { topic: q, after_seq: Some(7) })
        );
        assert_eq!(
            parse(&format!(r#"{{"type":"subscribe","topic":"question:{Q}","question_id":"{Q}"}}"#)),
            Ok(ClientMessage::Subscribe { topic: q, after_seq: None })
        );
        assert_eq!(
            parse(&format!(r#"{{"type":"unsubscribe","question_id":"{Q}"}}"#)),
            Ok(ClientMessage::Unsubscribe { topic: q })
        );
    }

    #[test]
    fn names_what_is_wrong() {
        let code = |text: &str| parse(text).unwrap_err().code;
        assert_eq!(code("not json"), "invalid_json");
        assert_eq!(code("[1]"), "invalid_message");
        assert_eq!(code(r#"{"question_id":"x"}"#), "invalid_message");
        assert_eq!(code(r#"{"type":"dance"}"#), "unknown_type");
        assert_eq!(code(r#"{"type":"subscribe","question_id":"nope"}"#), "invalid_question_id");
        assert_eq!(code(r#"{"type":"subscribe"}"#), "invalid_question_id");
        let bad_seq = format!(r#"{{"type":"subscribe","question_id":"{Q}","after_seq":-1}}"#);
        assert_eq!(code(&bad_seq), "invalid_after_seq");
        assert_eq!(parse(&bad_seq).unwrap_err().topic, Some(Topic::Question(Uuid::parse_str(Q).unwrap())));
        assert_eq!(code(r#"{"type":"subscribe","topic":"user:1"}"#), "invalid_topic");
        assert_eq!(code(r#"{"type":"subscribe","topic":7}"#), "invalid_topic");
        let other = "01936d5e-7a3b-7c00-8000-000000000002";
        assert_eq!(
            code(&format!(r#"{{"type":"subscribe","topic":"question:{Q}","question_id":"{other}"}}"#)),
            "invalid_topic"
        );
        let frac = format!(r#"{{"type":"subscribe","question_id":"{Q}","after_seq":1.5}}"#);
        assert_eq!(code(&frac), "invalid_after_seq");
    }
}
