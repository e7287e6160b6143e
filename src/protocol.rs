//! The WebSocket wire format: what clients send, what the server sends, and how a client
//! frame is parsed into a request or a precise error. Kept free of I/O so it can be tested
//! and fuzzed on its own.

use bytestring::ByteString;
use serde::Serialize;
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::store::Answer;

/// A request from a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientMessage {
    Subscribe { question_id: Uuid, after_seq: Option<i64> },
    Unsubscribe { question_id: Uuid },
}

/// What the server sends; each becomes one JSON text frame.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage<'a> {
    Subscribed {
        question_id: Uuid,
        answer_count: i64,
    },
    Answer {
        question_id: Uuid,
        answer: &'a Answer,
    },
    Unsubscribed {
        question_id: Uuid,
    },
    Error {
        code: &'a str,
        message: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        question_id: Option<Uuid>,
    },
}

impl ServerMessage<'_> {
    pub fn encode(&self) -> ByteString {
        // Serialising these plain structs cannot fail: no maps with non-string keys, no
        // custom Serialize impls that error.
        serde_json::to_string(self).expect("server messages always serialise").into()
    }
}

/// Why a client frame was refused; sent back as an `error` message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtocolError {
    pub code: &'static str,
    pub message: String,
    pub question_id: Option<Uuid>,
}

impl ProtocolError {
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self { code, message: message.into(), question_id: None }
    }

    pub fn about(mut self, question_id: Uuid) -> Self {
        self.question_id = Some(question_id);
        self
    }

    pub fn encode(&self) -> ByteString {
        ServerMessage::Error { code: self.code, message: &self.message, question_id: self.question_id }
            .encode()
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
            let question_id = question_id(&fields)?;
            let after_seq = match fields.get("after_seq") {
                None | Some(Value::Null) => None,
                Some(Value::Number(n)) => match n.as_i64() {
                    Some(seq) if seq >= 0 => Some(seq),
                    _ => return Err(bad_after_seq().about(question_id)),
                },
                Some(_) => return Err(bad_after_seq().about(question_id)),
            };
            Ok(ClientMessage::Subscribe { question_id, after_seq })
        }
        "unsubscribe" => Ok(ClientMessage::Unsubscribe { question_id: question_id(&fields)? }),
        other => Err(ProtocolError::new(
            "unknown_type",
            format!("Unknown message type {other:?}; expected \"subscribe\" or \"unsubscribe\"."),
        )),
    }
}

fn question_id(fields: &Map<String, Value>) -> Result<Uuid, ProtocolError> {
    match fields.get("question_id") {
        Some(Value::String(s)) => Uuid::parse_str(s).map_err(|_| {
            ProtocolError::new("invalid_question_id", format!("{s:?} is not a valid question id (a UUID)."))
        }),
        Some(_) => Err(ProtocolError::new("invalid_question_id", "\"question_id\" must be a UUID string.")),
        None => Err(ProtocolError::new("invalid_question_id", "The message needs a \"question_id\".")),
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
        let q = Uuid::parse_str(Q).unwrap();
        assert_eq!(
            parse(&format!(r#"{{"type":"subscribe","question_id":"{Q}"}}"#)),
            Ok(ClientMessage::Subscribe { question_id: q, after_seq: None })
        );
        assert_eq!(
            parse(&format!(r#"{{"type":"subscribe","question_id":"{Q}","after_seq":7}}"#)),
            Ok(ClientMessage::Subscribe { question_id: q, after_seq: Some(7) })
        );
        assert_eq!(
            parse(&format!(r#"{{"type":"unsubscribe","question_id":"{Q}"}}"#)),
            Ok(ClientMessage::Unsubscribe { question_id: q })
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
        assert_eq!(parse(&bad_seq).unwrap_err().question_id, Some(Uuid::parse_str(Q).unwrap()));
        let frac = format!(r#"{{"type":"subscribe","question_id":"{Q}","after_seq":1.5}}"#);
        assert_eq!(code(&frac), "invalid_after_seq");
    }
}
