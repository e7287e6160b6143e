//! What the server sends: encoders for the server (each message is encoded once, however many
//! subscribers get it) and a decoder for clients that tolerates what it does not know.
//!
//! Two families of messages: events ([`EventFrame`], in [`event`]), which take the next seq of
//! their topic, and control messages (in [`control`]), the replies to what a client asked.
//! What older clients still read lives in [`legacy`].

mod control;
mod decode;
pub mod encode;
mod event;
mod legacy;

use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;
use uuid::Uuid;

pub use decode::DecodeError;
pub use event::{EventBody, EventFrame};

use crate::{Answer, ProtocolError, Topic};
use control::Control;

/// A message from the server, as a client decodes it.
///
/// Every message about a topic carries `topic` and `seq` at the top level. A message whose
/// `type` this crate does not know but which has a `topic` and a `seq` is an event of a kind
/// added after this crate: it decodes as [`ServerMessage::UnknownEvent`], which a client skips
/// but whose seq it counts, so that resuming with `after_seq` stays exact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerMessage {
    /// The subscription took effect; `seq` is the topic's last seq at that moment.
    /// `answer_count` is set on question topics (for clients that predate `seq`).
    Subscribed { topic: Topic, seq: i64, answer_count: Option<i64> },
    /// An event: the next seq of its topic, and what happened.
    Event(EventFrame),
    /// The unsubscribe took effect; nothing more arrives for the topic. `seq` is the last seq
    /// sent on the topic to this connection (absent from servers that predate topics).
    Unsubscribed { topic: Topic, seq: Option<i64> },
    /// An `auth` message took effect: the connection acts as this user from now on.
    Authenticated { user_id: Uuid, name: String },
    /// A request was refused; the connection stays open.
    Error(ProtocolError),
    /// An event of a kind this crate does not know: skip it, but count its seq.
    UnknownEvent { kind: String, topic: Topic, seq: i64, raw: Value },
    /// Any other message this crate does not know (no topic or no seq): ignore it.
    Unknown { kind: String, raw: Value },
}

impl ServerMessage {
    /// The `answer` event for a stored answer: its topic is its question's, its seq its own.
    pub fn answer(answer: Answer) -> Self {
        ServerMessage::Event(EventFrame::answer(answer))
    }

    /// The topic the message is about, if any.
    pub fn topic(&self) -> Option<&Topic> {
        match self {
            ServerMessage::Subscribed { topic, .. }
            | ServerMessage::Event(EventFrame { topic, .. })
            | ServerMessage::Unsubscribed { topic, .. }
            | ServerMessage::UnknownEvent { topic, .. } => Some(topic),
            ServerMessage::Error(err) => err.topic.as_ref(),
            ServerMessage::Unknown { .. } | ServerMessage::Authenticated { .. } => None,
        }
    }

    /// The topic and seq of an event: a message that takes the next seq of its topic (an
    /// event this crate knows, or one of a kind it does not). `None` for everything else.
    pub fn event(&self) -> Option<(Topic, i64)> {
        match self {
            ServerMessage::Event(EventFrame { topic, seq, .. })
            | ServerMessage::UnknownEvent { topic, seq, .. } => Some((*topic, *seq)),
            _ => None,
        }
    }

    /// The message as one JSON text frame.
    pub fn encode(&self) -> String {
        // Derived serialisations with string keys and infallible field types: cannot fail.
        serde_json::to_string(self).expect("server messages always serialise")
    }

    /// Decodes one text frame from the server. Accepts the forms servers sent before topics
    /// (`question_id` instead of `topic`; `answer_count` or `answer.seq` instead of `seq`).
    pub fn decode(text: &str) -> Result<Self, DecodeError> {
        if !text.trim_start().starts_with('{') {
            return Err(DecodeError::new("a server message must be a JSON object"));
        }
        decode::decode(decode::Text(text))
    }
}

impl From<EventFrame> for ServerMessage {
    fn from(frame: EventFrame) -> Self {
        ServerMessage::Event(frame)
    }
}

impl FromStr for ServerMessage {
    type Err = DecodeError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::decode(text)
    }
}

impl Serialize for ServerMessage {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            ServerMessage::Event(frame) => frame.serialize(serializer),
            ServerMessage::Subscribed { topic, seq, answer_count } => {
                Control::subscribed(*topic, *seq, *answer_count).serialize(serializer)
            }
            ServerMessage::Unsubscribed { topic, seq } => {
                Control::unsubscribed(*topic, *seq).serialize(serializer)
            }
            ServerMessage::Authenticated { user_id, name } => {
                Control::authenticated(*user_id, name).serialize(serializer)
            }
            ServerMessage::Error(err) => Control::error(err).serialize(serializer),
            ServerMessage::UnknownEvent { raw, .. } | ServerMessage::Unknown { raw, .. } => {
                raw.serialize(serializer)
            }
        }
    }
}

/// Accepts what [`ServerMessage::decode`] accepts.
impl<'de> Deserialize<'de> for ServerMessage {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        if !value.is_object() {
            return Err(serde::de::Error::custom("a server message must be a JSON object"));
        }
        decode::decode(&value).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};
    use serde_json::json;

    use super::*;
    use crate::{Comment, Edit, ErrorCode, InboxEntry, PostId, PostKind, QuestionSummary};

    const Q: &str = "01a20ec8-84f7-75e8-b3aa-3953532763ce";
    const A: &str = "01a20ec8-8565-7015-b498-6a278b5d24e5";

    fn q() -> Topic {
        Topic::Question(Q.parse().unwrap())
    }

    fn an_answer(seq: i64) -> Answer {
        Answer {
            id: A.parse().unwrap(),
            question_id: Q.parse().unwrap(),
            seq,
            body: "Use a lock.".into(),
            body_html: "<p>Use a lock.</p>".into(),
            author: "bob".into(),
            author_id: None,
            created_at: Utc.with_ymd_and_hms(2026, 11, 24, 18, 19, 12).unwrap(),
        }
    }

    fn event(topic: Topic, seq: i64, body: EventBody) -> ServerMessage {
        ServerMessage::Event(EventFrame { topic, seq, body })
    }

    fn round_trip(msg: &ServerMessage) {
        let text = msg.encode();
        assert_eq!(&ServerMessage::decode(&text).unwrap(), msg, "{text}");
        assert_eq!(&serde_json::from_str::<ServerMessage>(&text).unwrap(), msg);
        assert_eq!(serde_json::to_string(msg).unwrap(), text);
    }

    #[test]
    fn post_life_events_round_trip_with_their_fields_at_the_top_level() {
        let post = PostId { post_kind: PostKind::Answer, post_id: A.parse().unwrap() };
        let at = Utc.with_ymd_and_hms(2026, 11, 25, 9, 0, 0).unwrap();
        let edit = Edit {
            post_kind: PostKind::Question,
            post_id: Q.parse().unwrap(),
            revision: 2,
            title: Some("t".into()),
            body: "b".into(),
            body_html: "<p>b</p>".into(),
            tags: Some(vec!["rust".parse().unwrap()]),
            editor: "ann".into(),
            editor_id: None,
            edited_at: at,
        };
        let comment = Comment {
            id: Q.parse().unwrap(),
            post_kind: PostKind::Answer,
            post_id: A.parse().unwrap(),
            body: "Why?".into(),
            body_html: "Why?".into(),
            author: "cy".into(),
            author_id: None,
            created_at: at,
        };
        let messages = [
            event(q(), 3, EventBody::Edit(edit)),
            event(q(), 4, EventBody::Delete(post)),
            event(q(), 5, EventBody::Comment { comment }),
            event(q(), 6, EventBody::CommentDelete { comment_id: Q.parse().unwrap(), post }),
            event(q(), 7, EventBody::Redacted),
            event(
                Topic::User(A.parse().unwrap()),
                1,
                EventBody::Inbox {
                    unread: 1,
                    entry: InboxEntry {
                        id: A.parse().unwrap(),
                        reason: "answer".into(),
                        question_id: Q.parse().unwrap(),
                        title: "t".into(),
                        count: 2,
                        actor: "bob".into(),
                        ref_id: None,
                        read: false,
                        updated_at: at,
                        tag: None,
                    },
                },
            ),
            event(
                Topic::User(A.parse().unwrap()),
                2,
                EventBody::Read { unread: 0, entry_ids: vec![A.parse().unwrap()] },
            ),
        ];
        for msg in &messages {
            round_trip(msg);
            assert!(msg.event().is_some(), "{msg:?} takes a seq");
        }
        assert_eq!(
            messages[1].encode(),
            format!(
                r#"{{"type":"delete","topic":"question:{Q}","seq":4,"post_kind":"answer","post_id":"{A}"}}"#
            )
        );
        assert_eq!(messages[4].encode(), format!(r#"{{"type":"redacted","topic":"question:{Q}","seq":7}}"#));
    }

    #[test]
    fn the_list_events_round_trip_with_their_documented_form() {
        let at = Utc.with_ymd_and_hms(2026, 11, 25, 9, 0, 0).unwrap();
        let question = QuestionSummary {
            id: Q.parse().unwrap(),
            title: "How do I test?".into(),
            author: "ann".into(),
            author_id: Some(A.parse().unwrap()),
            created_at: at,
            tags: vec!["rust".parse().unwrap()],
        };
        let asked = event(Topic::Questions, 1, EventBody::Question { question });
        assert_eq!(
            asked.encode(),
            format!(
                r#"{{"type":"question","topic":"questions","seq":1,"question":{{"id":"{Q}","title":"How do I test?","author":"ann","author_id":"{A}","created_at":"2026-11-25T09:00:00Z","tags":["rust"]}}}}"#
            )
        );
        let deleted =
            event(Topic::Questions, 2, EventBody::QuestionDelete { question_id: Q.parse().unwrap() });
        assert_eq!(
            deleted.encode(),
            format!(r#"{{"type":"question-delete","topic":"questions","seq":2,"question_id":"{Q}"}}"#)
        );
        let redacted = event(Topic::Questions, 1, EventBody::Redacted);
        assert_eq!(redacted.encode(), r#"{"type":"redacted","topic":"questions","seq":1}"#);
        for (msg, seq) in [(&asked, 1), (&deleted, 2), (&redacted, 1)] {
            round_trip(msg);
            assert_eq!(msg.event(), Some((Topic::Questions, seq)));
            assert_eq!(msg.topic(), Some(&Topic::Questions));
        }
        round_trip(&ServerMessage::Subscribed { topic: Topic::Questions, seq: 7, answer_count: None });
        assert_eq!(
            encode::subscribed(&Topic::Questions, 7, None),
            r#"{"type":"subscribed","topic":"questions","seq":7}"#
        );
        // A summary without its required fields is not a `question` event.
        let bare = r#"{"type":"question","topic":"questions","seq":3,"question":{"id":"x"}}"#;
        assert!(ServerMessage::decode(bare).is_err());
    }

    #[test]
    fn encodes_the_documented_wire_format() {
        assert_eq!(
            encode::subscribed(&q(), 2, Some(2)),
            format!(
                r#"{{"type":"subscribed","topic":"question:{Q}","seq":2,"question_id":"{Q}","answer_count":2}}"#
            )
        );
        assert_eq!(
            encode::answer(&an_answer(3)),
            format!(
                r#"{{"type":"answer","topic":"question:{Q}","seq":3,"question_id":"{Q}","answer":{{"id":"{A}","question_id":"{Q}","seq":3,"body":"Use a lock.","body_html":"<p>Use a lock.</p>","author":"bob","author_id":null,"created_at":"2026-11-24T18:19:12Z"}}}}"#
            )
        );
        assert_eq!(
            encode::unsubscribed(&q(), 3),
            format!(r#"{{"type":"unsubscribed","topic":"question:{Q}","seq":3,"question_id":"{Q}"}}"#)
        );
        let refused = ProtocolError::new(ErrorCode::QuestionNotFound, "No question has that id.").about(q());
        assert_eq!(
            refused.encode(),
            format!(
                r#"{{"type":"error","code":"question_not_found","message":"No question has that id.","topic":"question:{Q}","question_id":"{Q}"}}"#
            )
        );
        let bad = ProtocolError::new(ErrorCode::InvalidJson, "no");
        assert_eq!(bad.encode(), r#"{"type":"error","code":"invalid_json","message":"no"}"#);
        assert_eq!(ServerMessage::answer(an_answer(3)).encode(), encode::answer(&an_answer(3)));
        let score = event(
            q(),
            4,
            EventBody::Score { post_kind: PostKind::Answer, post_id: A.parse().unwrap(), score: -2 },
        );
        assert_eq!(
            score.encode(),
            format!(
                r#"{{"type":"score","topic":"question:{Q}","seq":4,"post_kind":"answer","post_id":"{A}","score":-2}}"#
            )
        );
        round_trip(&score);
        assert_eq!(score.event(), Some((q(), 4)));
        let accept = event(q(), 5, EventBody::Accept { answer_id: A.parse().unwrap() });
        assert_eq!(
            accept.encode(),
            format!(r#"{{"type":"accept","topic":"question:{Q}","seq":5,"answer_id":"{A}"}}"#)
        );
        round_trip(&accept);
        let unaccept = event(q(), 6, EventBody::Unaccept { answer_id: A.parse().unwrap() });
        assert_eq!(
            unaccept.encode(),
            format!(r#"{{"type":"unaccept","topic":"question:{Q}","seq":6,"answer_id":"{A}"}}"#)
        );
        round_trip(&unaccept);
    }

    #[test]
    fn every_message_round_trips() {
        round_trip(&ServerMessage::Subscribed { topic: q(), seq: 0, answer_count: Some(0) });
        round_trip(&ServerMessage::Subscribed { topic: q(), seq: 5, answer_count: None });
        round_trip(&ServerMessage::answer(an_answer(1)));
        round_trip(&ServerMessage::Unsubscribed { topic: q(), seq: Some(1) });
        round_trip(&ServerMessage::Unsubscribed { topic: q(), seq: None });
        for code in ErrorCode::KNOWN.into_iter().chain([ErrorCode::Other("from_the_future".into())]) {
            round_trip(&ServerMessage::Error(ProtocolError::new(code.clone(), "why")));
            round_trip(&ServerMessage::Error(ProtocolError::new(code, "why").about(q())));
        }
        let raw = json!({"type": "answer_edited", "topic": format!("question:{Q}"), "seq": 9, "x": [1]});
        round_trip(&ServerMessage::UnknownEvent {
            kind: "answer_edited".into(),
            topic: q(),
            seq: 9,
            raw: raw.clone(),
        });
        round_trip(&ServerMessage::Unknown { kind: "hello".into(), raw: json!({"type": "hello"}) });
    }

    #[test]
    fn decodes_what_servers_sent_before_topics() {
        let subscribed = format!(r#"{{"type":"subscribed","question_id":"{Q}","answer_count":2}}"#);
        assert_eq!(
            ServerMessage::decode(&subscribed).unwrap(),
            ServerMessage::Subscribed { topic: q(), seq: 2, answer_count: Some(2) }
        );
        let answer = json!({"type": "answer", "question_id": Q, "answer": an_answer(3)}).to_string();
        let decoded = ServerMessage::decode(&answer).unwrap();
        assert_eq!(decoded, ServerMessage::answer(an_answer(3)));
        assert_eq!(decoded.event(), Some((q(), 3)));
        let unsubscribed = format!(r#"{{"type":"unsubscribed","question_id":"{Q}"}}"#);
        assert_eq!(
            ServerMessage::decode(&unsubscribed).unwrap(),
            ServerMessage::Unsubscribed { topic: q(), seq: None }
        );
        let error =
            format!(r#"{{"type":"error","code":"already_subscribed","message":"m","question_id":"{Q}"}}"#);
        assert_eq!(
            ServerMessage::decode(&error).unwrap(),
            ServerMessage::Error(ProtocolError::new(ErrorCode::AlreadySubscribed, "m").about(q()))
        );
    }

    #[test]
    fn unknown_types_with_topic_and_seq_are_events_to_count() {
        let text = format!(r#"{{"type":"vote","topic":"question:{Q}","seq":4,"answer":{{"id":"{A}"}}}}"#);
        let msg = ServerMessage::decode(&text).unwrap();
        assert!(matches!(&msg, ServerMessage::UnknownEvent { kind, seq: 4, .. } if kind == "vote"));
        assert_eq!(msg.event(), Some((q(), 4)));
        assert_eq!(msg.topic(), Some(&q()));
        assert_eq!(msg.encode().parse::<Value>().unwrap(), text.parse::<Value>().unwrap());
        // Without a seq, or on a topic this crate cannot read, it is nothing to count.
        for other in [
            format!(r#"{{"type":"vote","topic":"question:{Q}"}}"#),
            format!(r#"{{"type":"vote","topic":"question:{Q}","seq":"4"}}"#),
            format!(r#"{{"type":"follow","topic":"users:{Q}","seq":1}}"#),
            r#"{"type":"welcome","server":"qa-hub 2"}"#.to_owned(),
        ] {
            let msg = ServerMessage::decode(&other).unwrap();
            assert!(matches!(msg, ServerMessage::Unknown { .. }), "{other}");
            assert_eq!(msg.event(), None);
        }
    }

    #[test]
    fn refuses_what_is_not_a_server_message() {
        for bad in [
            "",
            "nope",
            "[]",
            r#"["answer"]"#,
            "{}",
            r#"{"type":3}"#,
            r#"{"type":"answer","topic":"question:x","seq":1}"#,
            r#"{"type":"subscribed"}"#,
            &format!(r#"{{"type":"subscribed","topic":"question:{Q}"}}"#),
            &format!(r#"{{"type":"answer","topic":"question:{Q}","seq":1}}"#),
            &format!(r#"{{"type":"unsubscribed","topic":"users:{Q}","seq":1}}"#),
            &format!(r#"{{"type":"subscribed","topic":"question:{A}","question_id":"{Q}","seq":1}}"#),
            r#"{"type":"error","message":"no code"}"#,
        ] {
            assert!(ServerMessage::decode(bad).is_err(), "{bad:?} decoded");
            if let Ok(value) = serde_json::from_str::<Value>(bad) {
                assert!(serde_json::from_value::<ServerMessage>(value).is_err(), "{bad:?} deserialised");
            }
        }
    }
}
