//! The server's half of the wire format: domain events and session replies become JSON text
//! frames, with the message types of the `qa-hub-protocol` crate (which clients decode with),
//! so server and clients cannot disagree. Every message about a topic carries `topic` and
//! `seq` at its top level; docs/protocol.md has the shapes.

use bytestring::ByteString;
use qa_hub_protocol::{
    Answer as WireAnswer, Comment as WireComment, Edit as WireEdit, EventBody, EventFrame,
    InboxEntry as WireInboxEntry, PostId, QuestionSummary as WireQuestion, ServerMessage, encode,
};

pub use qa_hub_protocol::{ClientMessage, ErrorCode, ProtocolError, parse};

use crate::domain::{CredentialId, Event, EventKind, Identity, PostRef, Topic, TopicHead};

fn wire_post(post: PostRef) -> PostId {
    PostId { post_kind: post.kind, post_id: post.id }
}

/// The reply to an `auth` message that checked out.
pub fn authenticated(identity: &Identity) -> ByteString {
    encode::authenticated(identity.user_id, identity.name.as_str()).into()
}

/// An event's frame: encoded once per event, whatever the number of subscribers.
pub fn event(event: &Event) -> ByteString {
    let (topic, seq) = (event.topic, event.seq);
    let body = match &event.kind {
        EventKind::Answer(a) => EventBody::Answer {
            answer: WireAnswer {
                id: a.id,
                question_id: a.question_id,
                seq: a.seq,
                body: a.body.clone(),
                body_html: a.body_html.clone(),
                author: a.author.clone(),
                author_id: a.author_id,
                created_at: a.created_at,
            },
        },
        EventKind::Score { post, score } => {
            EventBody::Score { post_kind: post.kind, post_id: post.id, score: *score }
        }
        EventKind::Accept { answer_id } => EventBody::Accept { answer_id: *answer_id },
        EventKind::Unaccept { answer_id } => EventBody::Unaccept { answer_id: *answer_id },
        EventKind::Edit(r) => EventBody::Edit(WireEdit {
            post_kind: r.post.kind,
            post_id: r.post.id,
            revision: r.revision,
            title: r.title.clone(),
            body: r.body.clone(),
            body_html: r.body_html.clone(),
            tags: r.tags.clone(),
            editor: r.editor.clone(),
            editor_id: r.editor_id,
            edited_at: r.created_at,
        }),
        EventKind::Delete { post } => EventBody::Delete(wire_post(*post)),
        EventKind::Comment(c) => EventBody::Comment {
            comment: WireComment {
                id: c.id,
                post_kind: c.post.kind,
                post_id: c.post.id,
                body: c.body.clone(),
                body_html: c.body_html.clone(),
                author: c.author.clone(),
                author_id: c.author_id,
                created_at: c.created_at,
            },
        },
        EventKind::CommentDelete { comment_id, post } => {
            EventBody::CommentDelete { comment_id: *comment_id, post: wire_post(*post) }
        }
        EventKind::Question(q) => EventBody::Question {
            question: WireQuestion {
                id: q.id,
                title: q.title.clone(),
                author: q.author.clone(),
                author_id: q.author_id,
                created_at: q.created_at,
                tags: q.tags.clone(),
            },
        },
        EventKind::QuestionDelete { question_id } => EventBody::QuestionDelete { question_id: *question_id },
        EventKind::Redacted => EventBody::Redacted,
        EventKind::Inbox { entry, unread } => EventBody::Inbox {
            unread: *unread,
            entry: WireInboxEntry {
                id: entry.id,
                reason: entry.reason.clone(),
                question_id: entry.question_id,
                title: entry.title.clone(),
                count: entry.count,
                actor: entry.actor.clone(),
                ref_id: entry.ref_id,
                read: entry.read,
                updated_at: entry.updated_at,
                tag: entry.tag,
            },
        },
        EventKind::Read { entry_ids, unread } => {
            EventBody::Read { unread: *unread, entry_ids: entry_ids.clone() }
        }
        EventKind::Revoked { credential } => EventBody::Revoked { credential: credential.to_string() },
        // A kind this build does not model goes out under its own `type`, with its payload:
        // clients that do not know it skip it and count its seq.
        EventKind::Other { name, payload } => {
            let mut raw = serde_json::json!({"type": name, "topic": topic, "seq": seq});
            if let Some(payload) = payload.as_deref().and_then(|p| serde_json::from_str(p).ok()) {
                raw["payload"] = payload;
            }
            return ServerMessage::UnknownEvent { kind: name.clone(), topic, seq, raw }.encode().into();
        }
    };
    EventFrame { topic, seq, body }.encode().into()
}

/// The credential a `revoked` event's frame names; `None` for any other frame. Cheap for the
/// others: only a frame that starts as a `revoked` event is decoded.
pub fn revoked_credential(frame: &str) -> Option<CredentialId> {
    if !frame.starts_with(r#"{"type":"revoked""#) {
        return None;
    }
    match ServerMessage::decode(frame) {
        Ok(ServerMessage::Event(EventFrame { body: EventBody::Revoked { credential }, .. })) => {
            CredentialId::parse(&credential)
        }
        _ => None,
    }
}

pub fn subscribed(topic: Topic, head: TopicHead) -> ByteString {
    encode::subscribed(&topic, head.seq, head.answer_count).into()
}

pub fn unsubscribed(topic: Topic, seq: i64) -> ByteString {
    encode::unsubscribed(&topic, seq).into()
}

pub fn refused(error: &ProtocolError) -> ByteString {
    error.encode().into()
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use uuid::Uuid;

    use super::*;
    use crate::domain::Answer;

    /// What the server encodes, the client crate's decoder reads back the same.
    #[test]
    fn events_round_trip_through_the_protocol_crate() {
        let q = Uuid::now_v7();
        let topic = Topic::Question(q);
        let answer = Answer {
            id: Uuid::now_v7(),
            question_id: q,
            seq: 3,
            body: "b".into(),
            body_html: "<p>b</p>\n".into(),
            author: "a".into(),
            author_id: Some(Uuid::now_v7()),
            created_at: Utc::now(),
            score: 0,
            revision: 1,
            edited_at: None,
        };
        let frame = event(&Event { topic, seq: 4, kind: EventKind::Answer(answer.clone()) });
        match ServerMessage::decode(&frame).unwrap() {
            ServerMessage::Event(EventFrame { topic: t, seq, body: EventBody::Answer { answer: a } }) => {
                assert_eq!(
                    (t, seq, a.seq, a.body.as_str(), a.body_html.as_str()),
                    (topic, 4, 3, "b", "<p>b</p>\n"),
                    "event seq and answer number differ here"
                );
            }
            other => panic!("{other:?}"),
        }
        let other = event(&Event {
            topic,
            seq: 5,
            kind: EventKind::Other { name: "vote".into(), payload: Some(r#"{"score":2}"#.into()) },
        });
        match ServerMessage::decode(&other).unwrap() {
            ServerMessage::UnknownEvent { kind, topic: t, seq, raw } => {
                assert_eq!(
                    (kind.as_str(), t, seq, raw["payload"]["score"].as_i64()),
                    ("vote", topic, 5, Some(2))
                );
            }
            other => panic!("{other:?}"),
        }
        let head = TopicHead { seq: 5, answer_count: Some(3) };
        assert_eq!(
            ServerMessage::decode(&subscribed(topic, head)).unwrap(),
            ServerMessage::Subscribed { topic, seq: 5, answer_count: Some(3) }
        );
    }
}
