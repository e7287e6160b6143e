//! Test harness: each test gets its own server on an ephemeral port and its own fresh
//! database (a temp SQLite file, or a new Postgres database dropped afterwards), and talks to
//! it over real HTTP and WebSocket connections.
//!
//! Postgres is not optional: its tests fail when it is unreachable. Point them elsewhere with
//! `TEST_DATABASE_URL` (an admin URL whose user may create databases).
#![allow(dead_code)]

use std::{net::SocketAddr, time::Duration};

use qa_hub::{Application, Config, app::Stopper};
use qa_hub_client::Connection as WsConnection;
use serde_json::{Value, json};
use sqlx::{Connection, PgConnection};
use tokio_tungstenite::MaybeTlsStream;
use uuid::Uuid;

/// How long a test waits for an event before it fails.
pub const WAIT: Duration = Duration::from_secs(15);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub fn postgres_admin_url() -> String {
    std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// A database that exists for one test only.
pub struct TestDb {
    pub url: String,
    pg_name: Option<String>,
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    pub async fn new(backend: Backend) -> Self {
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
                let url = with_database(&admin, &name);
                Self { url, pg_name: Some(name), _dir: None }
            }
        }
    }
}

impl TestDb {
    /// A database this harness did not create and will not drop (a throwaway server's).
    pub fn external(url: impl Into<String>) -> Self {
        Self { url: url.into(), pg_name: None, _dir: None }
    }

    /// The Postgres database name in the URL.
    pub fn database_name(&self) -> &str {
        let path = self.url.split('?').next().unwrap_or_default();
        path.rsplit('/').next().unwrap_or_default()
    }

    /// Runs a query that returns one integer (a `count(*)`) directly on the database: for
    /// checking that a refused request wrote nothing.
    pub async fn count(&self, sql: &str) -> i64 {
        let sql = sqlx::AssertSqlSafe(sql.to_owned());
        if self.url.starts_with("sqlite:") {
            let mut conn = sqlx::SqliteConnection::connect(&self.url).await.expect("sqlite connection");
            sqlx::query_scalar(sql).fetch_one(&mut conn).await.expect("count query")
        } else {
            let mut conn = PgConnection::connect(&self.url).await.expect("postgres connection");
            sqlx::query_scalar(sql).fetch_one(&mut conn).await.expect("count query")
        }
    }

    /// Another handle on the same database that does not drop it: for a second (third, …)
    /// server on one database. Stop those servers before the owning handle goes away.
    pub fn shared(&self) -> Self {
        Self { url: self.url.clone(), pg_name: None, _dir: None }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some(name) = self.pg_name.take() else { return };
        // Drop runs outside async; a short-lived thread with its own runtime does the cleanup.
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

/// Replaces the database name in a Postgres URL.
pub fn with_database(url: &str, name: &str) -> String {
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

/// Adds a query parameter (`sslmode=require`) to a database URL.
pub fn with_param(url: &str, param: &str) -> String {
    format!("{url}{}{param}", if url.contains('?') { '&' } else { '?' })
}

/// (connections with TLS, all connections) that Postgres reports to database `name`, not
/// counting the asking connection.
pub async fn tls_connections(admin: &mut PgConnection, name: &str) -> (i64, i64) {
    sqlx::query_as(
        "SELECT count(*) FILTER (WHERE s.ssl), count(*) FROM pg_stat_activity a \
         JOIN pg_stat_ssl s USING (pid) WHERE a.datname = $1 AND a.pid <> pg_backend_pid()",
    )
    .bind(name)
    .fetch_one(admin)
    .await
    .expect("pg_stat_ssl")
}

/// A running server and a client for it.
pub struct TestApp {
    pub addr: SocketAddr,
    /// The private `/metrics` listener (tests run with `--metrics-bind 127.0.0.1:0`).
    pub metrics_addr: Option<SocketAddr>,
    pub base: String,
    pub http: reqwest::Client,
    pub stopper: Stopper,
    pub db: TestDb,
}

pub async fn spawn(backend: Backend) -> TestApp {
    spawn_with(backend, |_| {}).await
}

/// Starts a server on a fresh database, with `tweak` applied to the test config.
pub async fn spawn_with(backend: Backend, tweak: impl FnOnce(&mut Config)) -> TestApp {
    let db = TestDb::new(backend).await;
    start_on(db, tweak).await
}

/// Starts a server on an existing test database.
pub async fn start_on(db: TestDb, tweak: impl FnOnce(&mut Config)) -> TestApp {
    try_start_on(db, tweak).await.expect("server starts")
}

/// Starts a server on an existing test database, or returns its start-up error.
pub async fn try_start_on(db: TestDb, tweak: impl FnOnce(&mut Config)) -> anyhow::Result<TestApp> {
    let mut config = Config::for_tests(db.url.clone());
    tweak(&mut config);
    let app = Application::build(config).await?;
    let (addr, metrics_addr) = (app.addr(), app.metrics_addr());
    let stopper = app.stopper();
    tokio::spawn(app.run());
    Ok(TestApp {
        addr,
        metrics_addr,
        base: format!("http://{addr}"),
        http: reqwest::Client::builder().timeout(WAIT).build().unwrap(),
        stopper,
        db,
    })
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> reqwest::Response {
        self.http.post(self.url(path)).json(body).send().await.expect("request sent")
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.http.get(self.url(path)).send().await.expect("request sent")
    }

    /// Creates a question and returns its id.
    pub async fn question(&self) -> Uuid {
        let res = self
            .post_json(
                "/api/questions",
                &json!({"title": "How do I test?", "body": "With care.", "author": "ann"}),
            )
            .await;
        assert_eq!(res.status(), 201);
        id_of(&res.json::<Value>().await.unwrap())
    }

    /// Posts an answer and returns the stored answer.
    pub async fn answer(&self, question_id: Uuid, body: &str) -> Value {
        let res = self
            .post_json(
                &format!("/api/questions/{question_id}/answers"),
                &json!({"body": body, "author": "bob"}),
            )
            .await;
        assert_eq!(res.status(), 201, "posting an answer");
        res.json().await.unwrap()
    }

    pub async fn ws(&self) -> WsClient {
        WsClient::connect(self.addr).await
    }

    /// Stops the server gracefully; returns how many connections outlived the grace period.
    pub async fn stop(&self) -> usize {
        self.stopper.stop().await
    }

    /// The server's `/metrics` text, from its private listener.
    pub async fn metrics(&self) -> String {
        let addr = self.metrics_addr.expect("a server started with --metrics-bind");
        let res = self.http.get(format!("http://{addr}/metrics")).send().await.expect("request sent");
        assert_eq!(res.status(), 200);
        assert!(res.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
        res.text().await.unwrap()
    }

    /// One sample of `/metrics`, e.g. `name{label="x"}`; 0 when absent.
    pub async fn metric(&self, series: &str) -> f64 {
        sample(&self.metrics().await, series)
    }

    /// After [`TestApp::stop`]: starts a new server on the same database and the same
    /// address, as a restarted process would, so clients can reconnect to the URL they had.
    pub async fn start_again(self) -> TestApp {
        let addr = self.addr;
        start_on(self.db, |config| config.server.bind = addr.to_string()).await
    }
}

/// Polls `condition` until it holds, failing the test after [`WAIT`].
pub async fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !condition() {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Polls an async `check` until it holds, failing the test after [`WAIT`]. For state that has
/// no event to await (a counter on the server).
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + WAIT;
    while !check().await {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The value of one sample in the Prometheus text, e.g. `name{label="x"}`; 0 when absent.
pub fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| {
            let (name, value) = l.rsplit_once(' ')?;
            (name == series).then(|| value.parse().ok())?
        })
        .unwrap_or(0.0)
}

pub fn id_of(v: &Value) -> Uuid {
    Uuid::parse_str(v["id"].as_str().expect("an id")).unwrap()
}

/// Close codes the tests expect (RFC 6455 and the hub's own use of them).
pub mod close {
    pub const NORMAL: u16 = 1000;
    pub const AWAY: u16 = 1001;
    pub const POLICY: u16 = 1008;
    pub const SIZE: u16 = 1009;
    pub const AGAIN: u16 = 1013;
}

/// A WebSocket client for tests, on the client crate's one-connection API: frames are read as
/// raw JSON so that tests can check the wire format itself.
pub struct WsClient {
    pub conn: WsConnection<MaybeTlsStream<tokio::net::TcpStream>>,
}

impl WsClient {
    pub async fn connect(addr: SocketAddr) -> Self {
        Self { conn: WsConnection::connect(&format!("ws://{addr}/ws")).await.expect("ws connects") }
    }

    /// The WebSocket handshake over a socket the test opened itself (a chosen source address,
    /// a small receive buffer); `Err` carries the client's error, e.g. an HTTP 503 refusal.
    pub async fn over(addr: SocketAddr, tcp: tokio::net::TcpStream) -> Result<Self, qa_hub_client::Error> {
        let conn =
            WsConnection::handshake(&format!("ws://{addr}/ws"), MaybeTlsStream::Plain(tcp), None).await?;
        Ok(Self { conn })
    }

    pub async fn send_text(&mut self, text: &str) {
        self.conn.send_text(text).await.expect("ws send");
    }

    pub async fn send(&mut self, v: Value) {
        self.send_text(&v.to_string()).await;
    }

    /// Subscribes (the legacy `question_id` form, which the hub keeps accepting) and waits
    /// for the `subscribed` reply; returns its answer_count.
    pub async fn subscribe(&mut self, question_id: Uuid, after_seq: Option<i64>) -> i64 {
        let mut msg = json!({"type": "subscribe", "question_id": question_id});
        if let Some(seq) = after_seq {
            msg["after_seq"] = json!(seq);
        }
        self.send(msg).await;
        let reply = self.recv().await;
        assert_eq!(reply["type"], "subscribed", "subscribe reply: {reply}");
        assert_eq!(reply["question_id"], json!(question_id));
        reply["answer_count"].as_i64().unwrap()
    }

    /// The next JSON message, failing the test after [`WAIT`].
    pub async fn recv(&mut self) -> Value {
        self.recv_within(WAIT).await.expect("a message within the wait")
    }

    /// The next JSON message, or None when `wait` passes first.
    pub async fn recv_within(&mut self, wait: Duration) -> Option<Value> {
        let text = tokio::time::timeout(wait, self.conn.recv_text()).await.ok()?;
        match text {
            Ok(text) => Some(serde_json::from_str(&text).expect("JSON frame")),
            Err(other) => panic!("expected a text frame, got {other}"),
        }
    }

    /// Reads until the server closes; returns the close code and the text frames before it.
    pub async fn until_close(&mut self) -> (Option<u16>, Vec<Value>) {
        let mut seen = Vec::new();
        loop {
            let frame =
                tokio::time::timeout(WAIT, self.conn.recv_text()).await.expect("close within the wait");
            match frame {
                Ok(text) => seen.push(serde_json::from_str(&text).unwrap()),
                Err(qa_hub_client::Error::Closed(close)) => return (close.map(|c| c.code), seen),
                Err(_) => return (None, seen),
            }
        }
    }

    /// Receives `n` answer notifications and returns their (question_id, seq) pairs.
    pub async fn answers(&mut self, n: usize) -> Vec<(Uuid, i64)> {
        let mut got = Vec::with_capacity(n);
        while got.len() < n {
            let msg = self.recv().await;
            assert_eq!(msg["type"], "answer", "expected an answer, got {msg}");
            got.push((
                Uuid::parse_str(msg["question_id"].as_str().unwrap()).unwrap(),
                msg["answer"]["seq"].as_i64().unwrap(),
            ));
        }
        got
    }
}

/// Defines each listed test twice, `sqlite::name` and `postgres::name`, each calling
/// `name(Backend)` from the enclosing module.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() { super::$name($crate::common::Backend::Sqlite).await }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() { super::$name($crate::common::Backend::Postgres).await }
            )*
        }
    };
}
