//! The Rust client against a real server. The centre piece runs the client crate's README
//! program — `crates/client/examples/watch.rs`, compiled into this test as it is — while the
//! server stops (its clients get close 1001) and a new one starts on the same address and
//! database: the program must print every answer exactly once, in order.
//!
//! Self-contained (not on tests/common): it talks to the server only through the client crate.

#[allow(dead_code)] // the example's `main` is for `cargo run`; the test calls its `watch`
#[path = "../crates/client/examples/watch.rs"]
mod watch_example;

use std::{io, net::SocketAddr, time::Duration};

use qa_hub::{Application, Config, app::Stopper};
use qa_hub_client::{Client, Error, NewAnswer, NewQuestion, StatusCode, Topic};
use sqlx::{Connection, PgConnection};
use tokio::sync::mpsc;
use uuid::Uuid;

/// How long the test waits for anything before it fails.
const WAIT: Duration = Duration::from_secs(20);

#[derive(Debug, Clone, Copy)]
enum Backend {
    Sqlite,
    Postgres,
}

/// A database for one test: a temporary SQLite file, or a fresh Postgres database dropped at
/// the end (as tests/common does; `TEST_DATABASE_URL` names another Postgres).
struct TestDb {
    url: String,
    pg_name: Option<String>,
    _dir: Option<tempfile::TempDir>,
}

fn postgres_admin_url() -> String {
    std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

impl TestDb {
    async fn new(backend: Backend) -> Self {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite://{}/qa-hub.db", dir.path().display());
                Self { url, pg_name: None, _dir: Some(dir) }
            }
            Backend::Postgres => {
                let admin = postgres_admin_url();
                let name = format!("qa_hub_test_{}", Uuid::new_v4().simple());
                let mut conn = PgConnection::connect(&admin)
                    .await
                    .unwrap_or_else(|e| panic!("Postgres at {admin} is required for the tests: {e}"));
                sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .execute(&mut conn)
                    .await
                    .expect("create test database");
                Self { url: with_database(&admin, &name), pg_name: Some(name), _dir: None }
            }
        }
    }
}

/// Replaces the database name in a Postgres URL.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url.split_once('?').map_or((url, None), |(b, q)| (b, Some(q)));
    let after_scheme = base.find("://").map_or(0, |i| i + 3);
    let base = match base[after_scheme..].find('/') {
        Some(slash) => &base[..after_scheme + slash],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some(name) = self.pg_name.take() else { return };
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
            rt.block_on(async {
                let mut conn = PgConnection::connect(&postgres_admin_url()).await.ok()?;
                sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")))
                    .execute(&mut conn)
                    .await
                    .ok()
            })
        })
        .join();
    }
}

/// A running server.
struct Server {
    addr: SocketAddr,
    stopper: Stopper,
}

async fn start(db: &TestDb, bind: &str) -> Server {
    let mut config = Config::for_tests(db.url.clone());
    config.bind = bind.into();
    let app = Application::build(config).await.expect("server starts");
    let server = Server { addr: app.addr(), stopper: app.stopper() };
    tokio::spawn(app.run());
    server
}

impl Server {
    fn client(&self) -> Client {
        Client::new(&format!("http://{}", self.addr)).expect("a client")
    }
}

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
    let db = TestDb::new(backend).await;
    let server = start(&db, "127.0.0.1:0").await;
    let hub = server.client();
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
    within("the server to stop", server.stopper.stop()).await;
    let other = start(&db, "127.0.0.1:0").await;
    assert_eq!(post(&other.client(), question, "three, while the watcher's server was down").await, 3);
    within("the other server to stop", other.stopper.stop()).await;

    // A new server on the same address and database, as a restarted process would be.
    let restarted = start(&db, &server.addr.to_string()).await;
    assert_eq!(post(&hub, question, "four").await, 4);
    assert_eq!(next_line().await, "3 three, while the watcher's server was down");
    assert_eq!(next_line().await, "4 four");
    // Nothing repeated after 4 either: the next answer is the very next line.
    assert_eq!(post(&hub, question, "five").await, 5);
    assert_eq!(next_line().await, "5 five");

    assert!(!watcher.is_finished(), "the watcher ended: {:?}", watcher.await);
    watcher.abort();
    within("the restarted server to stop", restarted.stopper.stop()).await;
}

/// The typed REST calls against the real API, errors included.
async fn rest_calls(backend: Backend) {
    let db = TestDb::new(backend).await;
    let server = start(&db, "127.0.0.1:0").await;
    let hub = server.client();
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
    within("the server to stop", server.stopper.stop()).await;
}

mod sqlite {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn watcher_prints_each_answer_once_across_a_restart() {
        super::watcher_prints_each_answer_once_across_a_restart(Backend::Sqlite).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn rest_calls() {
        super::rest_calls(Backend::Sqlite).await
    }
}

mod postgres {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn watcher_prints_each_answer_once_across_a_restart() {
        super::watcher_prints_each_answer_once_across_a_restart(Backend::Postgres).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn rest_calls() {
        super::rest_calls(Backend::Postgres).await
    }
}
