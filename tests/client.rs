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

use qa_hub_client::{Client, Error, NewAnswer, NewQuestion, StatusCode, Topic};
use tokio::sync::mpsc;
use uuid::Uuid;

use crate::common::{Backend, TestApp, spawn, start_on};

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

on_both_backends!(watcher_prints_each_answer_once_across_a_restart, rest_calls);
