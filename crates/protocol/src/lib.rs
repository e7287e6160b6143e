//! The qa-hub WebSocket wire format, without I/O: what clients send, what the server sends,
//! the topics they are about and the error codes. The server parses with [`parse`] and
//! encodes events with [`EventFrame::encode`] (one frame type for every kind: topic, seq and an
//! [`EventBody`] tagged by `type`) and its replies with [`encode`]; clients encode
//! [`ClientMessage`]s and decode [`ServerMessage`]s.
//!
//! Each frame is one JSON object in a text frame.
//!
//! # Topics
//!
//! A subscription is to a [`Topic`], written `question:<uuid>` (one question) or `questions`
//! (the list of questions). (`user:<uuid>` will follow.) Each topic's events are numbered by
//! `seq`: 1, 2, 3, … with no gaps, in commit order.
//!
//! # Client → server
//!
//! ```text
//! {"type":"subscribe","topic":"question:<uuid>","after_seq":12}   after_seq optional
//! {"type":"unsubscribe","topic":"question:<uuid>"}
//! ```
//!
//! Still accepted from older clients: `"question_id":"<uuid>"` instead of `topic`. When both
//! are given they must name the same question (else `invalid_topic`). [`ClientMessage::encode`]
//! writes both for question topics, so that servers from before topics understand it too.
//!
//! # Server → client
//!
//! Every message about a topic carries `topic` and `seq` at the top level; question topics
//! also carry `question_id`, as before.
//!
//! ```text
//! {"type":"subscribed","topic":"question:<id>","seq":N,"question_id":"<id>","answer_count":N}
//! {"type":"answer","topic":"question:<id>","seq":N,"question_id":"<id>","answer":{…}}
//! {"type":"question","topic":"questions","seq":N,"question":{"id":…,"title":…,…}}
//! {"type":"question-delete","topic":"questions","seq":N,"question_id":"<id>"}
//! {"type":"unsubscribed","topic":"question:<id>","seq":N,"question_id":"<id>"}
//! {"type":"error","code":"…","message":"…","topic":"question:<id>","question_id":"<id>"}
//! ```
//!
//! - `subscribed`: `seq` is the topic's last seq when the subscription took effect.
//! - `answer`: `answer` is [`Answer`], the object the REST API returns.
//! - `unsubscribed`: `seq` is the last seq sent to this connection on that topic.
//! - `error`: `topic` and `question_id` only when the error concerns a topic; codes in
//!   [`ErrorCode`].
//! - Any other `type` with a `topic` and a `seq` is an event of a kind the client does not
//!   know yet: it must skip it but count its seq, so that resuming with `after_seq` stays
//!   exact ([`ServerMessage::UnknownEvent`]).

mod answer;
mod client;
mod error;
mod inbox;
mod post;
mod question;
mod server;
mod tag;
mod topic;

pub use answer::Answer;
pub use client::{ClientMessage, parse};
pub use error::{ErrorCode, ProtocolError};
pub use inbox::InboxEntry;
pub use post::{Comment, Edit, PostId, PostKind};
pub use question::QuestionSummary;
pub use server::{DecodeError, EventBody, EventFrame, ServerMessage, encode};
pub use tag::{TagError, TagName};
pub use topic::{Topic, TopicError};
