//! What the server sends: encoders for the server (each message is encoded once, however many
//! subscribers get it) and a decoder for clients that tolerates what it does not know.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Deserializer, Serialize, Serializer, de::DeserializeOwned};
use serde_json::Value;
use uuid::Uuid;

use crate::{Answer, Comment, Edit, ErrorCode, InboxEntry, PostId, ProtocolError, QuestionSummary, Topic};

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
    /// An answer, sent once it is committed. `seq` is the event's seq in its topic.
    Answer { topic: Topic, seq: i64, answer: Answer },
    /// A post's score changed: `score` is its new absolute score (never a delta), so a client
    /// that skipped earlier score events still shows the truth.
    Score { topic: Topic, seq: i64, post_kind: PostKind, post_id: Uuid, score: i64 },
    /// The asker accepted this answer.
    Accept { topic: Topic, seq: i64, answer_id: Uuid },
    /// The asker withdrew the acceptance of this answer (or accepted another: its `accept`
    /// follows at the next seq).
    Unaccept { topic: Topic, seq: i64, answer_id: Uuid },
    /// A post was edited: its whole new text and revision number.
    Edit { topic: Topic, seq: i64, edit: Edit },
    /// A post was deleted: remove it (and, for an answer, its comments) from what is shown.
    Delete { topic: Topic, seq: i64, post: PostId },
    /// A comment was added.
    Comment { topic: Topic, seq: i64, comment: Comment },
    /// A comment was deleted: remove it.
    CommentDelete { topic: Topic, seq: i64, comment_id: Uuid, post: PostId },
    /// An event whose content was deleted after it happened (sent on resume): count its seq,
    /// nothing else.
    Redacted { topic: Topic, seq: i64 },
    /// An inbox entry is new or changed (a user topic): show it as it now stands. `unread`
    /// is the inbox's unread count after the change, counted by the server (never a delta).
    Inbox { topic: Topic, seq: i64, unread: i64, entry: InboxEntry },
    /// Inbox entries were marked read (a user topic), on this or another device; `unread`
    /// as for `Inbox`.
    Read { topic: Topic, seq: i64, unread: i64, entry_ids: Vec<Uuid> },
    /// One of the user's credentials was revoked (a user topic): a service token, or a log-in
    /// session that logged out. `credential` is an opaque id of it; a connection that rests on
    /// it has its private subscriptions ended right after this event.
    Revoked { topic: Topic, seq: i64, credential: String },
    /// A question was asked (on the topic `questions`): its summary, for the list.
    Question { topic: Topic, seq: i64, question: QuestionSummary },
    /// A question was deleted (on the topic `questions`): remove it from the list.
    QuestionDelete { topic: Topic, seq: i64, question_id: Uuid },
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
    /// The `answer` message for a stored answer: its topic is its question's, its seq its own.
    pub fn answer(answer: Answer) -> Self {
        ServerMessage::Answer { topic: Topic::Question(answer.question_id), seq: answer.seq, answer }
    }

    /// The topic the message is about, if any.
    pub fn topic(&self) -> Option<&Topic> {
        match self {
            ServerMessage::Subscribed { topic, .. }
            | ServerMessage::Answer { topic, .. }
            | ServerMessage::Score { topic, .. }
            | ServerMessage::Accept { topic, .. }
            | ServerMessage::Unaccept { topic, .. }
            | ServerMessage::Edit { topic, .. }
            | ServerMessage::Delete { topic, .. }
            | ServerMessage::Comment { topic, .. }
            | ServerMessage::CommentDelete { topic, .. }
            | ServerMessage::Redacted { topic, .. }
            | ServerMessage::Inbox { topic, .. }
            | ServerMessage::Read { topic, .. }
            | ServerMessage::Revoked { topic, .. }
            | ServerMessage::Question { topic, .. }
            | ServerMessage::QuestionDelete { topic, .. }
            | ServerMessage::Unsubscribed { topic, .. }
            | ServerMessage::UnknownEvent { topic, .. } => Some(topic),
            ServerMessage::Error(err) => err.topic.as_ref(),
            ServerMessage::Unknown { .. } | ServerMessage::Authenticated { .. } => None,
        }
    }

    /// The topic and seq of an event: a message that takes the next seq of its topic (an
    /// answer, or an event of a kind this crate does not know). `None` for everything else.
    pub fn event(&self) -> Option<(Topic, i64)> {
        match self {
            ServerMessage::Answer { topic, seq, .. }
            | ServerMessage::Score { topic, seq, .. }
            | ServerMessage::Accept { topic, seq, .. }
            | ServerMessage::Unaccept { topic, seq, .. }
            | ServerMessage::Edit { topic, seq, .. }
            | ServerMessage::Delete { topic, seq, .. }
            | ServerMessage::Comment { topic, seq, .. }
            | ServerMessage::CommentDelete { topic, seq, .. }
            | ServerMessage::Redacted { topic, seq }
            | ServerMessage::Inbox { topic, seq, .. }
            | ServerMessage::Read { topic, seq, .. }
            | ServerMessage::Revoked { topic, seq, .. }
            | ServerMessage::Question { topic, seq, .. }
            | ServerMessage::QuestionDelete { topic, seq, .. }
            | ServerMessage::UnknownEvent { topic, seq, .. } => Some((*topic, *seq)),
            _ => None,
        }
    }

    /// The message as one JSON text frame.
    pub fn encode(&self) -> String {
        match self {
            ServerMessage::Subscribed { topic, seq, answer_count } => {
                encode::subscribed(topic, *seq, *answer_count)
            }
            ServerMessage::Answer { topic, seq, answer } => {
                encode::wire(&Wire::Answer { topic, seq: *seq, question_id: topic.question_id(), answer })
            }
            ServerMessage::Unsubscribed { topic, seq } => {
                encode::wire(&Wire::Unsubscribed { topic, seq: *seq, question_id: topic.question_id() })
            }
            ServerMessage::Score { topic, seq, post_kind, post_id, score } => encode::wire(&Wire::Score {
                topic,
                seq: *seq,
                post_kind: *post_kind,
                post_id: *post_id,
                score: *score,
            }),
            ServerMessage::Accept { topic, seq, answer_id } => {
                encode::wire(&Wire::Accept { topic, seq: *seq, answer_id: *answer_id })
            }
            ServerMessage::Unaccept { topic, seq, answer_id } => {
                encode::wire(&Wire::Unaccept { topic, seq: *seq, answer_id: *answer_id })
            }
            ServerMessage::Edit { .. }
            | ServerMessage::Delete { .. }
            | ServerMessage::Comment { .. }
            | ServerMessage::CommentDelete { .. }
            | ServerMessage::Redacted { .. }
            | ServerMessage::Inbox { .. }
            | ServerMessage::Read { .. }
            | ServerMessage::Revoked { .. }
            | ServerMessage::Question { .. }
            | ServerMessage::QuestionDelete { .. } => {
                serde_json::to_string(self).expect("server messages always serialise")
            }
            ServerMessage::Error(err) => encode::error(err),
            ServerMessage::Authenticated { user_id, name } => encode::authenticated(*user_id, name),
            ServerMessage::UnknownEvent { raw, .. } | ServerMessage::Unknown { raw, .. } => raw.to_string(),
        }
    }

    /// Decodes one text frame from the server. Accepts the forms servers sent before topics
    /// (`question_id` instead of `topic`; `answer_count` or `answer.seq` instead of `seq`).
    pub fn decode(text: &str) -> Result<Self, DecodeError> {
        if !text.trim_start().starts_with('{') {
            return Err(DecodeError::new("a server message must be a JSON object"));
        }
        decode(Text(text))
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
            ServerMessage::Subscribed { topic, seq, answer_count } => Wire::Subscribed {
                topic,
                seq: *seq,
                question_id: topic.question_id(),
                answer_count: *answer_count,
            }
            .serialize(serializer),
            ServerMessage::Answer { topic, seq, answer } => {
                Wire::Answer { topic, seq: *seq, question_id: topic.question_id(), answer }
                    .serialize(serializer)
            }
            ServerMessage::Unsubscribed { topic, seq } => {
                Wire::Unsubscribed { topic, seq: *seq, question_id: topic.question_id() }
                    .serialize(serializer)
            }
            ServerMessage::Score { topic, seq, post_kind, post_id, score } => {
                Wire::Score { topic, seq: *seq, post_kind: *post_kind, post_id: *post_id, score: *score }
                    .serialize(serializer)
            }
            ServerMessage::Accept { topic, seq, answer_id } => {
                Wire::Accept { topic, seq: *seq, answer_id: *answer_id }.serialize(serializer)
            }
            ServerMessage::Unaccept { topic, seq, answer_id } => {
                Wire::Unaccept { topic, seq: *seq, answer_id: *answer_id }.serialize(serializer)
            }
            ServerMessage::Edit { topic, seq, edit } => {
                Envelope::new("edit", topic, *seq, edit).serialize(serializer)
            }
            ServerMessage::Delete { topic, seq, post } => {
                Envelope::new("delete", topic, *seq, post).serialize(serializer)
            }
            ServerMessage::Comment { topic, seq, comment } => {
                Envelope::new("comment", topic, *seq, CommentBody { comment }).serialize(serializer)
            }
            ServerMessage::CommentDelete { topic, seq, comment_id, post } => {
                let body = CommentDeleteBody { comment_id: *comment_id, post: *post };
                Envelope::new("comment-delete", topic, *seq, body).serialize(serializer)
            }
            ServerMessage::Redacted { topic, seq } => {
                Envelope::new("redacted", topic, *seq, serde_json::Map::new()).serialize(serializer)
            }
            ServerMessage::Inbox { topic, seq, unread, entry } => {
                Envelope::new("inbox", topic, *seq, InboxBody { unread: *unread, entry })
                    .serialize(serializer)
            }
            ServerMessage::Read { topic, seq, unread, entry_ids } => {
                Envelope::new("read", topic, *seq, ReadBody { unread: *unread, entry_ids })
                    .serialize(serializer)
            }
            ServerMessage::Revoked { topic, seq, credential } => {
                Envelope::new("revoked", topic, *seq, RevokedBody { credential }).serialize(serializer)
            }
            ServerMessage::Question { topic, seq, question } => {
                Envelope::new("question", topic, *seq, QuestionBody { question }).serialize(serializer)
            }
            ServerMessage::QuestionDelete { topic, seq, question_id } => {
                let body = QuestionDeleteBody { question_id: *question_id };
                Envelope::new("question-delete", topic, *seq, body).serialize(serializer)
            }
            ServerMessage::Error(err) => Wire::error(err).serialize(serializer),
            ServerMessage::Authenticated { user_id, name } => {
                Wire::Authenticated { user_id: *user_id, name }.serialize(serializer)
            }
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
        decode(&value).map_err(serde::de::Error::custom)
    }
}

/// Encoders for the server: each returns one JSON text frame, to be encoded once per event
/// and shared by every subscriber.
pub mod encode {
    use super::*;

    /// `{"type":"subscribed","topic":…,"seq":N,"question_id":…,"answer_count":N}`; the last
    /// two only on question topics (`answer_count` when given).
    pub fn subscribed(topic: &Topic, seq: i64, answer_count: Option<i64>) -> String {
        wire(&Wire::Subscribed { topic, seq, question_id: topic.question_id(), answer_count })
    }

    /// `{"type":"answer","topic":"question:<id>","seq":N,"question_id":…,"answer":{…}}`,
    /// where `seq` is the answer's.
    pub fn answer(answer: &Answer) -> String {
        let topic = Topic::Question(answer.question_id);
        wire(&Wire::Answer { topic: &topic, seq: answer.seq, question_id: Some(answer.question_id), answer })
    }

    /// `{"type":"unsubscribed","topic":…,"seq":N,"question_id":…}`, where `seq` is the last
    /// seq sent on the topic to this connection.
    pub fn unsubscribed(topic: &Topic, seq: i64) -> String {
        wire(&Wire::Unsubscribed { topic, seq: Some(seq), question_id: topic.question_id() })
    }

    /// `{"type":"error","code":…,"message":…,"topic":…,"question_id":…}`; the last two only
    /// when the error concerns a topic.
    pub fn error(err: &ProtocolError) -> String {
        wire(&Wire::error(err))
    }

    /// `{"type":"authenticated","user_id":…,"name":…}`.
    pub fn authenticated(user_id: Uuid, name: &str) -> String {
        wire(&Wire::Authenticated { user_id, name })
    }

    pub(super) fn wire(wire: &Wire<'_>) -> String {
        // Plain structs with string keys and infallible field types: this cannot fail.
        serde_json::to_string(wire).expect("server messages always serialise")
    }
}

/// The wire form of the messages this crate knows, borrowing what it writes.
#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Wire<'a> {
    Subscribed {
        topic: &'a Topic,
        seq: i64,
        #[serde(skip_serializing_if = "Option::is_none")]
        question_id: Option<Uuid>,
        #[serde(skip_serializing_if = "Option::is_none")]
        answer_count: Option<i64>,
    },
    Answer {
        topic: &'a Topic,
        seq: i64,
        #[serde(skip_serializing_if = "Option::is_none")]
        question_id: Option<Uuid>,
        answer: &'a Answer,
    },
    Unsubscribed {
        topic: &'a Topic,
        #[serde(skip_serializing_if = "Option::is_none")]
        seq: Option<i64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        question_id: Option<Uuid>,
    },
    Authenticated {
        user_id: Uuid,
        name: &'a str,
    },
    Score {
        topic: &'a Topic,
        seq: i64,
        post_kind: PostKind,
        post_id: Uuid,
        score: i64,
    },
    Accept {
        topic: &'a Topic,
        seq: i64,
        answer_id: Uuid,
    },
    Unaccept {
        topic: &'a Topic,
        seq: i64,
        answer_id: Uuid,
    },
    Error {
        code: &'a ErrorCode,
        message: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        topic: Option<&'a Topic>,
        #[serde(skip_serializing_if = "Option::is_none")]
        question_id: Option<Uuid>,
    },
}

impl<'a> Wire<'a> {
    fn error(err: &'a ProtocolError) -> Self {
        Wire::Error {
            code: &err.code,
            message: &err.message,
            topic: err.topic.as_ref(),
            question_id: err.topic.as_ref().and_then(Topic::question_id),
        }
    }
}

/// The wire form of the events of a post's life: `type`, `topic` and `seq`, then the event's
/// own fields at the same level.
#[derive(Serialize, Deserialize)]
struct Envelope<'a, T> {
    #[serde(rename = "type", skip_deserializing, default)]
    kind: &'a str,
    topic: Topic,
    seq: i64,
    #[serde(flatten)]
    body: T,
}

impl<'a, T> Envelope<'a, T> {
    fn new(kind: &'a str, topic: &Topic, seq: i64, body: T) -> Self {
        Self { kind, topic: *topic, seq, body }
    }
}

#[derive(Serialize, Deserialize)]
struct CommentBody<C> {
    comment: C,
}

#[derive(Serialize, Deserialize)]
struct InboxBody<E> {
    unread: i64,
    entry: E,
}

#[derive(Serialize, Deserialize)]
struct ReadBody<I> {
    unread: i64,
    entry_ids: I,
}

#[derive(Serialize, Deserialize)]
struct RevokedBody<C> {
    credential: C,
}

#[derive(Serialize, Deserialize)]
struct QuestionBody<Q> {
    question: Q,
}

#[derive(Serialize, Deserialize)]
struct QuestionDeleteBody {
    question_id: Uuid,
}

#[derive(Serialize, Deserialize)]
struct CommentDeleteBody {
    comment_id: Uuid,
    #[serde(flatten)]
    post: PostId,
}

/// Why a server frame could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    message: String,
}

impl DecodeError {
    fn new(message: impl Into<String>) -> Self {
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
trait Source {
    fn typed<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error>;
    fn value(self) -> Result<Value, serde_json::Error>;
}

struct Text<'a>(&'a str);

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

#[derive(Deserialize)]
struct SubscribedIn {
    topic: Option<Topic>,
    question_id: Option<Uuid>,
    seq: Option<i64>,
    answer_count: Option<i64>,
}

#[derive(Deserialize)]
struct AnswerIn {
    topic: Option<Topic>,
    question_id: Option<Uuid>,
    seq: Option<i64>,
    answer: Answer,
}

#[derive(Deserialize)]
struct UnsubscribedIn {
    topic: Option<Topic>,
    question_id: Option<Uuid>,
    seq: Option<i64>,
}

/// What a score (and later an edit or a delete) is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PostKind {
    Question,
    Answer,
}

#[derive(Deserialize)]
struct ScoreIn {
    topic: Topic,
    seq: i64,
    post_kind: PostKind,
    post_id: Uuid,
    score: i64,
}

#[derive(Deserialize)]
struct AcceptIn {
    topic: Topic,
    seq: i64,
    answer_id: Uuid,
}

#[derive(Deserialize)]
struct AuthenticatedIn {
    user_id: Uuid,
    #[serde(default)]
    name: String,
}

#[derive(Deserialize)]
struct ErrorIn {
    code: ErrorCode,
    #[serde(default)]
    message: String,
    topic: Option<Topic>,
    question_id: Option<Uuid>,
}

fn decode(source: impl Source) -> Result<ServerMessage, DecodeError> {
    let Head { kind } = source.typed()?;
    Ok(match kind.as_str() {
        "subscribed" => {
            let m: SubscribedIn = source.typed()?;
            let topic = target(m.topic, m.question_id)?;
            let seq = m.seq.or(m.answer_count).ok_or_else(|| DecodeError::new("subscribed without seq"))?;
            ServerMessage::Subscribed { topic, seq, answer_count: m.answer_count }
        }
        "answer" => {
            let m: AnswerIn = source.typed()?;
            let topic = target(m.topic, m.question_id.or(Some(m.answer.question_id)))?;
            ServerMessage::Answer { topic, seq: m.seq.unwrap_or(m.answer.seq), answer: m.answer }
        }
        "unsubscribed" => {
            let m: UnsubscribedIn = source.typed()?;
            ServerMessage::Unsubscribed { topic: target(m.topic, m.question_id)?, seq: m.seq }
        }
        "score" => {
            let m: ScoreIn = source.typed()?;
            ServerMessage::Score {
                topic: m.topic,
                seq: m.seq,
                post_kind: m.post_kind,
                post_id: m.post_id,
                score: m.score,
            }
        }
        "accept" => {
            let m: AcceptIn = source.typed()?;
            ServerMessage::Accept { topic: m.topic, seq: m.seq, answer_id: m.answer_id }
        }
        "unaccept" => {
            let m: AcceptIn = source.typed()?;
            ServerMessage::Unaccept { topic: m.topic, seq: m.seq, answer_id: m.answer_id }
        }
        "edit" => {
            let m: Envelope<Edit> = source.typed()?;
            ServerMessage::Edit { topic: m.topic, seq: m.seq, edit: m.body }
        }
        "delete" => {
            let m: Envelope<PostId> = source.typed()?;
            ServerMessage::Delete { topic: m.topic, seq: m.seq, post: m.body }
        }
        "comment" => {
            let m: Envelope<CommentBody<Comment>> = source.typed()?;
            ServerMessage::Comment { topic: m.topic, seq: m.seq, comment: m.body.comment }
        }
        "comment-delete" => {
            let m: Envelope<CommentDeleteBody> = source.typed()?;
            ServerMessage::CommentDelete {
                topic: m.topic,
                seq: m.seq,
                comment_id: m.body.comment_id,
                post: m.body.post,
            }
        }
        "redacted" => {
            let m: Envelope<serde::de::IgnoredAny> = source.typed()?;
            ServerMessage::Redacted { topic: m.topic, seq: m.seq }
        }
        "inbox" => {
            let m: Envelope<InboxBody<InboxEntry>> = source.typed()?;
            ServerMessage::Inbox { topic: m.topic, seq: m.seq, unread: m.body.unread, entry: m.body.entry }
        }
        "read" => {
            let m: Envelope<ReadBody<Vec<Uuid>>> = source.typed()?;
            ServerMessage::Read {
                topic: m.topic,
                seq: m.seq,
                unread: m.body.unread,
                entry_ids: m.body.entry_ids,
            }
        }
        "revoked" => {
            let m: Envelope<RevokedBody<String>> = source.typed()?;
            ServerMessage::Revoked { topic: m.topic, seq: m.seq, credential: m.body.credential }
        }
        "question" => {
            let m: Envelope<QuestionBody<QuestionSummary>> = source.typed()?;
            ServerMessage::Question { topic: m.topic, seq: m.seq, question: m.body.question }
        }
        "question-delete" => {
            let m: Envelope<QuestionDeleteBody> = source.typed()?;
            ServerMessage::QuestionDelete { topic: m.topic, seq: m.seq, question_id: m.body.question_id }
        }
        "authenticated" => {
            let m: AuthenticatedIn = source.typed()?;
            ServerMessage::Authenticated { user_id: m.user_id, name: m.name }
        }
        "error" => {
            let m: ErrorIn = source.typed()?;
            ServerMessage::Error(ProtocolError {
                code: m.code,
                message: m.message,
                topic: m.topic.or(m.question_id.map(Topic::Question)),
            })
        }
        _ => {
            let raw = source.value()?;
            let topic = raw.get("topic").and_then(Value::as_str).and_then(|t| t.parse::<Topic>().ok());
            match (topic, raw.get("seq").and_then(Value::as_i64)) {
                (Some(topic), Some(seq)) => ServerMessage::UnknownEvent { kind, topic, seq, raw },
                _ => ServerMessage::Unknown { kind, raw },
            }
        }
    })
}

/// The topic of a known message: `topic`, or the question of `question_id` from older servers.
fn target(topic: Option<Topic>, question_id: Option<Uuid>) -> Result<Topic, DecodeError> {
    match (topic, question_id) {
        (Some(topic), Some(id)) if topic != Topic::Question(id) => {
            Err(DecodeError::new(format!("topic {topic} and question_id {id} disagree")))
        }
        (Some(topic), _) => Ok(topic),
        (None, Some(id)) => Ok(Topic::Question(id)),
        (None, None) => Err(DecodeError::new("no topic")),
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};
    use serde_json::json;

    use super::*;

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
            author: "bob".into(),
            author_id: None,
            created_at: Utc.with_ymd_and_hms(2026, 11, 24, 18, 19, 12).unwrap(),
        }
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
            editor: "ann".into(),
            editor_id: None,
            edited_at: at,
        };
        let comment = Comment {
            id: Q.parse().unwrap(),
            post_kind: PostKind::Answer,
            post_id: A.parse().unwrap(),
            body: "Why?".into(),
            author: "cy".into(),
            author_id: None,
            created_at: at,
        };
        let messages = [
            ServerMessage::Edit { topic: q(), seq: 3, edit },
            ServerMessage::Delete { topic: q(), seq: 4, post },
            ServerMessage::Comment { topic: q(), seq: 5, comment },
            ServerMessage::CommentDelete { topic: q(), seq: 6, comment_id: Q.parse().unwrap(), post },
            ServerMessage::Redacted { topic: q(), seq: 7 },
            ServerMessage::Inbox {
                topic: Topic::User(A.parse().unwrap()),
                seq: 1,
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
                },
            },
            ServerMessage::Read {
                topic: Topic::User(A.parse().unwrap()),
                seq: 2,
                unread: 0,
                entry_ids: vec![A.parse().unwrap()],
            },
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
        };
        let asked = ServerMessage::Question { topic: Topic::Questions, seq: 1, question };
        assert_eq!(
            asked.encode(),
            format!(
                r#"{{"type":"question","topic":"questions","seq":1,"question":{{"id":"{Q}","title":"How do I test?","author":"ann","author_id":"{A}","created_at":"2026-11-25T09:00:00Z"}}}}"#
            )
        );
        let deleted = ServerMessage::QuestionDelete {
            topic: Topic::Questions,
            seq: 2,
            question_id: Q.parse().unwrap(),
        };
        assert_eq!(
            deleted.encode(),
            format!(r#"{{"type":"question-delete","topic":"questions","seq":2,"question_id":"{Q}"}}"#)
        );
        let redacted = ServerMessage::Redacted { topic: Topic::Questions, seq: 1 };
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
                r#"{{"type":"answer","topic":"question:{Q}","seq":3,"question_id":"{Q}","answer":{{"id":"{A}","question_id":"{Q}","seq":3,"body":"Use a lock.","author":"bob","author_id":null,"created_at":"2026-11-24T18:19:12Z"}}}}"#
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
        let score = ServerMessage::Score {
            topic: q(),
            seq: 4,
            post_kind: PostKind::Answer,
            post_id: A.parse().unwrap(),
            score: -2,
        };
        assert_eq!(
            score.encode(),
            format!(
                r#"{{"type":"score","topic":"question:{Q}","seq":4,"post_kind":"answer","post_id":"{A}","score":-2}}"#
            )
        );
        round_trip(&score);
        assert_eq!(score.event(), Some((q(), 4)));
        let accept = ServerMessage::Accept { topic: q(), seq: 5, answer_id: A.parse().unwrap() };
        assert_eq!(
            accept.encode(),
            format!(r#"{{"type":"accept","topic":"question:{Q}","seq":5,"answer_id":"{A}"}}"#)
        );
        round_trip(&accept);
        let unaccept = ServerMessage::Unaccept { topic: q(), seq: 6, answer_id: A.parse().unwrap() };
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
