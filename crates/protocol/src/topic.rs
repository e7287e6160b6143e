//! Topics: what a subscription is about.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Deserializer, Serialize, Serializer, de};
use uuid::Uuid;

use crate::TagName;

/// What a subscription is about, written on the wire as `<kind>:<uuid>`, or by a name alone
/// for a topic of which there is only one.
///
/// One question (`question:<uuid>`), the list of questions (`questions`), a user's inbox
/// (`user:<uuid>`) or the questions of one tag (`tag:<name>`). The enum is `#[non_exhaustive]`: code outside this crate must be ready for
/// a kind of topic it does not know yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Topic {
    /// Everything that happens to one question: answers, votes, edits, comments, deletes.
    Question(Uuid),
    /// The list of questions (wire name `questions`): each new question and each deleted one.
    Questions,
    /// One user's inbox: their notifications and read marks. Only that user may subscribe.
    User(Uuid),
    /// The questions of one tag (wire name `tag:<name>`, e.g. `tag:rust`, `tag:c#`): each
    /// question asked with the tag or retagged to it, and each that leaves it (deleted or
    /// retagged away). Public, like `questions`.
    Tag(TagName),
}

impl Topic {
    /// The question this topic is about, if it is a question's topic. Messages about a
    /// question topic also carry `question_id`, for clients that predate topics.
    pub fn question_id(&self) -> Option<Uuid> {
        match self {
            Topic::Question(id) => Some(*id),
            Topic::Questions => None,
            Topic::User(_) => None,
            Topic::Tag(_) => None,
        }
    }
}

impl fmt::Display for Topic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Topic::Question(id) => write!(f, "question:{id}"),
            Topic::Questions => f.write_str("questions"),
            Topic::User(id) => write!(f, "user:{id}"),
            Topic::Tag(name) => write!(f, "tag:{name}"),
        }
    }
}

/// Why a string is not a [`Topic`]. A refused frame reports it as `invalid_topic`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicError {
    input: String,
}

impl fmt::Display for TopicError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?} is not a topic; expected \"question:<uuid>\", \"questions\", \"user:<uuid>\" or \"tag:<name>\"",
            self.input
        )
    }
}

impl std::error::Error for TopicError {}

impl FromStr for Topic {
    type Err = TopicError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let error = || TopicError { input: s.to_owned() };
        if s == "questions" {
            return Ok(Topic::Questions);
        }
        let (kind, id) = s.split_once(':').ok_or_else(error)?;
        match kind {
            // The same UUID spellings `question_id` has always accepted.
            "question" => Uuid::parse_str(id).map(Topic::Question).map_err(|_| error()),
            "user" => Uuid::parse_str(id).map(Topic::User).map_err(|_| error()),
            // A tag's name as `TagName` reads it (upper case folded to lower case).
            "tag" => id.parse().map(Topic::Tag).map_err(|_| error()),
            _ => Err(error()),
        }
    }
}

impl Serialize for Topic {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Topic {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl de::Visitor<'_> for Visitor {
            type Value = Topic;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a topic string such as \"question:<uuid>\", \"questions\" or \"tag:<name>\"")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Topic, E> {
                s.parse().map_err(E::custom)
            }
        }
        deserializer.deserialize_str(Visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const Q: &str = "01936d5e-7a3b-7c00-8000-000000000001";

    #[test]
    fn question_topics_round_trip() {
        let topic: Topic = format!("question:{Q}").parse().unwrap();
        assert_eq!(topic, Topic::Question(Q.parse().unwrap()));
        assert_eq!(topic.to_string(), format!("question:{Q}"));
        assert_eq!(serde_json::to_string(&topic).unwrap(), format!("\"question:{Q}\""));
        assert_eq!(serde_json::from_str::<Topic>(&format!("\"question:{Q}\"")).unwrap(), topic);
        // Other UUID spellings are accepted and written back in the canonical one.
        let simple: Topic = format!("question:{}", Q.replace('-', "")).parse().unwrap();
        assert_eq!(simple, topic);
        let user: Topic = format!("user:{Q}").parse().unwrap();
        assert_eq!(
            (user, user.to_string(), user.question_id()),
            (Topic::User(Q.parse().unwrap()), format!("user:{Q}"), None)
        );
    }

    #[test]
    fn the_list_of_questions_round_trips_by_its_name() {
        let topic: Topic = "questions".parse().unwrap();
        assert_eq!(topic, Topic::Questions);
        assert_eq!(topic.to_string(), "questions");
        assert_eq!(topic.question_id(), None);
        assert_eq!(serde_json::to_string(&topic).unwrap(), "\"questions\"");
        assert_eq!(serde_json::from_str::<Topic>("\"questions\"").unwrap(), topic);
    }

    #[test]
    fn tag_topics_round_trip_by_the_tags_name() {
        for name in ["rust", "c#", "c++", "asp.net-core", ".net"] {
            let topic: Topic = format!("tag:{name}").parse().unwrap();
            assert_eq!(topic, Topic::Tag(name.parse().unwrap()));
            assert_eq!(topic.to_string(), format!("tag:{name}"));
            assert_eq!(topic.question_id(), None);
            assert_eq!(serde_json::to_string(&topic).unwrap(), format!("\"tag:{name}\""));
            assert_eq!(serde_json::from_str::<Topic>(&format!("\"tag:{name}\"")).unwrap(), topic);
        }
        // The name is folded as a tag's name is: one topic per tag.
        assert_eq!("tag:Rust".parse::<Topic>().unwrap().to_string(), "tag:rust");
        for bad in
            ["tag:", "tag:-rust", "tag:two words", "tag:rust:1", "tags:rust", "Tag:rust", "tag", "tag:é"]
        {
            assert!(bad.parse::<Topic>().is_err(), "{bad:?} parsed");
        }
        let long = format!("tag:{}", "a".repeat(TagName::MAX_LEN + 1));
        assert!(long.parse::<Topic>().is_err());
    }

    #[test]
    fn the_error_names_every_kind() {
        let message = "nope".parse::<Topic>().unwrap_err().to_string();
        assert!(message.contains("\"tag:<name>\"") && message.contains("\"user:<uuid>\""), "{message}");
    }

    #[test]
    fn refuses_unknown_kinds_and_bad_ids() {
        for bad in [
            String::new(),
            Q.to_owned(),
            format!("users:{Q}"),
            "user:nope".to_owned(),
            format!("Question:{Q}"),
            "question:".to_owned(),
            "question:nope".to_owned(),
            format!("question:{Q}:1"),
            "Questions".to_owned(),
            "questions:".to_owned(),
            format!("questions:{Q}"),
            " questions".to_owned(),
            "question".to_owned(),
        ] {
            assert!(bad.parse::<Topic>().is_err(), "{bad:?} parsed");
        }
        assert!(serde_json::from_str::<Topic>("3").is_err());
    }
}
