//! Error codes and the `error` message a refused request produces.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::Topic;

/// The `code` of an `error` message: a stable snake_case string to branch on.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    /// The frame is not JSON.
    InvalidJson,
    /// Not an object, or no string `type`.
    InvalidMessage,
    /// `type` is not `subscribe` or `unsubscribe`.
    UnknownType,
    /// `topic` is not a topic string, or it disagrees with `question_id`.
    InvalidTopic,
    /// `question_id` is not a UUID string, or neither `topic` nor `question_id` was given.
    InvalidQuestionId,
    /// `after_seq` is not a whole number ≥ 0.
    InvalidAfterSeq,
    /// No question has that id.
    QuestionNotFound,
    /// This connection already subscribes to that topic.
    AlreadySubscribed,
    /// Unsubscribe from a topic this connection does not subscribe to.
    NotSubscribed,
    /// The connection holds the maximum number of subscriptions.
    TooManySubscriptions,
    /// A binary frame.
    UnsupportedFrame,
    /// The server could not read its database; try again.
    Unavailable,
    /// Too many requests on this connection; the message says how long to wait.
    RateLimited,
    /// An `auth` message's token is unknown, revoked, expired or wrongly signed; the
    /// connection stays open, with the identity it had.
    InvalidCredentials,
    /// The connection's identity may not subscribe to that topic (another user's inbox, or
    /// any inbox before an `auth`).
    Forbidden,
    /// The credential the connection's private subscriptions rest on was revoked (a service
    /// token revoked, a session logged out): they end (`unsubscribed` follows for each); the
    /// connection stays, anonymous, for public topics.
    CredentialRevoked,
    /// The credential the connection's private subscriptions rest on has expired (a session's
    /// end, a host-signed token's `exp`): as for `CredentialRevoked`; `auth` again to go on.
    CredentialExpired,
    /// A code this version of the crate does not know (sent by a newer server).
    Other(String),
}

impl ErrorCode {
    /// Every code this crate knows, for documentation and tests.
    pub const KNOWN: [ErrorCode; 17] = [
        ErrorCode::InvalidJson,
        ErrorCode::InvalidMessage,
        ErrorCode::UnknownType,
        ErrorCode::InvalidTopic,
        ErrorCode::InvalidQuestionId,
        ErrorCode::InvalidAfterSeq,
        ErrorCode::QuestionNotFound,
        ErrorCode::AlreadySubscribed,
        ErrorCode::NotSubscribed,
        ErrorCode::TooManySubscriptions,
        ErrorCode::UnsupportedFrame,
        ErrorCode::Unavailable,
        ErrorCode::RateLimited,
        ErrorCode::InvalidCredentials,
        ErrorCode::Forbidden,
        ErrorCode::CredentialRevoked,
        ErrorCode::CredentialExpired,
    ];

    pub fn as_str(&self) -> &str {
        match self {
            ErrorCode::InvalidJson => "invalid_json",
            ErrorCode::InvalidMessage => "invalid_message",
            ErrorCode::UnknownType => "unknown_type",
            ErrorCode::InvalidTopic => "invalid_topic",
            ErrorCode::InvalidQuestionId => "invalid_question_id",
            ErrorCode::InvalidAfterSeq => "invalid_after_seq",
            ErrorCode::QuestionNotFound => "question_not_found",
            ErrorCode::AlreadySubscribed => "already_subscribed",
            ErrorCode::NotSubscribed => "not_subscribed",
            ErrorCode::TooManySubscriptions => "too_many_subscriptions",
            ErrorCode::UnsupportedFrame => "unsupported_frame",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::InvalidCredentials => "invalid_credentials",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::CredentialRevoked => "credential_revoked",
            ErrorCode::CredentialExpired => "credential_expired",
            ErrorCode::Other(code) => code,
        }
    }
}

impl From<&str> for ErrorCode {
    fn from(code: &str) -> Self {
        Self::KNOWN
            .into_iter()
            .find(|known| known.as_str() == code)
            .unwrap_or_else(|| Self::Other(code.into()))
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for ErrorCode {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ErrorCode {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let code = std::borrow::Cow::<str>::deserialize(deserializer)?;
        Ok(Self::from(&*code))
    }
}

/// A refused request: what the server sends back as an `error` message, and what
/// [`parse`](crate::parse) returns for a frame it cannot accept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtocolError {
    pub code: ErrorCode,
    /// A sentence a person understands.
    pub message: String,
    /// The topic the error concerns, when it concerns one.
    pub topic: Option<Topic>,
}

impl ProtocolError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self { code, message: message.into(), topic: None }
    }

    /// The same error, about `topic`.
    pub fn about(mut self, topic: Topic) -> Self {
        self.topic = Some(topic);
        self
    }

    /// The `error` message as one JSON text frame.
    pub fn encode(&self) -> String {
        crate::server::encode::error(self)
    }
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)?;
        if let Some(topic) = &self.topic {
            write!(f, " ({topic})")?;
        }
        Ok(())
    }
}

impl std::error::Error for ProtocolError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_their_strings() {
        for code in ErrorCode::KNOWN {
            assert_eq!(ErrorCode::from(code.as_str()), code);
            let json = serde_json::to_string(&code).unwrap();
            assert_eq!(json, format!("\"{code}\""));
            assert_eq!(serde_json::from_str::<ErrorCode>(&json).unwrap(), code);
        }
        let newer: ErrorCode = serde_json::from_str("\"some_future_code\"").unwrap();
        assert_eq!(newer, ErrorCode::Other("some_future_code".into()));
        assert_eq!(serde_json::to_string(&newer).unwrap(), "\"some_future_code\"");
    }
}
