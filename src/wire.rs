//! The server's half of the wire format: domain events and session replies become JSON text
//! frames, with the message types of the `qa-hub-protocol` crate (which clients decode with),
//! so server and clients cannot disagree. Every message about a topic carries `topic` and
//! `seq` at its top level; docs/protocol.md has the shapes.

use bytestring::ByteString;
use qa_hub_protocol::{
    Answer as WireAnswer, Comment as WireComment, Edit as WireEdit, InboxEntry as WireInboxEntry, PostId,
    PostKind as WirePostKind, QuestionSummary as WireQuestion, ServerMessage, encode,
};

pub use qa_hub_protocol::{ClientMessage, ErrorCode, ProtocolError, parse};

use crate::domain::{Answer, CredentialId, Event, EventKind, Identity, PostKind, PostRef, Topic, TopicHead};

fn wire_answer(a: &Answer) -> WireAnswer {
    WireAnswer {
        id: a.id,
        question_id: a.question_id,
        seq: a.seq,
        body: a.body.clone(),
        author: a.author.clone(),
        author_id: a.author_id,
        created_at: a.created_at,
    }
}

pub fn wire_post_kind(kind: PostKind) -> WirePostKind {
    match kind {
        PostKind::Question => WirePostKind::Question,
        PostKind::Answer => WirePostKind::Answer,
    }
}

fn wire_post(post: PostRef) -> PostId {
    PostId { post_kind: wire_post_kind(post.kind), post_id: post.id }
}

/// The reply to an `auth` message that checked out.
pub fn authenticated(identity: &Identity) -> ByteString {
    encode::authenticated(identity.user_id, identity.name.as_str()).into()
}

/// An event's frame: encoded once per event, whatever the number of subscribers.
pub fn event(event: &Event) -> ByteString {
    let (topic, seq) = (event.topic, event.seq);
    match &event.kind {
        EventKind::Answer(answer) => {
            ServerMessage::Answer { topic, seq, answer: wire_answer(answer) }.encode().into()
        }
        EventKind::Score { post, score } => ServerMessage::Score {
            topic,
            seq,
            post_kind: wire_post_kind(post.kind),
            post_id: post.id,
            score: *score,
        }
        .encode()
        .into(),
        EventKind::Accept { answer_id } => {
            ServerMessage::Accept { topic, seq, answer_id: *answer_id }.encode().into()
        }
        EventKind::Unaccept { answer_id } => {
            ServerMessage::Unaccept { topic, seq, answer_id: *answer_id }.encode().into()
        }
        EventKind::Edit(r) => ServerMessage::Edit {
            topic,
            seq,
            edit: WireEdit {
                post_kind: wire_post_kind(r.post.kind),
                post_id: r.post.id,
                revision: r.revision,
                title: r.title.clone(),
                body: r.body.clone(),
                editor: r.editor.clone(),
                editor_id: r.editor_id,
                edited_at: r.created_at,
            },
        }
        .encode()
        .into(),
        EventKind::Delete { post } => {
            ServerMessage::Delete { topic, seq, post: wire_post(*post) }.encode().into()
        }
        EventKind::Comment(c) => ServerMessage::Comment {
            topic,
            seq,
            comment: WireComment {
                id: c.id,
                post_kind: wire_post_kind(c.post.kind),
                post_id: c.post.id,
                body: c.body.clone(),
                author: c.author.clone(),
                author_id: c.author_id,
                created_at: c.created_at,
            },
        }
        .encode()
        .into(),
        EventKind::CommentDelete { comment_id, post } => {
            ServerMessage::CommentDelete { topic, seq, comment_id: *comment_id, post: wire_post(*post) }
                .encode()
                .into()
        }
        EventKind::Question(q) => ServerMessage::Question {
            topic,
            seq,
            question: WireQuestion {
                id: q.id,
                title: q.title.clone(),
                author: q.author.clone(),
                author_id: q.author_id,
                created_at: q.created_at,
            },
        }
        .encode()
        .into(),
        EventKind::QuestionDelete { question_id } => {
            ServerMessage::QuestionDelete { topic, seq, question_id: *question_id }.encode().into()
        }
        EventKind::Redacted => ServerMessage::Redacted { topic, seq }.encode().into(),
        EventKind::Inbox { entry, unread } => ServerMessage::Inbox {
            topic,
            seq,
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
            },
        }
        .encode()
        .into(),
        EventKind::Read { entry_ids, unread } => {
            ServerMessage::Read { topic, seq, unread: *unread, entry_ids: entry_ids.clone() }.encode().into()
        }
        EventKind::Revoked { credential } => {
            ServerMessage::Revoked { topic, seq, credential: credential.to_string() }.encode().into()
        }
        // A kind this build does not model goes out under its own `type`, with its payload:
        // clients that do not know it skip it and count its seq.
        EventKind::Other { name, payload } => {
            let mut raw = serde_json::json!({"type": name, "topic": topic, "seq": seq});
            if let Some(payload) = payload.as_deref().and_then(|p| serde_json::from_str(p).ok()) {
                raw["payload"] = payload;
            }
            ServerMessage::UnknownEvent { kind: name.clone(), topic, seq, raw }.encode().into()
        }
    }
}

/// The credential a `revoked` event's frame names; `None` for any other frame. Cheap for the
/// others: only a frame that starts as a `revoked` event is decoded.
pub fn revoked_credential(frame: &str) -> Option<CredentialId> {
    if !frame.starts_with(r#"{"type":"revoked""#) {
        return None;
    }
    match ServerMessage::decode(frame) {
        Ok(ServerMessage::Revoked { credential, .. }) => CredentialId::parse(&credential),
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
            author: "a".into(),
            author_id: Some(Uuid::now_v7()),
            created_at: Utc::now(),
            score: 0,
            revision: 1,
            edited_at: None,
        };
        let frame = event(&Event { topic, seq: 4, kind: EventKind::Answer(answer.clone()) });
        match ServerMessage::decode(&frame).unwrap() {
            ServerMessage::Answer { topic: t, seq, answer: a } => {
                assert_eq!(
                    (t, seq, a.seq, a.body.as_str()),
                    (topic, 4, 3, "b"),
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
