//! Webhooks: signed POSTs of a topic's events to 127.0.0.1 receivers, in seq order and once,
//! through an endpoint's outage and a restart of the hub; a slow endpoint delays nobody else;
//! URLs outside `--webhook-allow` are refused, and so are the addresses an allowed name resolves
//! to on the hub's own networks.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use hmac::{KeyInit, Mac};
use reqwest::Method;
use serde_json::{Value, json};
use tokio::{
    io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader},
    net::TcpListener,
    sync::watch,
};
use uuid::Uuid;

use crate::common::{
    Backend, TestApp, TestDb, WAIT, events, eventually, host_tokens, hub_with, id_of, inbox_socket, log_in,
    moderator, question_topic, session_of, start_on, user, user_with_token,
};

/// What a receiver does with a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Records it and answers 204.
    Up,
    /// Closes the connection without an answer, as a crashed endpoint does.
    Down,
    /// Keeps it waiting until the mode changes.
    Hold,
}

#[derive(Debug, Clone)]
struct Delivery {
    signature: String,
    seq: i64,
    webhook: String,
    body: String,
}

impl Delivery {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).expect("a JSON body")
    }
}

#[derive(Default)]
struct Seen {
    got: Vec<Delivery>,
    /// Requests waiting in `Hold`.
    held: usize,
    /// Connections dropped in `Down`.
    refused: usize,
    /// Connections accepted.
    connections: usize,
}

/// A webhook endpoint on 127.0.0.1: plain HTTP/1.1 with keep-alive, written out here so that a
/// test controls exactly when it answers and when it fails.
struct Receiver {
    url: String,
    mode: watch::Sender<Mode>,
    seen: Arc<Mutex<Seen>>,
}

impl Receiver {
    async fn start(mode: Mode) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let (mode, watching) = watch::channel(mode);
        let seen = Arc::new(Mutex::new(Seen::default()));
        let shared = seen.clone();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                shared.lock().unwrap().connections += 1;
                tokio::spawn(serve(socket, watching.clone(), shared.clone()));
            }
        });
        Self { url, mode, seen }
    }

    fn set(&self, mode: Mode) {
        self.mode.send_replace(mode);
    }

    fn got(&self) -> Vec<Delivery> {
        self.seen.lock().unwrap().got.clone()
    }

    fn seqs(&self) -> Vec<i64> {
        self.got().iter().map(|d| d.seq).collect()
    }

    async fn until(&self, what: &str, check: impl Fn(&Seen) -> bool) {
        eventually(what, WAIT, || async { check(&self.seen.lock().unwrap()) }).await;
    }
}

async fn serve(socket: tokio::net::TcpStream, mut mode: watch::Receiver<Mode>, seen: Arc<Mutex<Seen>>) {
    let mut socket = BufReader::new(socket);
    loop {
        let mut head = Vec::new();
        loop {
            let mut line = String::new();
            if socket.read_line(&mut line).await.unwrap_or(0) == 0 {
                return;
            }
            if line == "\r\n" {
                break;
            }
            head.push(line.trim_end().to_owned());
        }
        let header = |name: &str| {
            head.iter().find_map(|l| {
                let (n, v) = l.split_once(':')?;
                n.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
            })
        };
        let length: usize = header("content-length").and_then(|l| l.parse().ok()).unwrap_or(0);
        let mut body = vec![0; length];
        if socket.read_exact(&mut body).await.is_err() {
            return;
        }
        if *mode.borrow() == Mode::Hold {
            seen.lock().unwrap().held += 1;
            let _ = mode.wait_for(|m| *m != Mode::Hold).await;
            seen.lock().unwrap().held -= 1;
        }
        if *mode.borrow() == Mode::Down {
            seen.lock().unwrap().refused += 1;
            return;
        }
        seen.lock().unwrap().got.push(Delivery {
            signature: header("qa-hub-signature").unwrap_or_default(),
            seq: header("qa-hub-seq").and_then(|s| s.parse().ok()).unwrap_or(-1),
            webhook: header("qa-hub-webhook-id").unwrap_or_default(),
            body: String::from_utf8(body).unwrap(),
        });
        if socket.write_all(b"HTTP/1.1 204 No Content\r\n\r\n").await.is_err() {
            return;
        }
    }
}

/// Host-signed tokens, moderators from the CLI, webhooks to 127.0.0.1.
fn config(c: &mut qa_hub::Config) {
    c.identity.anonymous_writes = false;
    host_tokens(c);
    c.webhooks.webhook_allow = "127.0.0.1".parse().unwrap();
}

/// A server configured by [`config`], then `tweak`.
async fn hub_with_webhooks(backend: Backend, tweak: impl FnOnce(&mut qa_hub::Config)) -> TestApp {
    hub_with(backend, |c| {
        config(c);
        tweak(c);
    })
    .await
}

async fn register(app: &TestApp, token: &str, body: Value) -> (u16, Value) {
    app.send(Method::POST, "/api/webhooks", Some(token), body).await
}

async fn status(app: &TestApp, token: &str, id: &str) -> Value {
    let (code, body) = app.send(Method::GET, &format!("/api/webhooks/{id}"), Some(token), Value::Null).await;
    assert_eq!(code, 200, "{body}");
    body
}

/// Checks `QA-Hub-Signature` as a receiver would: HMAC-SHA256 over `{t}.{body}`.
fn verifies(secret: &str, d: &Delivery) -> bool {
    let Some((t, v1)) = d.signature.split_once(",v1=") else { return false };
    let Some(t) = t.strip_prefix("t=") else { return false };
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.{}", d.body).as_bytes());
    let expected: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
    let fresh = (chrono::Utc::now().timestamp() - t.parse::<i64>().unwrap()).abs() < 300;
    expected == v1 && fresh
}

async fn a_delivery_is_signed_and_verifies(backend: Backend) {
    let app = hub_with_webhooks(backend, |_| {}).await;
    let receiver = Receiver::start(Mode::Up).await;
    let (asker, answerer) = (user("asker"), user("answerer"));
    let (q, _) = app.thread(&asker, &answerer).await;

    // The asker's inbox, from now on: once the first answer is in it, only the second is news.
    eventually("the first answer in the inbox", WAIT, || async {
        app.send(Method::GET, "/api/inbox/unread", Some(&asker), Value::Null).await.1["last_seq"] == 1
    })
    .await;
    let (code, hook) = register(&app, &asker, json!({"url": receiver.url})).await;
    assert_eq!(code, 201, "{hook}");
    let secret = hook["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"));
    assert!(hook["topic"].as_str().unwrap().starts_with("user:"));
    let a2 = app.answer_as(&answerer, q, "second").await;
    receiver.until("the inbox event", |s| !s.got.is_empty()).await;
    let d = &receiver.got()[0];
    assert!(verifies(&secret, d), "signature {} over {}", d.signature, d.body);
    assert!(!verifies(&secret, &Delivery { body: d.body.replacen("\"seq\":", "\"seq\":1", 1), ..d.clone() }));
    assert_eq!(d.webhook, hook["id"].as_str().unwrap());
    let event = d.json();
    assert_eq!((event["type"].as_str(), event["topic"].as_str()), (Some("inbox"), hook["topic"].as_str()));
    assert_eq!(event["seq"], json!(d.seq));
    assert_eq!(event["entry"]["ref_id"], json!(a2));
    // The secret is shown once.
    let (_, listed) = app.send(Method::GET, "/api/webhooks", Some(&asker), Value::Null).await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 1);
    assert!(!listed.to_string().contains(&secret));

    // A moderator's webhook for every event of the question, from its first.
    let moderator = moderator(&app).await;
    let all = Receiver::start(Mode::Up).await;
    let (code, hook) =
        register(&app, &moderator, json!({"url": all.url, "topic": format!("question:{q}"), "after_seq": 0}))
            .await;
    assert_eq!(code, 201, "{hook}");
    let head = hook["topic_seq"].as_i64().unwrap();
    assert_eq!(head, 2);
    all.until("the question's events", |s| s.got.len() == 2).await;
    assert_eq!(all.seqs(), [1, 2]);
    assert!(all.got().iter().all(|d| verifies(hook["secret"].as_str().unwrap(), d)));
    assert_eq!(all.got()[1].json()["answer"]["id"], json!(a2));

    // Replay from a seq: the events after it again, in order.
    let id = hook["id"].as_str().unwrap();
    let (code, replayed) = app
        .send(Method::POST, &format!("/api/webhooks/{id}/replay"), Some(&moderator), json!({"after_seq": 1}))
        .await;
    assert_eq!(code, 200, "{replayed}");
    all.until("the replay", |s| s.got.len() == 3).await;
    eventually("the replay acknowledged", WAIT, || async {
        status(&app, &moderator, id).await["delivered_seq"] == 2
    })
    .await;
    assert_eq!(all.seqs(), [1, 2, 2]);

    // Deleted: nothing more.
    let (code, _) =
        app.send(Method::DELETE, &format!("/api/webhooks/{id}"), Some(&moderator), Value::Null).await;
    assert_eq!(code, 204);
    let (code, _) =
        app.send(Method::GET, &format!("/api/webhooks/{id}"), Some(&moderator), Value::Null).await;
    assert_eq!(code, 404);
}

async fn a_url_outside_the_allow_list_is_refused(backend: Backend) {
    let app = hub_with_webhooks(backend, |_| {}).await;
    let receiver = Receiver::start(Mode::Up).await;
    let (asker, other) = (user("asker"), user("other"));
    let (q, _) = app.thread(&asker, &other).await;
    let port = receiver.url.split(':').nth(2).unwrap().trim_end_matches("/hook");
    for url in [
        format!("http://127.0.0.2:{port}/hook"),
        format!("http://localhost:{port}/hook"),
        format!("http://[::1]:{port}/hook"),
        "http://10.0.0.1/hook".into(),
        "http://169.254.169.254/latest/meta-data/".into(),
    ] {
        let (code, body) = register(&app, &asker, json!({"url": url})).await;
        assert_eq!(
            (code, body["error"]["code"].as_str()),
            (403, Some("webhook_host_not_allowed")),
            "{url}: {body}"
        );
    }
    for url in ["ftp://127.0.0.1/x", "http://user:pw@127.0.0.1/x", "not a url", "file:///etc/passwd"] {
        let (code, body) = register(&app, &asker, json!({"url": url})).await;
        assert_eq!(code, 422, "{url}: {body}");
    }
    // Only one's own inbox; a question's events are for moderators.
    let me = receiver.url.clone();
    let (code, body) = register(&app, &other, json!({"url": me, "topic": format!("question:{q}")})).await;
    assert_eq!((code, body["error"]["code"].as_str()), (403, Some("forbidden")), "{body}");
    let (_, asker_me) = app.send(Method::GET, "/api/me", Some(&asker), Value::Null).await;
    let theirs = format!("user:{}", asker_me["id"].as_str().unwrap());
    let (code, body) = register(&app, &other, json!({"url": me, "topic": theirs})).await;
    assert_eq!((code, body["error"]["code"].as_str()), (403, Some("forbidden")), "{body}");
    let (code, _) = register(&app, &other, json!({"url": me, "topic": "user:nope"})).await;
    assert_eq!(code, 422);
    // Nothing was stored, so nothing is ever sent.
    for token in [&asker, &other] {
        let (_, listed) = app.send(Method::GET, "/api/webhooks", Some(token), Value::Null).await;
        assert_eq!(listed["items"], json!([]));
    }

    // A hub whose operator allowed no host has webhooks off.
    let off = hub_with_webhooks(backend, |c| c.webhooks.webhook_allow = Default::default()).await;
    let (code, body) = register(&off, &user("x"), json!({"url": receiver.url})).await;
    assert_eq!((code, body["error"]["code"].as_str()), (403, Some("webhook_host_not_allowed")), "{body}");
    assert!(receiver.got().is_empty());
}

/// The allow-list names hosts, but a name may resolve anywhere (a wildcard domain, a
/// rebinding DNS server). Each attempt resolves it once, and the hub does not connect to an
/// address on loopback, a private or link-local network or its own unless the list names that
/// address too: the attempt fails, saying why, and the endpoint hears nothing.
async fn a_name_that_resolves_to_loopback_is_not_called(backend: Backend) {
    let receiver = Receiver::start(Mode::Up).await;
    let port = receiver.url.split(':').nth(2).unwrap().trim_end_matches("/hook");
    let url = format!("http://localhost:{port}/hook");
    let named = hub_with_webhooks(backend, |c| c.webhooks.webhook_allow = "localhost".parse().unwrap()).await;
    let (asker, answerer) = (user("asker"), user("answerer"));
    let mod_named = moderator(&named).await;
    let (q, _) = named.thread(&asker, &answerer).await;
    let (code, hook) =
        register(&named, &mod_named, json!({"url": url, "topic": format!("question:{q}"), "after_seq": 0}))
            .await;
    assert_eq!(code, 201, "the name is allowed: {hook}");
    let id = hook["id"].as_str().unwrap().to_owned();
    eventually("a failed attempt", WAIT, || async { status(&named, &mod_named, &id).await["failures"] != 0 })
        .await;
    let failed = status(&named, &mod_named, &id).await;
    let why = failed["last_error"].as_str().unwrap_or_default();
    assert!(why.contains("127.0.0.1") && why.contains("loopback"), "{failed}");
    assert_eq!(failed["delivered_seq"], 0, "{failed}");
    assert_eq!(receiver.seen.lock().unwrap().connections, 0, "the endpoint was never connected to");

    // The operator names the address as well: the same URL is called.
    let both =
        hub_with_webhooks(backend, |c| c.webhooks.webhook_allow = "localhost,127.0.0.1".parse().unwrap())
            .await;
    let mod_both = moderator(&both).await;
    let (q, _) = both.thread(&asker, &answerer).await;
    let (code, hook) =
        register(&both, &mod_both, json!({"url": url, "topic": format!("question:{q}"), "after_seq": 0}))
            .await;
    assert_eq!(code, 201, "{hook}");
    receiver.until("the question's event", |s| !s.got.is_empty()).await;
    assert_eq!(receiver.seqs(), [1]);
}

/// How long the endpoint stays down.
const OUTAGE: Duration = Duration::from_secs(60);

async fn an_endpoint_down_for_a_minute_gets_everything_after_in_order_once(backend: Backend) {
    let tweak = |c: &mut qa_hub::Config| c.webhooks.webhook_retry_max_secs = 2;
    let app = hub_with_webhooks(backend, tweak).await;
    let receiver = Receiver::start(Mode::Down).await;
    let (asker, answerer) = (user("asker"), user("answerer"));
    let moderator = moderator(&app).await;
    let (q, _) = app.thread(&asker, &answerer).await;
    let (code, hook) = register(
        &app,
        &moderator,
        json!({"url": receiver.url, "topic": format!("question:{q}"), "after_seq": 0}),
    )
    .await;
    assert_eq!(code, 201, "{hook}");
    let id = hook["id"].as_str().unwrap().to_owned();
    for i in 0..3 {
        app.answer_as(&answerer, q, &format!("before the restart {i}")).await;
    }
    eventually("the first failed attempt", WAIT, || async {
        status(&app, &moderator, &id).await["failures"] != 0
    })
    .await;
    let down_since = tokio::time::Instant::now();
    let failing = status(&app, &moderator, &id).await;
    assert_eq!(failing["delivered_seq"], 0, "{failing}");
    assert!(failing["last_error"].as_str().is_some(), "{failing}");

    // The hub restarts during the outage; its delivery state is in the database.
    app.stop().await;
    let app = start_on(app.db, |c| {
        config(c);
        tweak(c);
    })
    .await;
    for i in 0..3 {
        app.answer_as(&answerer, q, &format!("after the restart {i}")).await;
    }
    // The outage is the scenario itself, not a wait for some state.
    tokio::time::sleep_until(down_since + OUTAGE).await;
    let seen = receiver.seen.lock().unwrap().refused;
    assert!(seen >= 5, "the hub kept trying through the minute ({seen} attempts)");
    assert!(receiver.got().is_empty());

    receiver.set(Mode::Up);
    let head = status(&app, &moderator, &id).await["topic_seq"].as_i64().unwrap();
    assert_eq!(head, 7);
    eventually("everything acknowledged", WAIT, || async {
        status(&app, &moderator, &id).await["delivered_seq"] == head
    })
    .await;
    assert_eq!(receiver.seqs(), (1..=head).collect::<Vec<_>>(), "in order, once");
    let bodies: Vec<String> = receiver
        .got()
        .iter()
        .skip(1)
        .map(|d| d.json()["answer"]["body"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(bodies[0], "before the restart 0");
    assert_eq!(bodies[5], "after the restart 2");
    let done = status(&app, &moderator, &id).await;
    assert_eq!((done["failures"].as_i64(), done["last_error"].as_str()), (Some(0), None), "{done}");
}

async fn a_slow_endpoint_delays_neither_sockets_nor_other_endpoints(backend: Backend) {
    // Long enough that the slow endpoint's first request is still held when the test looks.
    let app = hub_with_webhooks(backend, |c| c.webhooks.webhook_timeout_secs = 120).await;
    let (slow, fast) = (Receiver::start(Mode::Hold).await, Receiver::start(Mode::Up).await);
    let (asker, answerer) = (user("asker"), user("answerer"));
    let moderator = moderator(&app).await;
    let (q, _) = app.thread(&asker, &answerer).await;
    let mut secrets = Vec::new();
    for r in [&slow, &fast] {
        let (code, hook) =
            register(&app, &moderator, json!({"url": r.url, "topic": format!("question:{q}")})).await;
        assert_eq!(code, 201, "{hook}");
        secrets.push(hook["secret"].as_str().unwrap().to_owned());
    }
    let mut ws = app.ws().await;
    let mut last = ws.subscribe(&question_topic(q), None).await;
    // The slow endpoint is stuck on the first answer's POST…
    let mut answers = vec![app.answer_as(&answerer, q, "first").await];
    slow.until("the slow endpoint holding a POST", |s| s.held == 1).await;
    // …while five more answers are posted.
    for i in 0..5 {
        answers.push(app.answer_as(&answerer, q, &format!("a{i}")).await);
    }
    let live = events(&mut ws, &mut last, 6).await;
    assert_eq!(live.iter().map(|e| id_of(&e["answer"])).collect::<Vec<Uuid>>(), answers);
    fast.until("the fast endpoint's six", |s| s.got.len() == 6).await;
    assert_eq!(fast.seqs(), [2, 3, 4, 5, 6, 7]);
    let held = slow.seen.lock().unwrap().held;
    assert_eq!((held, slow.got().len()), (1, 0), "the slow endpoint still holds the first POST");

    slow.set(Mode::Up);
    slow.until("the slow endpoint's six", |s| s.got.len() == 6).await;
    assert_eq!(slow.seqs(), [2, 3, 4, 5, 6, 7]);
    assert!(slow.got().iter().all(|d| verifies(&secrets[0], d)));
    assert!(fast.got().iter().all(|d| verifies(&secrets[1], d)));
}

/// Two nodes on one Postgres database: each event goes out once, whichever node committed it,
/// and when the node that sends stops, the other takes its webhooks over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_send_each_event_once_and_hand_over() {
    let db = TestDb::new(Backend::Postgres).await;
    let second = start_on(db.shared(), config).await;
    let first = start_on(db, config).await;
    let receiver = Receiver::start(Mode::Up).await;
    let (asker, answerer) = (user("asker"), user("answerer"));
    let moderator = moderator(&first).await;
    let (q, _) = first.thread(&asker, &answerer).await;
    let (code, hook) = register(
        &first,
        &moderator,
        json!({"url": receiver.url, "topic": format!("question:{q}"), "after_seq": 0}),
    )
    .await;
    assert_eq!(code, 201, "{hook}");
    for i in 0..10 {
        (if i % 2 == 0 { &first } else { &second }).answer_as(&answerer, q, &format!("a{i}")).await;
    }
    receiver.until("eleven events", |s| s.got.len() >= 11).await;
    // The node that registered it sends; stopping gives the lease up.
    first.stop().await;
    for i in 10..15 {
        second.answer_as(&answerer, q, &format!("a{i}")).await;
    }
    // The other node takes over at its next look (every 10 s) now that the lease is free;
    // even a lease left behind by a crash would expire within 30 s.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(45);
    while receiver.got().len() < 16 {
        assert!(tokio::time::Instant::now() < deadline, "the second node took over: {:?}", receiver.seqs());
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let id = hook["id"].as_str().unwrap();
    eventually("all acknowledged", WAIT, || async {
        status(&second, &moderator, id).await["delivered_seq"] == 16
    })
    .await;
    assert_eq!(receiver.seqs(), (1..=16).collect::<Vec<_>>(), "in order, once");
    second.stop().await;
}

/// A deleted question's title leaves the inboxes that held it: the REST inbox, the inbox page,
/// a resume of the user topic from seq 0 and a webhook replay of it all show the entry without
/// it.
async fn a_deleted_questions_title_leaves_every_inbox(backend: Backend) {
    const TITLE: &str = "Secret plans for Friday";
    let app = hub_with_webhooks(backend, |_| {}).await;
    let (_, ann) = user_with_token(&app, "ann").await;
    let bob = user("bob");
    let (code, q) =
        app.send(Method::POST, "/api/questions", Some(&ann), json!({"title": TITLE, "body": "b"})).await;
    assert_eq!(code, 201, "{q}");
    let q = id_of(&q);
    app.answer_as(&bob, q, "an answer").await;
    eventually("the answer in ann's inbox", WAIT, || async {
        app.send(Method::GET, "/api/inbox/unread", Some(&ann), Value::Null).await.1["last_seq"] == 1
    })
    .await;
    let (_, listed) = app.send(Method::GET, "/api/inbox", Some(&ann), Value::Null).await;
    assert!(listed.to_string().contains(TITLE), "before: {listed}");

    let moderator = moderator(&app).await;
    let (code, body) =
        app.send(Method::DELETE, &format!("/api/questions/{q}"), Some(&moderator), Value::Null).await;
    assert_eq!(code, 204, "{body}");

    let (_, listed) = app.send(Method::GET, "/api/inbox", Some(&ann), Value::Null).await;
    assert_eq!(listed["items"].as_array().map(Vec::len), Some(1), "the entry stays: {listed}");
    assert_eq!(listed["items"][0]["title"], "", "{listed}");
    let cookie = session_of(&log_in(&app, "ann", "correct horse").await);
    let page =
        app.http.get(app.url("/inbox")).header("cookie", &cookie).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("(a deleted question)") && !page.contains(TITLE), "{page}");
    let (mut ws, _) = inbox_socket(&app, &ann, 0).await;
    let replayed = ws.recv().await;
    assert_eq!((replayed["type"].as_str(), replayed["entry"]["title"].as_str()), (Some("inbox"), Some("")));
    let receiver = Receiver::start(Mode::Up).await;
    let (code, hook) = register(&app, &ann, json!({"url": receiver.url, "after_seq": 0})).await;
    assert_eq!(code, 201, "{hook}");
    receiver.until("the replayed entry", |seen| !seen.got.is_empty()).await;
    let delivered = receiver.got().remove(0).json();
    assert_eq!((delivered["type"].as_str(), delivered["entry"]["title"].as_str()), (Some("inbox"), Some("")));
    assert_eq!(app.db.count(&format!("SELECT count(*) FROM inbox WHERE title = '{TITLE}'")).await, 0);
}

/// A tag's topic is public like the list of questions: a moderator may have its events sent
/// to a webhook, anyone else is refused.
async fn a_moderators_webhook_follows_a_tag(backend: Backend) {
    let app = hub_with_webhooks(backend, |_| {}).await;
    let receiver = Receiver::start(Mode::Up).await;
    let (code, body) = register(&app, &user("ann"), json!({"url": receiver.url, "topic": "tag:c#"})).await;
    assert_eq!((code, body["error"]["code"].as_str()), (403, Some("forbidden")), "{body}");
    let moderator = moderator(&app).await;
    let (code, hook) =
        register(&app, &moderator, json!({"url": receiver.url, "topic": "tag:C#", "after_seq": 0})).await;
    assert_eq!(code, 201, "{hook}");
    assert_eq!((hook["topic"].as_str(), hook["topic_seq"].as_i64()), (Some("tag:c#"), Some(0)), "{hook}");
    let asked = json!({"title": "Tagged", "body": "b", "tags": ["c#", "linq"]});
    let (code, q) = app.send(Method::POST, "/api/questions", Some(&user("ann")), asked).await;
    assert_eq!(code, 201, "{q}");
    receiver.until("the tag's event", |s| s.got.len() == 1).await;
    let event = receiver.got()[0].json();
    assert_eq!(
        (event["type"].as_str(), event["topic"].as_str(), event["seq"].as_i64()),
        (Some("question"), Some("tag:c#"), Some(1))
    );
    assert_eq!(event["question"]["id"], q["id"]);
}

on_both_backends!(
    a_moderators_webhook_follows_a_tag,
    a_deleted_questions_title_leaves_every_inbox,
    a_delivery_is_signed_and_verifies,
    a_url_outside_the_allow_list_is_refused,
    a_name_that_resolves_to_loopback_is_not_called,
    an_endpoint_down_for_a_minute_gets_everything_after_in_order_once,
    a_slow_endpoint_delays_neither_sockets_nor_other_endpoints,
);
