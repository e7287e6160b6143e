//! What clients send: subscribe and unsubscribe, and how the server parses a client frame into
//! a request or a precise error.

use serde::{Deserialize, Deserializer, Serialize, Serializer, de};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::{ErrorCode, ProtocolError, Topic};

/// A request from a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientMessage {
    /// Start receiving the topic's events; with `after_seq = N`, first every stored event
    /// with `seq > N`.
    Subscribe { topic: Topic, after_seq: Option<i64> },
    /// Stop receiving the topic's events.
    Unsubscribe { topic: Topic },
    /// Act as the identity of `token` (a service token or a host-signed token) from now on;
    /// the server answers `authenticated` or an `error` with code `invalid_credentials`.
    Auth { token: String },
}

impl ClientMessage {
    /// The topic the message is about; `None` for `auth`.
    pub fn topic(&self) -> Option<Topic> {
        match self {
            ClientMessage::Subscribe { topic, .. } | ClientMessage::Unsubscribe { topic } => Some(*topic),
            ClientMessage::Auth { .. } => None,
        }
    }

    /// The message as one JSON text frame, in the `topic` form:
    /// `{"type":"subscribe","topic":"question:<id>","question_id":"<id>","after_seq":N}`.
    ///
    /// A question topic also carries `question_id`, which [`parse`] requires to agree with
    /// `topic`: servers from before topics read only `question_id`, so the same frame works
    /// with both.
    pub fn encode(&self) -> String {
        serde_json::to_string(self).expect("client messages always serialise")
    }
}

#[derive(Serialize)]
struct Wire<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    topic: &'a Topic,
    #[serde(skip_serializing_if = "Option::is_none")]
    question_id: Option<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    after_seq: Option<i64>,
}

impl Serialize for ClientMessage {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if let ClientMessage::Auth { token } = self {
            #[derive(Serialize)]
            struct Auth<'a> {
                #[serde(rename = "type")]
                kind: &'static str,
                token: &'a str,
            }
            return Auth { kind: "auth", token }.serialize(serializer);
        }
        let (kind, topic, after_seq) = match self {
            ClientMessage::Subscribe { topic, after_seq } => ("subscribe", topic, *after_seq),
            ClientMessage::Unsubscribe { topic } => ("unsubscribe", topic, None),
            ClientMessage::Auth { .. } => unreachable!("serialised above"),
        };
        Wire { kind, topic, question_id: topic.question_id(), after_seq }.serialize(serializer)
    }
}

/// Accepts exactly what [`parse`] accepts.
impl<'de> Deserialize<'de> for ClientMessage {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        from_value(&Value::deserialize(deserializer)?).map_err(de::Error::custom)
    }
}

/// Parses one text frame from a client. Every malformed input yields an error naming what is
/// wrong; see [`ErrorCode`] for the codes.
///
/// The target is `topic` (`"question:<uuid>"`) or, from clients that predate topics,
/// `question_id`; when both are given they must name the same question. A frame with neither
/// is refused as `invalid_question_id`, as it always was.
pub fn parse(text: &str) -> Result<ClientMessage, ProtocolError> {
    let value: Value = serde_json::from_str(text).map_err(|e| {
        ProtocolError::new(ErrorCode::InvalidJson, format!("The frame is not valid JSON: {e}."))
    })?;
    from_value(&value)
}

fn from_value(value: &Value) -> Result<ClientMessage, ProtocolError> {
    let Value::Object(fields) = value else {
        return Err(ProtocolError::new(ErrorCode::InvalidMessage, "A message must be a JSON object."));
    };
    let kind = match fields.get("type") {
        Some(Value::String(kind)) => kind.as_str(),
        Some(_) => return Err(ProtocolError::new(ErrorCode::InvalidMessage, "\"type\" must be a string.")),
        None => return Err(ProtocolError::new(ErrorCode::InvalidMessage, "A message needs a \"type\".")),
    };
    match kind {
        "subscribe" => {
            let topic = topic(fields)?;
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
        "unsubscribe" => Ok(ClientMessage::Unsubscribe { topic: topic(fields)? }),
        "auth" => match fields.get("token") {
            Some(Value::String(token)) if !token.is_empty() && token.len() <= 8192 => {
                Ok(ClientMessage::Auth { token: token.clone() })
            }
            _ => Err(ProtocolError::new(
                ErrorCode::InvalidMessage,
                "\"auth\" needs a \"token\": a non-empty string of at most 8192 bytes.",
            )),
        },
        other => Err(ProtocolError::new(
            ErrorCode::UnknownType,
            format!("Unknown message type {other:?}; expected \"subscribe\", \"unsubscribe\" or \"auth\"."),
        )),
    }
}

fn topic(fields: &Map<String, Value>) -> Result<Topic, ProtocolError> {
    let topic = match fields.get("topic") {
        None => None,
        Some(Value::String(s)) => Some(
            s.parse::<Topic>().map_err(|e| ProtocolError::new(ErrorCode::InvalidTopic, format!("{e}.")))?,
        ),
        Some(_) => {
            return Err(ProtocolError::new(
                ErrorCode::InvalidTopic,
                "\"topic\" must be a string such as \"question:<uuid>\" or \"questions\".",
            ));
        }
    };
    let question_id = match fields.get("question_id") {
        None => None,
        Some(Value::String(s)) => Some(Uuid::parse_str(s).map_err(|_| {
            ProtocolError::new(
                ErrorCode::InvalidQuestionId,
                format!("{s:?} is not a valid question id (a UUID)."),
            )
        })?),
        Some(_) => {
            return Err(ProtocolError::new(
                ErrorCode::InvalidQuestionId,
                "\"question_id\" must be a UUID string.",
            ));
        }
    };
    match (topic, question_id) {
        (Some(topic), None) => Ok(topic),
        (None, Some(id)) => Ok(Topic::Question(id)),
        (Some(topic), Some(id)) if topic == Topic::Question(id) => Ok(topic),
        (Some(topic), Some(id)) => Err(ProtocolError::new(
            ErrorCode::InvalidTopic,
            format!("\"topic\" ({topic}) and \"question_id\" ({id}) disagree; send \"topic\" alone."),
        )),
        (None, None) => Err(ProtocolError::new(
            ErrorCode::InvalidQuestionId,
            "The message needs a \"topic\" (or a \"question_id\").",
        )),
    }
}

fn bad_after_seq() -> ProtocolError {
    ProtocolError::new(ErrorCode::InvalidAfterSeq, "\"after_seq\" must be a whole number, 0 or more.")
}

#[cfg(test)]
mod tests {
    use super::*;

    const Q: &str = "01936d5e-7a3b-7c00-8000-000000000001";
    const Q2: &str = "01936d5e-7a3b-7c00-8000-000000000002";

    fn q() -> Topic {
        Topic::Question(Uuid::parse_str(Q).unwrap())
    }

    fn code(text: &str) -> ErrorCode {
        parse(text).unwrap_err().code
    }

    #[test]
    fn parses_the_legacy_question_id_form() {
        assert_eq!(
            parse(&format!(r#"{{"type":"subscribe","question_id":"{Q}"}}"#)),
            Ok(ClientMessage::Subscribe { topic: q(), after_seq: None })
        );
        assert_eq!(
            parse(&format!(r#"{{"type":"subscribe","question_id":"{Q}","after_seq":7}}"#)),
            Ok(ClientMessage::Subscribe { topic: q(), after_seq: Some(7) })
        );
        assert_eq!(
            parse(&format!(r#"{{"type":"unsubscribe","question_id":"{Q}"}}"#)),
            Ok(ClientMessage::Unsubscribe { topic: q() })
        );
    }

    #[test]
    fn parses_the_topic_form() {
        assert_eq!(
            parse(&format!(r#"{{"type":"subscribe","topic":"question:{Q}","after_seq":0}}"#)),
            Ok(ClientMessage::Subscribe { topic: q(), after_seq: Some(0) })
        );
        assert_eq!(
            parse(&format!(r#"{{"type":"subscribe","topic":"question:{Q}","after_seq":null}}"#)),
            Ok(ClientMessage::Subscribe { topic: q(), after_seq: None })
        );
        assert_eq!(
            parse(&format!(r#"{{"type":"unsubscribe","topic":"question:{Q}"}}"#)),
            Ok(ClientMessage::Unsubscribe { topic: q() })
        );
        // Both, agreeing: what `encode` sends.
        assert_eq!(
            parse(&format!(r#"{{"type":"unsubscribe","topic":"question:{Q}","question_id":"{Q}"}}"#)),
            Ok(ClientMessage::Unsubscribe { topic: q() })
        );
    }

    #[test]
    fn the_list_of_questions_is_a_topic_without_a_question_id() {
        let sub = ClientMessage::Subscribe { topic: Topic::Questions, after_seq: Some(2) };
        assert_eq!(sub.encode(), r#"{"type":"subscribe","topic":"questions","after_seq":2}"#);
        assert_eq!(parse(&sub.encode()), Ok(sub));
        assert_eq!(
            parse(r#"{"type":"unsubscribe","topic":"questions"}"#),
            Ok(ClientMessage::Unsubscribe { topic: Topic::Questions })
        );
        // A question_id beside it names another topic.
        let both = format!(r#"{{"type":"subscribe","topic":"questions","question_id":"{Q}"}}"#);
        assert_eq!(code(&both), ErrorCode::InvalidTopic);
    }

    #[test]
    fn names_what_is_wrong() {
        assert_eq!(code("not json"), ErrorCode::InvalidJson);
        assert_eq!(code(""), ErrorCode::InvalidJson);
        assert_eq!(code("[1]"), ErrorCode::InvalidMessage);
        assert_eq!(code("\"subscribe\""), ErrorCode::InvalidMessage);
        assert_eq!(code(r#"{"question_id":"x"}"#), ErrorCode::InvalidMessage);
        assert_eq!(code(r#"{"type":7}"#), ErrorCode::InvalidMessage);
        assert_eq!(code(r#"{"type":"dance"}"#), ErrorCode::UnknownType);
        assert_eq!(code(r#"{"type":"subscribed"}"#), ErrorCode::UnknownType);
        assert_eq!(code(r#"{"type":"subscribe","question_id":"nope"}"#), ErrorCode::InvalidQuestionId);
        assert_eq!(code(r#"{"type":"subscribe","question_id":7}"#), ErrorCode::InvalidQuestionId);
        assert_eq!(code(r#"{"type":"subscribe"}"#), ErrorCode::InvalidQuestionId);
        assert_eq!(code(r#"{"type":"unsubscribe"}"#), ErrorCode::InvalidQuestionId);
        let bad_seq = format!(r#"{{"type":"subscribe","question_id":"{Q}","after_seq":-1}}"#);
        assert_eq!(code(&bad_seq), ErrorCode::InvalidAfterSeq);
        assert_eq!(parse(&bad_seq).unwrap_err().topic, Some(q()));
        let frac = format!(r#"{{"type":"subscribe","question_id":"{Q}","after_seq":1.5}}"#);
        assert_eq!(code(&frac), ErrorCode::InvalidAfterSeq);
        let text = format!(r#"{{"type":"subscribe","topic":"question:{Q}","after_seq":"3"}}"#);
        assert_eq!(code(&text), ErrorCode::InvalidAfterSeq);
        let huge = format!(r#"{{"type":"subscribe","topic":"question:{Q}","after_seq":1e30}}"#);
        assert_eq!(code(&huge), ErrorCode::InvalidAfterSeq);
    }

    #[test]
    fn refuses_bad_topics() {
        assert_eq!(code(&format!(r#"{{"type":"subscribe","topic":"users:{Q}"}}"#)), ErrorCode::InvalidTopic);
        assert_eq!(code(r#"{"type":"subscribe","topic":"question:nope"}"#), ErrorCode::InvalidTopic);
        assert_eq!(code(r#"{"type":"unsubscribe","topic":5}"#), ErrorCode::InvalidTopic);
        assert_eq!(code(r#"{"type":"unsubscribe","topic":null}"#), ErrorCode::InvalidTopic);
        let disagree = format!(r#"{{"type":"subscribe","topic":"question:{Q}","question_id":"{Q2}"}}"#);
        assert_eq!(code(&disagree), ErrorCode::InvalidTopic);
        // A bad topic is reported before anything else about the target.
        assert_eq!(code(r#"{"type":"subscribe","topic":"x","question_id":"y"}"#), ErrorCode::InvalidTopic);
        let bad_id = format!(r#"{{"type":"subscribe","topic":"question:{Q}","question_id":"y"}}"#);
        assert_eq!(code(&bad_id), ErrorCode::InvalidQuestionId);
    }

    #[test]
    fn encodes_the_topic_form_that_parses_back() {
        let sub = ClientMessage::Subscribe { topic: q(), after_seq: Some(4) };
        assert_eq!(
            sub.encode(),
            format!(r#"{{"type":"subscribe","topic":"question:{Q}","question_id":"{Q}","after_seq":4}}"#)
        );
        let live = ClientMessage::Subscribe { topic: q(), after_seq: None };
        assert_eq!(
            live.encode(),
            format!(r#"{{"type":"subscribe","topic":"question:{Q}","question_id":"{Q}"}}"#)
        );
        let unsub = ClientMessage::Unsubscribe { topic: q() };
        for msg in [sub, live, unsub] {
            assert_eq!(parse(&msg.encode()), Ok(msg.clone()));
            assert_eq!(serde_json::from_str::<ClientMessage>(&msg.encode()).unwrap(), msg);
        }
    }
}
