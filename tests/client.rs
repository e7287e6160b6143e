//! The Rust client against a real server. The centre piece runs the client crate's README
//! program — `crates/client/examples/watch.rs`, compiled into this test as it is — while the
//! server stops (its clients get close 1001) and a new one starts on the same address and
//! database: the program must print every answer exactly once, in order.
//!
//! The servers are started as every test starts them (`common`); the test talks to them only
//! through the client crate.

#[allow(dead_code)] // the example's `main` is for `cargo run`; the test calls its `watch`
#[path = "../crates/client/examples/watch.rs"]
mod watch_example;

use std::{io, time::Duration};

use qa_hub_client::{
    Client, Connection, Edit, Error, EventBody, EventFrame, NewAnswer, NewQuestion, PostId, PostKind,
    ServerMessage, StatusCode, Topic,
};
use tokio::sync::mpsc;
use uuid::Uuid;

use crate::common::{Backend, TestApp, hub as hub_with_users, spawn, start_on, user};

fn client(app: &TestApp) -> Client {
    Client::new(&app.base).expect("a client")
}

/// How long the test waits for anything before it fails.
const WAIT: Duration = Duration::from_secs(20);

async fn within<T>(what: &str, fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(WAIT, fut).await.unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

async fn post(hub: &Client, question: Uuid, body: &str) -> i64 {
    let answer = NewAnswer { body: body.into(), author: "bob".into() };
    within("an answer to be posted", hub.post_answer(question, &answer)).await.expect("answer posted").seq
}

fn a_question() -> NewQuestion {
    NewQuestion { title: "Does it survive?".into(), body: "A restart.".into(), author: "ann".into() }
}

/// The program's standard output: each complete line goes to the test.
struct Lines {
    partial: Vec<u8>,
    tx: mpsc::UnboundedSender<String>,
}

impl io::Write for Lines {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.partial.extend_from_slice(buf);
        while let Some(end) = self.partial.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.partial.drain(..=end).collect();
            let _ = self.tx.send(String::from_utf8_lossy(&line[..end]).into_owned());
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

async fn watcher_prints_each_answer_once_across_a_restart(backend: Backend) {
    let server = spawn(backend).await;
    let hub = client(&server);
    let question = within("the question", hub.ask(&a_question())).await.expect("question created").id;

    let (tx, mut printed) = mpsc::unbounded_channel();
    let url = hub.ws_url().to_string();
    let watcher = tokio::spawn(async move {
        let mut out = Lines { partial: Vec::new(), tx };
        let outcome = watch_example::watch(&url, Topic::Question(question), &mut out).await;
        outcome.map_err(|e| e.to_string())
    });
    let mut next_line =
        async || within("the watcher's next line", printed.recv()).await.expect("the watcher runs");

    assert_eq!(post(&hub, question, "one").await, 1);
    assert_eq!(post(&hub, question, "two").await, 2);
    assert_eq!(next_line().await, "1 one");
    assert_eq!(next_line().await, "2 two");

    // The server goes away (close 1001 to the watcher). While nothing listens on its address,
    // answer 3 is posted through another server on the same database.
    within("the server to stop", server.stop()).await;
    let other = start_on(server.db.shared(), |_| {}).await;
    assert_eq!(post(&client(&other), question, "three, while the watcher's server was down").await, 3);
    within("the other server to stop", other.stop()).await;

    // A new server on the same address and database, as a restarted process would be.
    let restarted = server.start_again().await;
    assert_eq!(post(&hub, question, "four").await, 4);
    assert_eq!(next_line().await, "3 three, while the watcher's server was down");
    assert_eq!(next_line().await, "4 four");
    // Nothing repeated after 4 either: the next answer is the very next line.
    assert_eq!(post(&hub, question, "five").await, 5);
    assert_eq!(next_line().await, "5 five");

    assert!(!watcher.is_finished(), "the watcher ended: {:?}", watcher.await);
    watcher.abort();
    within("the restarted server to stop", restarted.stop()).await;
}

/// The typed REST calls against the real API, errors included.
async fn rest_calls(backend: Backend) {
    let server = spawn(backend).await;
    let hub = client(&server);
    let asked = hub.ask(&a_question()).await.unwrap();
    assert_eq!((asked.title.as_str(), asked.answer_count), ("Does it survive?", 0));
    let other = hub.ask(&a_question()).await.unwrap();
    let page = hub.questions(Some(1), None).await.unwrap();
    assert_eq!(page.items.iter().map(|q| q.id).collect::<Vec<_>>(), [other.id]);
    assert_eq!(page.next, Some(other.id));
    let page = hub.questions(None, page.next).await.unwrap();
    assert_eq!(page.items, std::slice::from_ref(&asked));

    for body in ["a", "b", "c"] {
        post(&hub, asked.id, body).await;
    }
    assert_eq!(hub.question(asked.id).await.unwrap().answer_count, 3);
    let page = hub.answers(asked.id, 1, Some(1)).await.unwrap();
    assert_eq!(page.items.iter().map(|a| (a.seq, a.body.as_str())).collect::<Vec<_>>(), [(2, "b")]);
    assert_eq!(page.next_after_seq, Some(2));
    assert_eq!(hub.answers(asked.id, 0, None).await.unwrap().items.len(), 3);

    let err = hub.question(Uuid::now_v7()).await.unwrap_err();
    assert_eq!((err.status(), err.code()), (Some(StatusCode::NOT_FOUND), Some("question_not_found")));
    let empty = NewAnswer { body: String::new(), author: "bob".into() };
    let Error::Api(err) = hub.post_answer(asked.id, &empty).await.unwrap_err() else {
        panic!("an API error")
    };
    assert_eq!(err.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(!err.code.is_empty() && !err.message.is_empty(), "{err:?}");
    within("the server to stop", server.stop()).await;
}

/// A question by "asker" with one answer by "answerer", made through the client as those users
/// (host-signed tokens), and a connection subscribed to the question's topic: (question,
/// answer, connection).
async fn answered_question(
    server: &TestApp,
) -> (Uuid, Uuid, Connection<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>) {
    let asker = client(server).with_token(user("asker"));
    let answerer = client(server).with_token(user("answerer"));
    let question = within("the question", asker.ask(&a_question())).await.expect("question created").id;
    let answer = NewAnswer { body: "Use a lock.".into(), author: String::new() };
    let answer = within("the answer", answerer.post_answer(question, &answer)).await.expect("answer posted");
    let mut ws =
        within("the socket", Connection::connect(asker.ws_url().as_str())).await.expect("ws connects");
    within("subscribing", ws.subscribe(Topic::Question(question), None)).await.expect("subscribe sent");
    match within("the subscribe reply", ws.recv()).await.expect("a reply") {
        ServerMessage::Subscribed { seq: 1, .. } => {}
        other => panic!("expected subscribed at seq 1, got {other:?}"),
    }
    (question, answer.id, ws)
}

/// `Client::vote`: the score and the caller's vote come back, a change is a `score` event at the
/// topic's next seq, the same vote again changes nothing, and the refusals are typed errors.
async fn votes(backend: Backend) {
    let server = hub_with_users(backend).await;
    let (question, answer, mut ws) = answered_question(&server).await;
    let post = PostId { post_kind: PostKind::Answer, post_id: answer };
    let (ann, bob) = (client(&server).with_token(user("ann")), client(&server).with_token(user("bob")));

    let up = within("a vote", ann.vote(post, 1)).await.expect("vote accepted");
    assert_eq!((up.post_kind, up.post_id, up.score, up.vote), (PostKind::Answer, answer, 1, 1));
    let down = within("a vote", bob.vote(post, -1)).await.expect("vote accepted");
    assert_eq!((down.score, down.vote), (0, -1));
    // The vote that already stands: same result, no event (the next event below is seq 4).
    assert_eq!(within("a vote", bob.vote(post, -1)).await.expect("vote accepted"), down);
    let withdrawn = within("a vote", ann.vote(post, 0)).await.expect("vote accepted");
    assert_eq!((withdrawn.score, withdrawn.vote), (-1, 0));
    for (seq, score) in [(2, 1), (3, 0), (4, -1)] {
        match within("a score event", ws.recv()).await.expect("an event") {
            ServerMessage::Event(EventFrame {
                topic,
                seq: got,
                body: EventBody::Score { post_kind, post_id, score: s },
            }) => {
                assert_eq!(
                    (topic, got, post_kind, post_id, s),
                    (Topic::Question(question), seq, PostKind::Answer, answer, score)
                );
            }
            other => panic!("expected a score event, got {other:?}"),
        }
    }
    // The question's own score goes through the same call.
    let q = within("a vote", ann.vote(PostId { post_kind: PostKind::Question, post_id: question }, 1)).await;
    assert_eq!(q.expect("vote accepted").score, 1);

    let own = within("a vote", client(&server).with_token(user("answerer")).vote(post, 1)).await.unwrap_err();
    assert_eq!((own.status(), own.code()), (Some(StatusCode::FORBIDDEN), Some("own_post")));
    let bad = within("a vote", ann.vote(post, 2)).await.unwrap_err();
    assert_eq!(bad.status(), Some(StatusCode::UNPROCESSABLE_ENTITY));
    let anonymous = within("a vote", client(&server).vote(post, 1)).await.unwrap_err();
    assert_eq!(anonymous.status(), Some(StatusCode::UNAUTHORIZED));
    let unknown = PostId { post_kind: PostKind::Answer, post_id: Uuid::now_v7() };
    assert_eq!(
        within("a vote", ann.vote(unknown, 1)).await.unwrap_err().status(),
        Some(StatusCode::NOT_FOUND)
    );
    within("the server to stop", server.stop()).await;
}

/// `Client::edit_answer`: its author gets the new revision back and subscribers an `edit`
/// event with the whole text; the same text again is no revision; anyone else is refused.
async fn edits(backend: Backend) {
    let server = hub_with_users(backend).await;
    let (question, answer, mut ws) = answered_question(&server).await;
    let author = client(&server).with_token(user("answerer"));

    let edited = within("an edit", author.edit_answer(answer, "Use a lock, briefly.")).await.expect("edited");
    assert_eq!(
        (edited.post_kind, edited.post_id, edited.question_id, edited.revision, edited.title.as_deref()),
        (PostKind::Answer, answer, question, 2, None)
    );
    assert_eq!((edited.body.as_str(), edited.editor.as_str()), ("Use a lock, briefly.", "answerer"));
    assert!(edited.editor_id.is_some());
    // The same text: the latest revision back, unchanged, and no event.
    let same =
        within("an edit", author.edit_answer(answer, "Use a lock, briefly.")).await.expect("no change");
    assert_eq!(same, edited);
    let again = within("an edit", author.edit_answer(answer, "Use a mutex.")).await.expect("edited");
    assert_eq!(again.revision, 3);
    for (seq, revision, body) in [(2, 2, "Use a lock, briefly."), (3, 3, "Use a mutex.")] {
        match within("an edit event", ws.recv()).await.expect("an event") {
            ServerMessage::Event(EventFrame {
                topic,
                seq: got,
                body: EventBody::Edit(Edit { post_id, revision: r, body: b, .. }),
            }) => {
                assert_eq!(
                    (topic, got, post_id, r, b.as_str()),
                    (Topic::Question(question), seq, answer, revision, body)
                );
            }
            other => panic!("expected an edit event, got {other:?}"),
        }
    }

    let other = client(&server).with_token(user("ann"));
    let err = within("an edit", other.edit_answer(answer, "Mine now.")).await.unwrap_err();
    assert_eq!((err.status(), err.code()), (Some(StatusCode::FORBIDDEN), Some("not_author")));
    let err = within("an edit", author.edit_answer(answer, "")).await.unwrap_err();
    assert_eq!(err.status(), Some(StatusCode::UNPROCESSABLE_ENTITY));
    let err = within("an edit", author.edit_answer(Uuid::now_v7(), "Nothing.")).await.unwrap_err();
    assert_eq!(err.status(), Some(StatusCode::NOT_FOUND));
    let me = within("me", author.me()).await.expect("an identity");
    assert_eq!((Some(me.id), me.name.as_str(), me.role.as_str()), (edited.editor_id, "answerer", "user"));
    within("the server to stop", server.stop()).await;
}

/// The subscriber takes a tag's topic (`tag:{name}`) like any other: the questions asked with
/// the tag arrive as `question` events, from the seq it resumes after, each once.
async fn a_subscriber_follows_a_tag(backend: Backend) {
    use qa_hub_client::{Event, Subscriber};
    let app = hub_with_users(backend).await;
    let ann = user("ann");
    let ask = |title: &'static str, tags: &'static [&'static str]| {
        let (app, ann) = (&app, &ann);
        async move {
            let body = serde_json::json!({"title": title, "body": "b", "tags": tags});
            let (status, q) = app.send(reqwest::Method::POST, "/api/questions", Some(ann), body).await;
            assert_eq!(status, 201, "{q}");
            crate::common::id_of(&q)
        }
    };
    ask("Before", &["asp.net-core"]).await;
    let tag = Topic::Tag("asp.net-core".parse().unwrap());
    let mut subscriber = Subscriber::new(&format!("ws://{}/ws", app.addr)).unwrap().with_topic(tag, Some(1));
    ask("Elsewhere", &["go"]).await;
    let after = ask("After", &["go", "asp.net-core"]).await;
    let got = within("the tag's question", async {
        loop {
            if let Some(Event::Message(ServerMessage::Event(EventFrame {
                topic,
                seq,
                body: EventBody::Question { question },
            }))) = subscriber.next().await
            {
                return (topic, seq, question.id, question.tags);
            }
        }
    })
    .await;
    assert_eq!(got, (tag, 2, after, vec!["go".parse().unwrap(), "asp.net-core".parse().unwrap()]));
}

on_both_backends!(
    watcher_prints_each_answer_once_across_a_restart,
    rest_calls,
    votes,
    edits,
    a_subscriber_follows_a_tag
);
