//! Events: the messages that take the next seq of their topic. One frame type for all of them
//! ([`EventFrame`]: topic, seq and a body) and one enum of bodies ([`EventBody`], tagged by
//! `type`), so that a new kind of event is one new variant.
//!
//! On the wire an event is one flat object: `type` first, then `topic` and `seq`, then the
//! body's own fields:
//!
//! ```text
//! {"type":"score","topic":"question:<id>","seq":4,"post_kind":"answer","post_id":"<id>","score":2}
//! ```

use serde::{
    Deserialize, Serialize, Serializer,
    ser::{self, Impossible, SerializeMap, SerializeStruct},
};
use uuid::Uuid;

use super::legacy;
use crate::{Answer, Comment, Edit, InboxEntry, PostId, PostKind, QuestionSummary, Topic};

/// An event as it is sent: its topic, its seq in that topic, and what happened.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct EventFrame {
    pub topic: Topic,
    /// The event's place in its topic: 1, 2, 3, … with no gaps, in commit order.
    pub seq: i64,
    #[serde(flatten)]
    pub body: EventBody,
}

/// What happened, by kind; its `type` on the wire is the variant's name in kebab case. The
/// fields of a variant are written at the top level of the frame, beside `topic` and `seq`.
///
/// Adding a kind: add a variant here (a struct variant, or a newtype of a struct whose fields
/// go to the top level), and a row for it in `tests/wire_format.rs`. Clients built before it
/// decode it as [`ServerMessage::UnknownEvent`](crate::ServerMessage::UnknownEvent): they
/// skip it and count its seq.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum EventBody {
    /// An answer, sent once it is committed. The frame's `seq` is the event's; the answer's
    /// own `seq` is its number among the question's answers (the two may differ).
    Answer { answer: Answer },
    /// A post's score changed: `score` is its new absolute score (never a delta), so a client
    /// that skipped earlier score events still shows the truth.
    Score { post_kind: PostKind, post_id: Uuid, score: i64 },
    /// The asker accepted this answer.
    Accept { answer_id: Uuid },
    /// The asker withdrew the acceptance of this answer (or accepted another: its `accept`
    /// follows at the next seq).
    Unaccept { answer_id: Uuid },
    /// A post was edited: its whole new text and revision number.
    Edit(Edit),
    /// A post was deleted: remove it (and, for an answer, its comments) from what is shown.
    Delete(PostId),
    /// A comment was added.
    Comment { comment: Comment },
    /// A comment was deleted: remove it.
    CommentDelete {
        comment_id: Uuid,
        #[serde(flatten)]
        post: PostId,
    },
    /// An event whose content was deleted after it happened (sent on resume): count its seq,
    /// nothing else.
    Redacted,
    /// An inbox entry is new or changed (a user topic): show it as it now stands. `unread`
    /// is the inbox's unread count after the change, counted by the server (never a delta).
    Inbox { unread: i64, entry: InboxEntry },
    /// Inbox entries were marked read (a user topic), on this or another device; `unread`
    /// as for `Inbox`.
    Read { unread: i64, entry_ids: Vec<Uuid> },
    /// One of the user's credentials was revoked (a user topic): a service token, or a log-in
    /// session that logged out. `credential` is an opaque id of it; a connection that rests on
    /// it has its private subscriptions ended right after this event.
    Revoked { credential: String },
    /// A question was asked (on the topic `questions`): its summary, for the list.
    Question { question: QuestionSummary },
    /// A question was deleted (on the topic `questions`): remove it from the list.
    QuestionDelete { question_id: Uuid },
}

impl EventFrame {
    /// The `answer` event for a stored answer: its topic is its question's, its seq its own.
    pub fn answer(answer: Answer) -> Self {
        Self {
            topic: Topic::Question(answer.question_id),
            seq: answer.seq,
            body: EventBody::Answer { answer },
        }
    }

    /// The frame as one JSON text, to be encoded once per event and shared by every subscriber.
    pub fn encode(&self) -> String {
        // Derived serialisations with string keys and infallible field types: this cannot fail.
        serde_json::to_string(self).expect("events always serialise")
    }
}

/// `type` first, then the frame's header, then the body's fields: the order servers have
/// always written (and that `wire::revoked_credential` on the server relies on). Serde's own
/// flattening would put the tag after `topic` and `seq`, so the body is serialised through
/// [`HeaderAfterTag`], which writes the header right after the tag serde writes first.
impl Serialize for EventFrame {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let header = Header {
            topic: &self.topic,
            seq: self.seq,
            question_id: match self.body {
                EventBody::Answer { .. } => legacy::question_id(&self.topic),
                _ => None,
            },
        };
        self.body.serialize(HeaderAfterTag { inner: serializer, header })
    }
}

/// The fields every event has, and the legacy `question_id` that `answer` events carry.
struct Header<'a> {
    topic: &'a Topic,
    seq: i64,
    question_id: Option<Uuid>,
}

impl Header<'_> {
    /// How many fields the header adds.
    fn len(&self) -> usize {
        2 + usize::from(self.question_id.is_some())
    }
}

/// A serialiser for an internally tagged enum that passes everything on to `inner` and, right
/// after the first field (the tag: serde writes it before any other), writes the header.
/// Internally tagged enums only ever serialise as a struct or a map (a unit variant is a
/// struct holding just the tag), so every other shape is refused.
struct HeaderAfterTag<'a, S> {
    inner: S,
    header: Header<'a>,
}

/// The struct or map being written, and the header until it is written.
struct AfterTag<'a, C> {
    inner: C,
    header: Option<Header<'a>>,
}

impl<C: SerializeStruct> SerializeStruct for AfterTag<'_, C> {
    type Ok = C::Ok;
    type Error = C::Error;

    fn serialize_field<T: ?Sized + Serialize>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), C::Error> {
        self.inner.serialize_field(key, value)?;
        if let Some(header) = self.header.take() {
            self.inner.serialize_field("topic", header.topic)?;
            self.inner.serialize_field("seq", &header.seq)?;
            if let Some(id) = header.question_id {
                self.inner.serialize_field("question_id", &id)?;
            }
        }
        Ok(())
    }

    fn end(self) -> Result<C::Ok, C::Error> {
        self.inner.end()
    }
}

impl<C: SerializeMap> SerializeMap for AfterTag<'_, C> {
    type Ok = C::Ok;
    type Error = C::Error;

    fn serialize_key<T: ?Sized + Serialize>(&mut self, key: &T) -> Result<(), C::Error> {
        self.inner.serialize_key(key)
    }

    fn serialize_value<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), C::Error> {
        self.inner.serialize_value(value)?;
        if let Some(header) = self.header.take() {
            self.inner.serialize_entry("topic", header.topic)?;
            self.inner.serialize_entry("seq", &header.seq)?;
            if let Some(id) = header.question_id {
                self.inner.serialize_entry("question_id", &id)?;
            }
        }
        Ok(())
    }

    fn end(self) -> Result<C::Ok, C::Error> {
        self.inner.end()
    }
}

impl<'a, S: Serializer> Serializer for HeaderAfterTag<'a, S> {
    type Ok = S::Ok;
    type Error = S::Error;
    type SerializeStruct = AfterTag<'a, S::SerializeStruct>;
    type SerializeMap = AfterTag<'a, S::SerializeMap>;
    type SerializeSeq = Impossible<S::Ok, S::Error>;
    type SerializeTuple = Impossible<S::Ok, S::Error>;
    type SerializeTupleStruct = Impossible<S::Ok, S::Error>;
    type SerializeTupleVariant = Impossible<S::Ok, S::Error>;
    type SerializeStructVariant = Impossible<S::Ok, S::Error>;

    fn serialize_struct(self, name: &'static str, len: usize) -> Result<Self::SerializeStruct, S::Error> {
        let len = len + self.header.len();
        Ok(AfterTag { inner: self.inner.serialize_struct(name, len)?, header: Some(self.header) })
    }

    fn serialize_map(self, len: Option<usize>) -> Result<Self::SerializeMap, S::Error> {
        let len = len.map(|len| len + self.header.len());
        Ok(AfterTag { inner: self.inner.serialize_map(len)?, header: Some(self.header) })
    }

    fn serialize_bool(self, _: bool) -> Result<S::Ok, S::Error> {
        Err(not_a_body())
    }
    fn serialize_i8(self, _: i8) -> Result<S::Ok, S::Error> {
        Err(not_a_body())
    }
    fn serialize_i16(self, _: i16) -> Result<S::Ok, S::Error> {
        Err(not_a_body())
    }
    fn serialize_i32(self, _: i32) -> Result<S::Ok, S::Error> {
        Err(not_a_body())
    }
    fn serialize_i64(self, _: i64) -> Result<S::Ok, S::Error> {
        Err(not_a_body())
    }
    fn serialize_u8(self, _: u8) -> Result<S::Ok, S::Error> {
        Err(not_a_body())
    }
    fn serialize_u16(self, _: u16) -> Result<S::Ok, S::Error> {
        Err(not_a_body())
    }
    fn serialize_u32(self, _: u32) -> Result<S::Ok, S::Error> {
        Err(not_a_body())
    }
    fn serialize_u64(self, _: u64) -> Result<S::Ok, S::Error> {
        Err(not_a_body())
    }
    fn serialize_f32(self, _: f32) -> Result<S::Ok, S::Error> {
        Err(not_a_body())
    }
    fn serialize_f64(self, _: f64) -> Result<S::Ok, S::Error> {
        Err(not_a_body())
    }
    fn serialize_char(self, _: char) -> Result<S::Ok, S::Error> {
        Err(not_a_body())
    }
    fn serialize_str(self, _: &str) -> Result<S::Ok, S::Error> {
        Err(not_a_body())
    }
    fn serialize_bytes(self, _: &[u8]) -> Result<S::Ok, S::Error> {
        Err(not_a_body())
    }
    fn serialize_none(self) -> Result<S::Ok, S::Error> {
        Err(not_a_body())
    }
    fn serialize_some<T: ?Sized + Serialize>(self, _: &T) -> Result<S::Ok, S::Error> {
        Err(not_a_body())
    }
    fn serialize_unit(self) -> Result<S::Ok, S::Error> {
        Err(not_a_body())
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<S::Ok, S::Error> {
        Err(not_a_body())
    }
    fn serialize_unit_variant(self, _: &'static str, _: u32, _: &'static str) -> Result<S::Ok, S::Error> {
        Err(not_a_body())
    }
    fn serialize_newtype_struct<T: ?Sized + Serialize>(
        self,
        _: &'static str,
        _: &T,
    ) -> Result<S::Ok, S::Error> {
        Err(not_a_body())
    }
    fn serialize_newtype_variant<T: ?Sized + Serialize>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<S::Ok, S::Error> {
        Err(not_a_body())
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, S::Error> {
        Err(not_a_body())
    }
    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, S::Error> {
        Err(not_a_body())
    }
    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleStruct, S::Error> {
        Err(not_a_body())
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, S::Error> {
        Err(not_a_body())
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, S::Error> {
        Err(not_a_body())
    }
}

/// What [`HeaderAfterTag`] answers a shape an internally tagged enum never takes.
fn not_a_body<E: ser::Error>() -> E {
    E::custom("an event body serialises as a struct or a map")
}
