//! The test app: a real server on an ephemeral port, on a fresh database of its own, started
//! with the test config and a `tweak` of it, and the verbs tests use on it (`app.ask_as(…)`,
//! `app.answer_as(…)`, `app.vote(…)`, `app.send(…)`) where they would otherwise repeat the
//! same request by hand.

use std::net::SocketAddr;

use qa_hub::{Application, Config, app::Stopper};
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use super::{Backend, TestDb, WAIT, WsClient, users};

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

    /// A WebSocket authenticated as `token`'s user.
    pub async fn ws_as(&self, token: &str) -> WsClient {
        let mut ws = self.ws().await;
        ws.auth(token).await;
        ws
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

    /// Sends `body` as JSON with `method` to `path`, as `token`'s user when given: (status,
    /// the JSON reply or null).
    pub async fn send(&self, method: Method, path: &str, token: Option<&str>, body: Value) -> (u16, Value) {
        let mut req = self.http.request(method, self.url(path)).json(&body);
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    /// Asks a question as `token`'s user; returns its id.
    pub async fn ask_as(&self, token: &str, title: &str, body: &str) -> Uuid {
        let (status, q) = self
            .send(Method::POST, "/api/questions", Some(token), json!({"title": title, "body": body}))
            .await;
        assert_eq!(status, 201, "{q}");
        id_of(&q)
    }

    /// Answers question `q` as `token`'s user; returns the answer's id.
    pub async fn answer_as(&self, token: &str, q: Uuid, body: &str) -> Uuid {
        let (status, a) = self
            .send(Method::POST, &format!("/api/questions/{q}/answers"), Some(token), json!({"body": body}))
            .await;
        assert_eq!(status, 201, "{a}");
        id_of(&a)
    }

    /// A question by `asker` with one answer by `answerer`: (question id, answer id).
    pub async fn thread(&self, asker: &str, answerer: &str) -> (Uuid, Uuid) {
        let q = self.ask_as(asker, "t", "b").await;
        (q, self.answer_as(answerer, q, "a").await)
    }

    /// Votes `value` on the post at `path` (`/api/answers/{id}/vote`, say) as `token`'s user.
    pub async fn vote(&self, token: &str, path: &str, value: i64) -> (u16, Value) {
        self.send(Method::PUT, path, Some(token), json!({"value": value})).await
    }
}

/// A request and the refusal it gets: method, path, token, body, status, error code.
pub type Case<'a> = (Method, String, Option<&'a str>, Value, u16, &'a str);

/// A server that requires an identity for writes (the default outside the test config), with
/// `tweak` applied after.
pub async fn hub_with(backend: Backend, tweak: impl FnOnce(&mut Config)) -> TestApp {
    spawn_with(backend, |config| {
        config.identity.anonymous_writes = false;
        tweak(config);
    })
    .await
}

/// A server that requires an identity for writes and accepts host-signed tokens
/// ([`users::user`]).
pub async fn hub(backend: Backend) -> TestApp {
    hub_with(backend, users::host_tokens).await
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
