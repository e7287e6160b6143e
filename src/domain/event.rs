//! Topics and the events recorded on them.
//!
//! Everything that happens to a question is an [`Event`] on its topic, with the topic's next
//! `seq` (1, 2, 3, … contiguous, in commit order). A subscriber that remembers the last seq it
//! saw per topic can resume exactly. "Question created" is not an event of its own topic, so
//! for a question that only receives answers, event seq = answer number.

use std::{fmt, str::FromStr};

use uuid::Uuid;

use super::Answer;

/// A stream of events with its own seq. Named `question:{id}` on the wire and in the event
/// log; `user:{id}` (a person's inbox) will follow, so code must not assume a question.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Topic {
    Question(Uuid),
}

impl Topic {
    /// The question this topic belongs to.
    pub fn question_id(&self) -> Option<Uuid> {
        match self {
            Self::Question(id) => Some(*id),
        }
    }
}

impl fmt::Display for Topic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Question(id) => write!(f, "question:{id}"),
        }
    }
}

/// Why a topic name did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a topic: expected question:<uuid>")]
pub struct BadTopic(pub String);

impl FromStr for Topic {
    type Err = BadTopic;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.split_once(':') {
            Some(("question", id)) => {
                Uuid::parse_str(id).map(Self::Question).map_err(|_| BadTopic(s.to_owned()))
            }
            _ => Err(BadTopic(s.to_owned())),
        }
    }
}

impl serde::Serialize for Topic {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Topic {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        name.parse().map_err(serde::de::Error::custom)
    }
}

/// What happened. Each kind has its wire `type`; a client that meets a kind it does not know
/// skips it but still counts its seq.
#[derive(Debug, Clone, PartialEq)]
pub enum EventKind {
    /// An answer was added (wire type `answer`).
    Answer(Answer),
    /// A kind this build does not model (recorded by a newer node, or by a test): carried by
    /// name with its JSON payload, if any, so clients see its seq.
    Other { name: String, payload: Option<String> },
}

impl EventKind {
    /// The name stored in the event log and used as the wire `type`.
    pub fn name(&self) -> &str {
        match self {
            Self::Answer(_) => "answer",
            Self::Other { name, .. } => name,
        }
    }
}

/// One committed change, with its place in its topic.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub topic: Topic,
    pub seq: i64,
    pub kind: EventKind,
}

/// Where a topic stands: its last seq, and for a question topic the answer count that the
/// `subscribed` message has always carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TopicHead {
    pub seq: i64,
    pub answer_count: Option<i64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_names_round_trip() {
        let id = Uuid::now_v7();
        let topic = Topic::Question(id);
        assert_eq!(topic.to_string(), format!("question:{id}"));
        assert_eq!(topic.to_string().parse::<Topic>(), Ok(topic));
        assert!("question:nope".parse::<Topic>().is_err());
        assert!(format!("user:{id}").parse::<Topic>().is_err());
        assert!("question".parse::<Topic>().is_err());
    }
}
