//! Decoding a server frame, for clients: tolerant of what it does not know (a kind of event
//! added after this crate is counted, not refused) and of what older servers sent.

use std::fmt;

use serde::{
    Deserialize,
    de::{self, DeserializeOwned, value::MapDeserializer},
};
use serde_json::Value;

use super::{ServerMessage, control::Control, event::EventBody, legacy::AnswerIn};
use crate::{EventFrame, Topic};

/// Why a server frame could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    message: String,
}

impl DecodeError {
    pub(super) fn new(message: impl Into<String>) -> Self {
        Self { message: message.into() }
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot decode a server message: {}", self.message)
    }
}

impl std::error::Error for DecodeError {}

impl From<serde_json::Error> for DecodeError {
    fn from(e: serde_json::Error) -> Self {
        Self::new(e.to_string())
    }
}

/// Where a message is decoded from: its text (the client's case) or a parsed value.
pub(super) trait Source {
    fn typed<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error>;
    fn value(self) -> Result<Value, serde_json::Error>;
}

pub(super) struct Text<'a>(pub(super) &'a str);

impl Source for Text<'_> {
    fn typed<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_str(self.0)
    }
    fn value(self) -> Result<Value, serde_json::Error> {
        serde_json::from_str(self.0)
    }
}

impl Source for &Value {
    fn typed<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        T::deserialize(*self)
    }
    fn value(self) -> Result<Value, serde_json::Error> {
        Ok(self.clone())
    }
}

#[derive(Deserialize)]
struct Head {
    #[serde(rename = "type")]
    kind: String,
}

pub(super) fn decode(source: impl Source) -> Result<ServerMessage, DecodeError> {
    let Head { kind } = source.typed()?;
    if kind == "answer" {
        // Its own decoder: older servers sent it without `topic` or `seq`.
        return Ok(ServerMessage::Event(source.typed::<AnswerIn>()?.frame()?));
    }
    if is_a_variant_of::<Control>(&kind) {
        return source.typed::<Control>()?.message();
    }
    if is_a_variant_of::<EventBody>(&kind) {
        return Ok(ServerMessage::Event(source.typed::<EventFrame>()?));
    }
    let raw = source.value()?;
    let topic = raw.get("topic").and_then(Value::as_str).and_then(|t| t.parse::<Topic>().ok());
    Ok(match (topic, raw.get("seq").and_then(Value::as_i64)) {
        (Some(topic), Some(seq)) => ServerMessage::UnknownEvent { kind, topic, seq, raw },
        _ => ServerMessage::Unknown { kind, raw },
    })
}

/// Whether `kind` is the `type` of one of the variants of `T`, an enum tagged by `type`: a
/// message of a known kind that does not decode is refused, one of an unknown kind is skipped.
/// Asked of serde itself, so that the enum is the only list of kinds: deserialising
/// `{"type": kind}` fails with `unknown_variant` only if no variant has that name (for a known
/// kind it succeeds, or fails for want of the variant's fields).
fn is_a_variant_of<T: DeserializeOwned>(kind: &str) -> bool {
    let tag_alone = MapDeserializer::<_, Probe>::new(std::iter::once(("type", kind)));
    !matches!(T::deserialize(tag_alone), Err(Probe { unknown_variant: true }))
}

/// The error of [`is_a_variant_of`]'s deserialisation: all it records is whether the tag was
/// unknown.
#[derive(Debug)]
struct Probe {
    unknown_variant: bool,
}

impl de::Error for Probe {
    fn custom<M: fmt::Display>(_: M) -> Self {
        Probe { unknown_variant: false }
    }

    fn unknown_variant(_: &str, _: &'static [&'static str]) -> Self {
        Probe { unknown_variant: true }
    }
}

impl fmt::Display for Probe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.unknown_variant { "unknown variant" } else { "not decoded" })
    }
}

impl std::error::Error for Probe {}
