//! The JSON of every server message, pinned byte for byte: field names, which optional fields
//! are present, values and key order. The expected texts were taken from the encoder as it was
//! before the event frame became one type (issue 24), so a change here is a change of the wire
//! format that older clients read, not a refactoring.

use chrono::{DateTime, TimeZone, Utc};
use qa_hub_protocol::{
    Answer, Comment, Edit, ErrorCode, EventBody, EventFrame, InboxEntry, PostId, PostKind, ProtocolError,
    QuestionSummary, ServerMessage, Topic, encode,
};
use uuid::Uuid;

const Q: &str = "01a20ec8-84f7-75e8-b3aa-3953532763ce";
const A: &str = "01a20ec8-8565-7015-b498-6a278b5d24e5";
const U: &str = "01a20ec8-8565-7015-b498-000000000001";

fn q() -> Uuid {
    Q.parse().unwrap()
}

fn a() -> Uuid {
    A.parse().unwrap()
}

fn u() -> Uuid {
    U.parse().unwrap()
}

fn at() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 25, 9, 0, 0).unwrap()
}

fn answer(author_id: Option<Uuid>) -> Answer {
    Answer {
        id: a(),
        question_id: q(),
        seq: 3,
        body: "Use a \"lock\".".into(),
        body_html: "<p>Use a \"lock\".</p>\n".into(),
        author: "bob".into(),
        author_id,
        created_at: at(),
    }
}

fn event(topic: Topic, seq: i64, body: EventBody) -> ServerMessage {
    ServerMessage::Event(EventFrame { topic, seq, body })
}

/// Each message with the exact text the server sends for it.
fn table() -> Vec<(ServerMessage, String)> {
    let qt = Topic::Question(q());
    let ut = Topic::User(u());
    let post = PostId { post_kind: PostKind::Answer, post_id: a() };
    vec![
        (
            ServerMessage::Subscribed { topic: qt, seq: 2, answer_count: Some(2) },
            format!(
                r#"{{"type":"subscribed","topic":"question:{Q}","seq":2,"question_id":"{Q}","answer_count":2}}"#
            ),
        ),
        (
            ServerMessage::Subscribed { topic: qt, seq: 5, answer_count: None },
            format!(r#"{{"type":"subscribed","topic":"question:{Q}","seq":5,"question_id":"{Q}"}}"#),
        ),
        (
            ServerMessage::Subscribed { topic: Topic::Questions, seq: 7, answer_count: None },
            r#"{"type":"subscribed","topic":"questions","seq":7}"#.to_owned(),
        ),
        (
            ServerMessage::Subscribed { topic: ut, seq: 0, answer_count: None },
            format!(r#"{{"type":"subscribed","topic":"user:{U}","seq":0}}"#),
        ),
        (
            event(qt, 3, EventBody::Answer { answer: answer(None) }),
            format!(
                r#"{{"type":"answer","topic":"question:{Q}","seq":3,"question_id":"{Q}","answer":{{"id":"{A}","question_id":"{Q}","seq":3,"body":"Use a \"lock\".","body_html":"<p>Use a \"lock\".</p>\n","author":"bob","author_id":null,"created_at":"2026-11-25T09:00:00Z"}}}}"#
            ),
        ),
        (
            event(qt, 9, EventBody::Answer { answer: answer(Some(u())) }),
            format!(
                r#"{{"type":"answer","topic":"question:{Q}","seq":9,"question_id":"{Q}","answer":{{"id":"{A}","question_id":"{Q}","seq":3,"body":"Use a \"lock\".","body_html":"<p>Use a \"lock\".</p>\n","author":"bob","author_id":"{U}","created_at":"2026-11-25T09:00:00Z"}}}}"#
            ),
        ),
        (
            event(qt, 4, EventBody::Score { post_kind: PostKind::Answer, post_id: a(), score: -2 }),
            format!(
                r#"{{"type":"score","topic":"question:{Q}","seq":4,"post_kind":"answer","post_id":"{A}","score":-2}}"#
            ),
        ),
        (
            event(qt, 5, EventBody::Score { post_kind: PostKind::Question, post_id: q(), score: 1 }),
            format!(
                r#"{{"type":"score","topic":"question:{Q}","seq":5,"post_kind":"question","post_id":"{Q}","score":1}}"#
            ),
        ),
        (
            event(qt, 6, EventBody::Accept { answer_id: a() }),
            format!(r#"{{"type":"accept","topic":"question:{Q}","seq":6,"answer_id":"{A}"}}"#),
        ),
        (
            event(qt, 7, EventBody::Unaccept { answer_id: a() }),
            format!(r#"{{"type":"unaccept","topic":"question:{Q}","seq":7,"answer_id":"{A}"}}"#),
        ),
        (
            event(
                qt,
                8,
                EventBody::Edit(Edit {
                    post_kind: PostKind::Question,
                    post_id: q(),
                    revision: 2,
                    title: Some("New title".into()),
                    body: "b".into(),
                    body_html: "<p>b</p>\n".into(),
                    tags: None,
                    editor: "ann".into(),
                    editor_id: Some(u()),
                    edited_at: at(),
                }),
            ),
            format!(
                r#"{{"type":"edit","topic":"question:{Q}","seq":8,"post_kind":"question","post_id":"{Q}","revision":2,"title":"New title","body":"b","body_html":"<p>b</p>\n","editor":"ann","editor_id":"{U}","edited_at":"2026-11-25T09:00:00Z"}}"#
            ),
        ),
        (
            event(
                qt,
                9,
                EventBody::Edit(Edit {
                    post_kind: PostKind::Answer,
                    post_id: a(),
                    revision: 3,
                    title: None,
                    body: "b2".into(),
                    body_html: "<p><em>b2</em></p>\n".into(),
                    tags: None,
                    editor: "ann".into(),
                    editor_id: None,
                    edited_at: at(),
                }),
            ),
            format!(
                r#"{{"type":"edit","topic":"question:{Q}","seq":9,"post_kind":"answer","post_id":"{A}","revision":3,"body":"b2","body_html":"<p><em>b2</em></p>\n","editor":"ann","editor_id":null,"edited_at":"2026-11-25T09:00:00Z"}}"#
            ),
        ),
        (
            event(qt, 10, EventBody::Delete(post)),
            format!(
                r#"{{"type":"delete","topic":"question:{Q}","seq":10,"post_kind":"answer","post_id":"{A}"}}"#
            ),
        ),
        (
            event(
                qt,
                11,
                EventBody::Comment {
                    comment: Comment {
                        id: u(),
                        post_kind: PostKind::Answer,
                        post_id: a(),
                        body: "Why?".into(),
                        body_html: "Why <code>x</code>?".into(),
                        author: "cy".into(),
                        author_id: None,
                        created_at: at(),
                    },
                },
            ),
            format!(
                r#"{{"type":"comment","topic":"question:{Q}","seq":11,"comment":{{"id":"{U}","post_kind":"answer","post_id":"{A}","body":"Why?","body_html":"Why <code>x</code>?","author":"cy","author_id":null,"created_at":"2026-11-25T09:00:00Z"}}}}"#
            ),
        ),
        (
            event(qt, 12, EventBody::CommentDelete { comment_id: u(), post }),
            format!(
                r#"{{"type":"comment-delete","topic":"question:{Q}","seq":12,"comment_id":"{U}","post_kind":"answer","post_id":"{A}"}}"#
            ),
        ),
        (
            event(qt, 13, EventBody::Redacted),
            format!(r#"{{"type":"redacted","topic":"question:{Q}","seq":13}}"#),
        ),
        (
            event(Topic::Questions, 1, EventBody::Redacted),
            r#"{"type":"redacted","topic":"questions","seq":1}"#.to_owned(),
        ),
        (
            event(
                ut,
                1,
                EventBody::Inbox {
                    unread: 1,
                    entry: InboxEntry {
                        id: a(),
                        reason: "answer".into(),
                        question_id: q(),
                        title: "t".into(),
                        count: 2,
                        actor: "bob".into(),
                        ref_id: Some(a()),
                        read: false,
                        updated_at: at(),
                        tag: None,
                    },
                },
            ),
            format!(
                r#"{{"type":"inbox","topic":"user:{U}","seq":1,"unread":1,"entry":{{"id":"{A}","reason":"answer","question_id":"{Q}","title":"t","count":2,"actor":"bob","ref_id":"{A}","read":false,"updated_at":"2026-11-25T09:00:00Z"}}}}"#
            ),
        ),
        (
            event(
                ut,
                4,
                EventBody::Inbox {
                    unread: 2,
                    entry: InboxEntry {
                        id: a(),
                        reason: "tag".into(),
                        question_id: q(),
                        title: "t".into(),
                        count: 3,
                        actor: "ann".into(),
                        ref_id: None,
                        read: false,
                        updated_at: at(),
                        tag: Some("rust".parse().unwrap()),
                    },
                },
            ),
            format!(
                r#"{{"type":"inbox","topic":"user:{U}","seq":4,"unread":2,"entry":{{"id":"{A}","reason":"tag","question_id":"{Q}","title":"t","count":3,"actor":"ann","ref_id":null,"read":false,"updated_at":"2026-11-25T09:00:00Z","tag":"rust"}}}}"#
            ),
        ),
        (
            event(ut, 2, EventBody::Read { unread: 0, entry_ids: vec![a(), q()] }),
            format!(r#"{{"type":"read","topic":"user:{U}","seq":2,"unread":0,"entry_ids":["{A}","{Q}"]}}"#),
        ),
        (
            event(ut, 3, EventBody::Revoked { credential: "session:42".into() }),
            format!(r#"{{"type":"revoked","topic":"user:{U}","seq":3,"credential":"session:42"}}"#),
        ),
        (
            event(
                Topic::Questions,
                2,
                EventBody::Question {
                    question: QuestionSummary {
                        id: q(),
                        title: "How do I test?".into(),
                        author: "ann".into(),
                        author_id: None,
                        created_at: at(),
                        tags: vec!["rust".parse().unwrap(), "c#".parse().unwrap()],
                    },
                },
            ),
            format!(
                r#"{{"type":"question","topic":"questions","seq":2,"question":{{"id":"{Q}","title":"How do I test?","author":"ann","author_id":null,"created_at":"2026-11-25T09:00:00Z","tags":["rust","c#"]}}}}"#
            ),
        ),
        (
            event(Topic::Questions, 3, EventBody::QuestionDelete { question_id: q() }),
            format!(r#"{{"type":"question-delete","topic":"questions","seq":3,"question_id":"{Q}"}}"#),
        ),
        // A retag: the question's `edit` carries the new tags; the tag added hears of the
        // question, the tag removed that it left.
        (
            event(
                qt,
                14,
                EventBody::Edit(Edit {
                    post_kind: PostKind::Question,
                    post_id: q(),
                    revision: 3,
                    title: Some("t".into()),
                    body: "b".into(),
                    body_html: "<p>b</p>\n".into(),
                    tags: Some(vec!["rust".parse().unwrap(), "asp.net-core".parse().unwrap()]),
                    editor: "ann".into(),
                    editor_id: None,
                    edited_at: at(),
                }),
            ),
            format!(
                r#"{{"type":"edit","topic":"question:{Q}","seq":14,"post_kind":"question","post_id":"{Q}","revision":3,"title":"t","body":"b","body_html":"<p>b</p>\n","tags":["rust","asp.net-core"],"editor":"ann","editor_id":null,"edited_at":"2026-11-25T09:00:00Z"}}"#
            ),
        ),
        (
            event(
                Topic::Tag("asp.net-core".parse().unwrap()),
                1,
                EventBody::Question {
                    question: QuestionSummary {
                        id: q(),
                        title: "t".into(),
                        author: "ann".into(),
                        author_id: None,
                        created_at: at(),
                        tags: vec!["rust".parse().unwrap(), "asp.net-core".parse().unwrap()],
                    },
                },
            ),
            format!(
                r#"{{"type":"question","topic":"tag:asp.net-core","seq":1,"question":{{"id":"{Q}","title":"t","author":"ann","author_id":null,"created_at":"2026-11-25T09:00:00Z","tags":["rust","asp.net-core"]}}}}"#
            ),
        ),
        (
            event(Topic::Tag("c#".parse().unwrap()), 5, EventBody::QuestionDelete { question_id: q() }),
            format!(r#"{{"type":"question-delete","topic":"tag:c#","seq":5,"question_id":"{Q}"}}"#),
        ),
        (
            ServerMessage::Subscribed {
                topic: Topic::Tag("c++".parse().unwrap()),
                seq: 0,
                answer_count: None,
            },
            r#"{"type":"subscribed","topic":"tag:c++","seq":0}"#.to_owned(),
        ),
        (
            ServerMessage::Unsubscribed { topic: qt, seq: Some(13) },
            format!(r#"{{"type":"unsubscribed","topic":"question:{Q}","seq":13,"question_id":"{Q}"}}"#),
        ),
        (
            ServerMessage::Unsubscribed { topic: qt, seq: None },
            format!(r#"{{"type":"unsubscribed","topic":"question:{Q}","question_id":"{Q}"}}"#),
        ),
        (
            ServerMessage::Unsubscribed { topic: ut, seq: Some(3) },
            format!(r#"{{"type":"unsubscribed","topic":"user:{U}","seq":3}}"#),
        ),
        (
            ServerMessage::Authenticated { user_id: u(), name: "ann \u{e9}".into() },
            format!(r#"{{"type":"authenticated","user_id":"{U}","name":"ann é"}}"#),
        ),
        (
            ServerMessage::Error(ProtocolError::new(ErrorCode::InvalidJson, "no")),
            r#"{"type":"error","code":"invalid_json","message":"no"}"#.to_owned(),
        ),
        (
            ServerMessage::Error(ProtocolError::new(ErrorCode::QuestionNotFound, "No question.").about(qt)),
            format!(
                r#"{{"type":"error","code":"question_not_found","message":"No question.","topic":"question:{Q}","question_id":"{Q}"}}"#
            ),
        ),
        (
            ServerMessage::Error(ProtocolError::new(ErrorCode::Forbidden, "Not yours.").about(ut)),
            format!(r#"{{"type":"error","code":"forbidden","message":"Not yours.","topic":"user:{U}"}}"#),
        ),
    ]
}

#[test]
fn every_message_is_sent_as_it_always_was() {
    for (msg, expected) in table() {
        assert_eq!(msg.encode(), expected, "{msg:?}");
        assert_eq!(serde_json::to_string(&msg).unwrap(), expected, "{msg:?}");
        assert_eq!(ServerMessage::decode(&expected).unwrap(), msg, "{expected}");
    }
}

/// A server older than `body_html` sends none: the field decodes as empty.
#[test]
fn posts_without_body_html_still_decode() {
    let frame = format!(
        r#"{{"type":"comment","topic":"question:{Q}","seq":11,"comment":{{"id":"{U}","post_kind":"answer","post_id":"{A}","body":"Why?","author":"cy","author_id":null,"created_at":"2026-11-25T09:00:00Z"}}}}"#
    );
    let ServerMessage::Event(EventFrame { body: EventBody::Comment { comment }, .. }) =
        ServerMessage::decode(&frame).unwrap()
    else {
        panic!("not a comment: {frame}");
    };
    assert_eq!((comment.body.as_str(), comment.body_html.as_str()), ("Why?", ""));
}

#[test]
fn the_server_encoders_write_the_same_text() {
    let qt = Topic::Question(q());
    assert_eq!(
        encode::subscribed(&qt, 2, Some(2)),
        ServerMessage::Subscribed { topic: qt, seq: 2, answer_count: Some(2) }.encode()
    );
    assert_eq!(
        encode::unsubscribed(&qt, 3),
        ServerMessage::Unsubscribed { topic: qt, seq: Some(3) }.encode()
    );
    let mut stored = answer(None);
    stored.seq = 4;
    assert_eq!(encode::answer(&stored), event(qt, 4, EventBody::Answer { answer: stored.clone() }).encode());
    assert_eq!(
        encode::authenticated(u(), "ann"),
        ServerMessage::Authenticated { user_id: u(), name: "ann".into() }.encode()
    );
    let refused = ProtocolError::new(ErrorCode::Forbidden, "no").about(qt);
    assert_eq!(encode::error(&refused), ServerMessage::Error(refused.clone()).encode());
    assert_eq!(refused.encode(), ServerMessage::Error(refused).encode());
}
