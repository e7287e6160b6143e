//! Several hub nodes on one Postgres database: answers posted on any node reach the
//! subscribers of every node exactly once and in seq order, also across lost connections to
//! what carries events between them. Postgres only (SQLite is single-node).
//!
//! The tests that hold for any broker run on each (`on_each_broker!`): as `notify::name` on
//! Postgres LISTEN/NOTIFY and as `nats::name` on a `nats-server` of the test's own. The
//! others are about NOTIFY itself (its listener connection, its payload limit over TLS).

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use crate::common::{
    Backend, NatsServer, TestApp, TestDb, WAIT, WsClient, answer_count, eventually, post_round_robin,
    postgres_admin_url, start_on, stop_all, subscribers, tls_connections, tweak, with_param,
};
use futures_util::future::join_all;
use serde_json::Value;
use sqlx::{Connection, PgConnection};
use tokio::{net::TcpStream, task::AbortHandle};
use uuid::Uuid;

/// Defines each listed test once per broker, `notify::name` and `nats::name`, each calling
/// `name(Via)` from the enclosing module.
macro_rules! on_each_broker {
    ($($name:ident),* $(,)?) => {
        mod notify {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() { super::$name(super::Via::Notify).await }
            )*
        }
        mod nats {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() { super::$name(super::Via::Nats).await }
            )*
        }
    };
}

on_each_broker!(
    every_subscriber_on_every_node_gets_each_answer_once_in_order,
    every_kind_of_change_reaches_other_nodes,
    payload_and_reference_paths_both_deliver_exactly_once,
    a_node_whose_link_is_cut_twice_misses_nothing,
    a_node_started_later_serves_earlier_answers_after_seq,
    readyz_says_not_ready_while_a_node_is_cut_off_then_catches_up,
    the_list_of_questions_reaches_other_nodes,
    a_tag_topic_reaches_other_nodes,
    an_inbox_resumes_exactly_on_any_node,
);

/// The broker the nodes of a test share events through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Via {
    /// Postgres LISTEN/NOTIFY (`--broker postgres`, the default on Postgres).
    Notify,
    /// A NATS server (`--broker nats://…`).
    Nats,
}

/// One test's broker: for NATS, its server and, per node, a proxy in front of it that can
/// cut that node off alone. Declared before the nodes, so dropped after them.
pub(crate) struct Broker {
    via: Via,
    nats: Option<(NatsServer, Vec<Proxy>)>,
}

impl Broker {
    /// A broker for up to `nodes` nodes.
    pub(crate) async fn start(via: Via, nodes: usize) -> Self {
        let nats = match via {
            Via::Notify => None,
            Via::Nats => {
                let server = NatsServer::start().await;
                let mut proxies = Vec::new();
                for _ in 0..nodes {
                    proxies.push(Proxy::start(server.port()).await);
                }
                Some((server, proxies))
            }
        };
        Self { via, nats }
    }

    /// Names node `i` and points it at this broker.
    pub(crate) fn tweak(&self, config: &mut qa_hub::Config, i: usize) {
        tweak(config, i);
        if let Some((_, proxies)) = &self.nats {
            config.cluster.broker = Some(format!("nats://127.0.0.1:{}", proxies[i].port).parse().unwrap());
        }
    }

    /// Closes node `i`'s connection to the broker and waits until it has a new one and is
    /// ready again.
    async fn kill_link(&self, admin: &mut PgConnection, node: &TestApp, i: usize) {
        let name = format!("node-{i}");
        let Some((server, proxies)) = &self.nats else {
            return kill_listener(admin, node, &name).await;
        };
        let cid = server.connection_id(&name).await.expect("the node is connected");
        proxies[i].cut(false);
        eventually("the node connects again", WAIT, || async {
            server.connection_id(&name).await.filter(|&new| new != cid)
        })
        .await;
        eventually("the node is ready again", WAIT, || async {
            (node.get("/readyz").await.status() == 200).then_some(())
        })
        .await;
    }

    /// Cuts node `i` off the broker so that it cannot reconnect until [`Self::reconnect`].
    async fn cut_off(&self, admin: &mut PgConnection, nodes: &[TestApp], i: usize) -> Cut {
        match &self.nats {
            None => Cut(Some(cut_off_listener(admin, nodes, i).await)),
            Some((_, proxies)) => {
                proxies[i].cut(true);
                Cut(None)
            }
        }
    }

    /// Lets node `i`, cut off by [`Self::cut_off`], reconnect, and waits until it has caught
    /// up.
    async fn reconnect(&self, admin: &mut PgConnection, node: &TestApp, i: usize, cut: Cut) {
        match (&self.nats, cut) {
            (None, Cut(Some(allow_again))) => {
                sqlx::raw_sql(sqlx::AssertSqlSafe(allow_again)).execute(&mut *admin).await.unwrap();
            }
            (Some((_, proxies)), _) => proxies[i].restore(),
            (None, Cut(None)) => unreachable!("a NOTIFY cut-off says how to undo it"),
        }
        eventually("the node is ready again", WAIT, || async {
            (node.get("/readyz").await.status() == 200).then_some(())
        })
        .await;
    }

    /// What `/readyz` says of a node cut off from this broker.
    fn cut_off_sentence(&self) -> &'static str {
        match self.via {
            Via::Notify => "listener is disconnected",
            Via::Nats => "NATS connection is lost",
        }
    }
}

/// How to undo a [`Broker::cut_off`]: on NOTIFY, the statement that allows connections again.
#[must_use]
struct Cut(Option<String>);

/// A TCP proxy in front of the NATS server for one node: closing its connections cuts that
/// node off alone, as a lost network path would.
pub(crate) struct Proxy {
    port: u16,
    state: Arc<Mutex<ProxyState>>,
}

#[derive(Default)]
struct ProxyState {
    /// New connections are closed at once.
    refusing: bool,
    /// The forwarding task of each open connection.
    open: Vec<AbortHandle>,
}

impl Proxy {
    async fn start(target: u16) -> Self {
        let socket = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = socket.local_addr().unwrap().port();
        let state: Arc<Mutex<ProxyState>> = Arc::default();
        let shared = state.clone();
        tokio::spawn(async move {
            while let Ok((mut client, _)) = socket.accept().await {
                if shared.lock().unwrap().refusing {
                    continue; // dropped: closed
                }
                let Ok(mut server) = TcpStream::connect(("127.0.0.1", target)).await else { continue };
                let forward = tokio::spawn(async move {
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                });
                shared.lock().unwrap().open.push(forward.abort_handle());
            }
        });
        Self { port, state }
    }

    /// Closes every connection through the proxy; with `refuse`, every later one too, until
    /// [`Self::restore`].
    fn cut(&self, refuse: bool) {
        let mut state = self.state.lock().unwrap();
        state.refusing = refuse;
        state.open.drain(..).for_each(|forward| forward.abort());
    }

    fn restore(&self) {
        self.state.lock().unwrap().refusing = false;
    }
}

/// Starts `n` nodes named node-0, node-1, … on one fresh database (node 0 owns it), sharing
/// `broker`.
async fn cluster(broker: &Broker, n: usize) -> Vec<TestApp> {
    cluster_with(broker, n, None).await
}

/// Like [`cluster`], with `param` (`sslmode=require`) added to every node's database URL.
async fn cluster_with(broker: &Broker, n: usize, param: Option<&str>) -> Vec<TestApp> {
    let mut db = TestDb::new(Backend::Postgres).await;
    if let Some(param) = param {
        db.url = with_param(&db.url, param);
    }
    let mut nodes = Vec::new();
    for i in 1..n {
        nodes.push(start_on(db.shared(), |c| broker.tweak(c, i)).await);
    }
    nodes.insert(0, start_on(db, |c| broker.tweak(c, 0)).await);
    nodes
}

async fn admin() -> PgConnection {
    PgConnection::connect(&postgres_admin_url()).await.expect("admin connection")
}

/// The backend pid of a node's listening connection, as Postgres reports it. Node names repeat
/// across tests running at once, so the node's own database tells them apart.
async fn listener_pid(admin: &mut PgConnection, node: &TestApp, name: &str) -> Option<i32> {
    sqlx::query_scalar("SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND datname = $2")
        .bind(format!("{}:{name}", qa_hub::broker::postgres::LISTENER_APP_NAME))
        .bind(node.db.database_name())
        .fetch_optional(admin)
        .await
        .expect("pg_stat_activity")
}

/// Kills a node's listening connection and waits until the node listens again on another.
async fn kill_listener(admin: &mut PgConnection, node: &TestApp, name: &str) {
    let pid = listener_pid(admin, node, name).await.expect("the node has a listener");
    let killed: bool =
        sqlx::query_scalar("SELECT pg_terminate_backend($1)").bind(pid).fetch_one(&mut *admin).await.unwrap();
    assert!(killed);
    eventually("the node listens on a new connection", WAIT, || async {
        listener_pid(&mut crate::cluster::admin().await, node, name).await.filter(|&new| new != pid)
    })
    .await;
    eventually("the node is ready again", WAIT, || async {
        (node.get("/readyz").await.status() == 200).then_some(())
    })
    .await;
}

/// Cuts node `i`'s listener off so that it cannot reconnect: refuses new connections to the
/// test database, then kills the listener. Returns the statement that allows connections again
/// (see [`Broker::reconnect`]).
///
/// The nodes' pools keep the connections they have open, so first make them open all of
/// theirs (a post and a fetch may overlap): busy them with requests until Postgres shows every
/// pool full (3 each) plus the listeners.
async fn cut_off_listener(admin: &mut PgConnection, nodes: &[TestApp], i: usize) -> String {
    let db_name = nodes[0].db.database_name().to_owned();
    eventually("every pool holds all its connections", WAIT, || async {
        let burst = nodes.iter().flat_map(|node| (0..12).map(move |_| node.get("/api/questions")));
        join_all(burst).await;
        let open: i64 = sqlx::query_scalar("SELECT count(*) FROM pg_stat_activity WHERE datname = $1")
            .bind(&db_name)
            .fetch_one(&mut crate::cluster::admin().await)
            .await
            .unwrap();
        (open >= nodes.len() as i64 * (3 + 1)).then_some(())
    })
    .await;
    let allow = |yes: bool| format!("ALTER DATABASE {db_name} ALLOW_CONNECTIONS {yes}");
    sqlx::raw_sql(sqlx::AssertSqlSafe(allow(false))).execute(&mut *admin).await.unwrap();
    let name = format!("node-{i}");
    let pid = listener_pid(admin, &nodes[i], &name).await.expect("the node listens");
    sqlx::query("SELECT pg_terminate_backend($1)").bind(pid).execute(&mut *admin).await.unwrap();
    allow(true)
}

/// Every client receives exactly seqs 1..=n in order: then a sentinel posted afterwards
/// must be the very next message (a repeat or a stray would come before it).
async fn assert_exactly_once_in_order(clients: &mut [WsClient], nodes: &[TestApp], q: Uuid, n: i64) {
    let expected: Vec<(Uuid, i64)> = (1..=n).map(|seq| (q, seq)).collect();
    for ws in clients.iter_mut() {
        assert_eq!(ws.answers(n as usize).await, expected);
    }
    nodes[0].answer(q, "sentinel").await;
    for ws in clients.iter_mut() {
        assert_eq!(ws.answers(1).await, vec![(q, n + 1)]);
    }
}

async fn every_subscriber_on_every_node_gets_each_answer_once_in_order(via: Via) {
    let broker = Broker::start(via, 3).await;
    let nodes = cluster(&broker, 3).await;
    let q = nodes[0].question().await;
    let mut clients = subscribers(&nodes, 2, q).await;
    post_round_robin(&nodes, q, 1, 200).await;
    assert_exactly_once_in_order(&mut clients, &nodes, q, 200).await;
    stop_all(nodes).await;
}

/// Votes, accepts, edits, comments and deletes go through the same commit hook as answers: a
/// change made on one node reaches a subscriber on another, once, at the next seq.
async fn every_kind_of_change_reaches_other_nodes(via: Via) {
    use crate::common::{ISSUER, SECRET, jwt, now};
    let broker = Broker::start(via, 2).await;
    let db = TestDb::new(Backend::Postgres).await;
    let with_jwt = |c: &mut qa_hub::Config, i: usize| {
        broker.tweak(c, i);
        c.identity.jwt_secret = Some(SECRET.into());
        c.identity.jwt_issuer = Some(ISSUER.into());
    };
    let b = start_on(db.shared(), |c| with_jwt(c, 1)).await;
    let a = start_on(db, |c| with_jwt(c, 0)).await;
    let user = |sub: &str| jwt(serde_json::json!({"iss": ISSUER, "sub": sub, "exp": now() + 600}), SECRET);
    let (asker, answerer, voter) = (user("asker"), user("answerer"), user("voter"));
    let send = |node: &TestApp, method: reqwest::Method, path: String, token: &str, body: Value| {
        node.http.request(method, node.url(&path)).bearer_auth(token).json(&body).send()
    };
    let res = send(
        &a,
        reqwest::Method::POST,
        "/api/questions".into(),
        &asker,
        serde_json::json!({"title": "t", "body": "b"}),
    )
    .await
    .unwrap();
    let q = crate::common::id_of(&res.json::<Value>().await.unwrap());
    let mut ws = b.ws().await;
    ws.subscribe_legacy(q, None).await;
    let res = send(
        &a,
        reqwest::Method::POST,
        format!("/api/questions/{q}/answers"),
        &answerer,
        serde_json::json!({"body": "a"}),
    )
    .await
    .unwrap();
    let answer = crate::common::id_of(&res.json::<Value>().await.unwrap());
    assert_eq!(ws.answers(1).await, vec![(q, 1)]);

    let res = send(
        &a,
        reqwest::Method::PUT,
        format!("/api/answers/{answer}/vote"),
        &voter,
        serde_json::json!({"value": 1}),
    )
    .await
    .unwrap();
    assert_eq!(res.status(), 200);
    let res = send(&a, reqwest::Method::PUT, format!("/api/answers/{answer}/accept"), &asker, Value::Null)
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let score = ws.recv().await;
    assert_eq!(
        (score["type"].as_str(), score["seq"].as_i64(), score["score"].as_i64()),
        (Some("score"), Some(2), Some(1)),
        "{score}"
    );
    let accept = ws.recv().await;
    assert_eq!((accept["type"].as_str(), accept["seq"].as_i64()), (Some("accept"), Some(3)), "{accept}");
    assert_eq!(accept["answer_id"], serde_json::json!(answer));

    // An edit too long for a NOTIFY payload (there it goes by reference, read from the log),
    // a comment and a delete: each at the next seq on the other node.
    let long = "y".repeat(9_000);
    let answer_path = format!("/api/answers/{answer}");
    let res =
        send(&a, reqwest::Method::PATCH, answer_path.clone(), &answerer, serde_json::json!({"body": long}));
    assert_eq!(res.await.unwrap().status(), 200);
    let res = send(
        &a,
        reqwest::Method::POST,
        format!("{answer_path}/comments"),
        &voter,
        serde_json::json!({"body": "c"}),
    );
    assert_eq!(res.await.unwrap().status(), 201);
    let res = send(&a, reqwest::Method::DELETE, answer_path, &answerer, Value::Null);
    assert_eq!(res.await.unwrap().status(), 204);
    let edit = ws.recv().await;
    assert_eq!(
        (edit["type"].as_str(), edit["seq"].as_i64(), edit["body"].as_str()),
        (Some("edit"), Some(4), Some(&*long))
    );
    let comment = ws.recv().await;
    assert_eq!((comment["type"].as_str(), comment["seq"].as_i64()), (Some("comment"), Some(5)), "{comment}");
    let delete = ws.recv().await;
    assert_eq!((delete["type"].as_str(), delete["seq"].as_i64()), (Some("delete"), Some(6)), "{delete}");
    assert_eq!(delete["post_id"], serde_json::json!(answer));
    stop_all(vec![a, b]).await;
}

/// An event small enough travels in the NOTIFY payload (no database read on the other nodes);
/// one near the limit goes by reference and is read from the log. Both reach every subscriber
/// on three nodes exactly once and in order. (On NATS every event travels as its frame.)
async fn payload_and_reference_paths_both_deliver_exactly_once(via: Via) {
    let broker = Broker::start(via, 3).await;
    let nodes = cluster(&broker, 3).await;
    let q = nodes[0].question().await;
    let mut clients = subscribers(&nodes, 1, q).await;
    // Its frame is a little over NOTIFY's 8,000-byte limit, so it goes by reference whatever
    // `--notify-inline-bytes` says.
    let near_limit = "x".repeat(7_900);
    for i in 1..=24 {
        let body = if i % 2 == 0 { near_limit.clone() } else { format!("short {i}") };
        nodes[i % 3].answer(q, &body).await;
    }
    assert_exactly_once_in_order(&mut clients, &nodes, q, 24).await;
    for (i, node) in nodes.iter().enumerate() {
        let frames = node.metric(r#"qa_hub_broker_events_received_total{path="frame"}"#).await;
        let references = node.metric(r#"qa_hub_broker_events_received_total{path="reference"}"#).await;
        match via {
            Via::Notify => {
                assert!(
                    frames >= 8.0 && references >= 8.0,
                    "node {i}: {frames} frames, {references} references"
                )
            }
            // NATS has no reference path: the answers posted on the other two nodes come as
            // frames. Not necessarily all 16 by now: a session that saw a gap (two publishers'
            // frames cross) read the missing answer from the log, and its frame can still be in
            // flight when the counter is read (CI saw 13).
            Via::Nats => {
                assert!(
                    frames >= 1.0 && references == 0.0,
                    "node {i}: {frames} frames, {references} references"
                )
            }
        }
    }
    stop_all(nodes).await;
}

/// With `sslmode=require`, every connection of every node — the pools and the listeners, also
/// a listener that reconnects — is encrypted, and answers still reach every node exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_over_tls_share_answers_exactly_once() {
    let broker = Broker::start(Via::Notify, 3).await;
    let nodes = cluster_with(&broker, 3, Some("sslmode=require")).await;
    let mut admin = admin().await;
    let q = nodes[0].question().await;
    let mut clients = subscribers(&nodes, 2, q).await;
    post_round_robin(&nodes, q, 1, 30).await;
    kill_listener(&mut admin, &nodes[1], "node-1").await;
    post_round_robin(&nodes, q, 31, 60).await;
    assert_exactly_once_in_order(&mut clients, &nodes, q, 60).await;
    let listeners: Vec<bool> = sqlx::query_scalar(
        "SELECT s.ssl FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid) \
         WHERE a.datname = $1 AND a.application_name LIKE 'qa-hub-listener:%'",
    )
    .bind(nodes[0].db.database_name())
    .fetch_all(&mut admin)
    .await
    .unwrap();
    assert_eq!(listeners, vec![true; 3], "one encrypted listener per node");
    let (encrypted, all) = tls_connections(&mut admin, nodes[0].db.database_name()).await;
    assert!(all > 3 && encrypted == all, "{encrypted} of {all} connections use TLS");
    stop_all(nodes).await;
}

/// On NOTIFY, node 2's listener is killed; on NATS, its connection to the server is closed.
async fn a_node_whose_link_is_cut_twice_misses_nothing(via: Via) {
    let broker = Broker::start(via, 3).await;
    let nodes = cluster(&broker, 3).await;
    let q = nodes[0].question().await;
    let mut clients = subscribers(&nodes, 2, q).await;
    let mut admin = admin().await;
    // Cut node 2's link while the others keep posting, then again later.
    let posting = post_round_robin(&nodes[..2], q, 1, 200);
    let killing = async {
        eventually("some answers are in", WAIT, || async {
            (answer_count(&nodes[0], q).await >= 40).then_some(())
        })
        .await;
        broker.kill_link(&mut admin, &nodes[2], 2).await;
        eventually("more answers are in", WAIT, || async {
            (answer_count(&nodes[0], q).await >= 120).then_some(())
        })
        .await;
        broker.kill_link(&mut admin, &nodes[2], 2).await;
    };
    tokio::join!(posting, killing);
    assert_exactly_once_in_order(&mut clients, &nodes, q, 200).await;
    stop_all(nodes).await;
}

async fn a_node_started_later_serves_earlier_answers_after_seq(via: Via) {
    let broker = Broker::start(via, 2).await;
    let db = TestDb::new(Backend::Postgres).await;
    let first = start_on(db.shared(), |c| broker.tweak(c, 0)).await;
    let q = first.question().await;
    for i in 1..=5 {
        first.answer(q, &format!("answer {i}")).await;
    }
    let later = start_on(db, |c| broker.tweak(c, 1)).await;
    let mut ws = later.ws().await;
    assert_eq!(ws.subscribe_legacy(q, Some(2)).await, 5);
    assert_eq!(ws.answers(3).await, vec![(q, 3), (q, 4), (q, 5)]);
    // And it hears what is posted on the first node from now on.
    first.answer(q, "answer 6").await;
    assert_eq!(ws.answers(1).await, vec![(q, 6)]);
    first.stop().await;
    later.stop().await;
}

async fn readyz_says_not_ready_while_a_node_is_cut_off_then_catches_up(via: Via) {
    let broker = Broker::start(via, 2).await;
    let nodes = cluster(&broker, 2).await;
    let q = nodes[0].question().await;
    let mut clients = subscribers(&nodes, 1, q).await;
    nodes[0].answer(q, "before").await;
    for ws in &mut clients {
        assert_eq!(ws.answers(1).await, vec![(q, 1)]);
    }
    assert_eq!(nodes[1].get("/readyz").await.status(), 200);

    let mut admin = admin().await;
    let cut = broker.cut_off(&mut admin, &nodes, 1).await;

    let body: Value = eventually("node 1 reports not ready", WAIT, || async {
        let res = nodes[1].get("/readyz").await;
        (res.status() == 503).then_some(res)?.json().await.ok()
    })
    .await;
    assert_eq!(body["error"]["code"], "unavailable", "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains(broker.cut_off_sentence()), "{message}");
    assert_eq!(nodes[0].get("/readyz").await.status(), 200, "the other node is unaffected");

    // Posted while node 1 is deaf: its subscriber must still get them after the reconnect.
    nodes[0].answer(q, "during 1").await;
    nodes[0].answer(q, "during 2").await;
    assert_eq!(clients[0].answers(2).await, vec![(q, 2), (q, 3)]);

    broker.reconnect(&mut admin, &nodes[1], 1, cut).await;
    assert_eq!(clients[1].answers(2).await, vec![(q, 2), (q, 3)]);
    nodes[1].answer(q, "after").await;
    for ws in &mut clients {
        assert_eq!(ws.answers(1).await, vec![(q, 4)]);
    }
    stop_all(nodes).await;
}

/// The list of questions crosses nodes like a question's topic: a question asked on one node
/// reaches a `questions` subscriber on another at the next seq, and so does a deletion; the
/// questions asked while that node's listener is cut off arrive by its catch-up from the log
/// (no later event fills the gap for it), once and in order.
async fn the_list_of_questions_reaches_other_nodes(via: Via) {
    use crate::common::{ISSUER, SECRET, events, user};
    let broker = Broker::start(via, 2).await;
    let db = TestDb::new(Backend::Postgres).await;
    let with_jwt = |c: &mut qa_hub::Config, i: usize| {
        broker.tweak(c, i);
        c.identity.jwt_secret = Some(SECRET.into());
        c.identity.jwt_issuer = Some(ISSUER.into());
    };
    let b = start_on(db.shared(), |c| with_jwt(c, 1)).await;
    let a = start_on(db, |c| with_jwt(c, 0)).await;
    let ann = user("ann");
    async fn ask_on(node: &TestApp, token: &str, title: &str) -> Uuid {
        let body = serde_json::json!({"title": title, "body": "b"});
        let (status, q) = node.send(reqwest::Method::POST, "/api/questions", Some(token), body).await;
        assert_eq!(status, 201, "{q}");
        crate::common::id_of(&q)
    }
    let mut ws = b.ws().await;
    let mut last = ws.subscribe("questions", None).await;
    assert_eq!(last, 0);

    let first = ask_on(&a, &ann, "Asked on node 0").await;
    let got = events(&mut ws, &mut last, 1).await;
    assert_eq!(
        (got[0]["type"].as_str(), got[0]["question"]["id"].clone()),
        (Some("question"), serde_json::json!(first))
    );
    // Asked on the subscriber's own node, then on the other: the next seqs, whichever node.
    let second = ask_on(&b, &ann, "Asked on node 1").await;
    let third = ask_on(&a, &ann, "Asked on node 0 again").await;
    let got = events(&mut ws, &mut last, 2).await;
    let ids: Vec<_> = got.iter().map(|e| e["question"]["id"].clone()).collect();
    assert_eq!(ids, vec![serde_json::json!(second), serde_json::json!(third)]);
    let (status, _) =
        a.send(reqwest::Method::DELETE, &format!("/api/questions/{second}"), Some(&ann), Value::Null).await;
    assert_eq!(status, 204);
    let got = events(&mut ws, &mut last, 1).await;
    assert_eq!(
        got[0],
        serde_json::json!({"type": "question-delete", "topic": "questions", "seq": 4, "question_id": second})
    );

    // Node 1 deaf: what is asked meanwhile reaches it by its catch-up after the reconnect.
    let nodes = [a, b];
    let mut admin = admin().await;
    let cut = broker.cut_off(&mut admin, &nodes, 1).await;
    let during = [
        ask_on(&nodes[0], &ann, "Asked while node 1 is deaf").await,
        ask_on(&nodes[0], &ann, "And another").await,
    ];
    assert!(ws.recv_within(Duration::from_millis(300)).await.is_none(), "node 1 heard nothing yet");
    broker.reconnect(&mut admin, &nodes[1], 1, cut).await;
    let got = events(&mut ws, &mut last, 2).await;
    let ids: Vec<_> = got.iter().map(|e| e["question"]["id"].clone()).collect();
    assert_eq!(ids, during.iter().map(|id| serde_json::json!(id)).collect::<Vec<_>>());
    assert!(ws.recv_within(Duration::from_millis(300)).await.is_none(), "each once");
    stop_all(Vec::from(nodes)).await;
}

/// A tag's topic crosses nodes like the list: names with `.` and `#` (which NATS subjects
/// cannot carry as they are) reach the other node, live and by the catch-up after a cut.
async fn a_tag_topic_reaches_other_nodes(via: Via) {
    use crate::common::{ISSUER, SECRET, events, user};
    let broker = Broker::start(via, 2).await;
    let db = TestDb::new(Backend::Postgres).await;
    let with_jwt = |c: &mut qa_hub::Config, i: usize| {
        broker.tweak(c, i);
        c.identity.jwt_secret = Some(SECRET.into());
        c.identity.jwt_issuer = Some(ISSUER.into());
    };
    let b = start_on(db.shared(), |c| with_jwt(c, 1)).await;
    let a = start_on(db, |c| with_jwt(c, 0)).await;
    let ann = user("ann");
    async fn ask_on(node: &TestApp, token: &str, title: &str, tags: &[&str]) -> Uuid {
        let body = serde_json::json!({"title": title, "body": "b", "tags": tags});
        let (status, q) = node.send(reqwest::Method::POST, "/api/questions", Some(token), body).await;
        assert_eq!(status, 201, "{q}");
        crate::common::id_of(&q)
    }
    let ids = |got: &[Value]| got.iter().map(|e| e["question"]["id"].clone()).collect::<Vec<_>>();
    let mut net = b.ws().await;
    let mut net_seq = net.subscribe("tag:asp.net-core", None).await;
    let mut sharp = b.ws().await;
    let mut sharp_seq = sharp.subscribe("tag:c#", None).await;

    let first = ask_on(&a, &ann, "On node 0", &["asp.net-core", "c#"]).await;
    let second = ask_on(&b, &ann, "On node 1", &["c#"]).await;
    assert_eq!(ids(&events(&mut net, &mut net_seq, 1).await), [serde_json::json!(first)]);
    let got = events(&mut sharp, &mut sharp_seq, 2).await;
    assert_eq!(ids(&got), [serde_json::json!(first), serde_json::json!(second)]);
    assert_eq!(got[0]["topic"], "tag:c#");

    // Node 1 deaf: what is asked meanwhile reaches it by its catch-up after the reconnect.
    let nodes = [a, b];
    let mut admin = admin().await;
    let cut = broker.cut_off(&mut admin, &nodes, 1).await;
    let during = ask_on(&nodes[0], &ann, "While node 1 is deaf", &["c#", "asp.net-core"]).await;
    broker.reconnect(&mut admin, &nodes[1], 1, cut).await;
    assert_eq!(ids(&events(&mut net, &mut net_seq, 1).await), [serde_json::json!(during)]);
    assert_eq!(ids(&events(&mut sharp, &mut sharp_seq, 1).await), [serde_json::json!(during)]);
    for ws in [&mut net, &mut sharp] {
        assert!(ws.recv_within(Duration::from_millis(300)).await.is_none(), "each once");
    }
    stop_all(Vec::from(nodes)).await;
}

/// Measures events/s through NOTIFY (docs/scaling.md). Not part of the suite: run with
///
///     cargo test --test main cluster::notify_throughput -- --ignored --nocapture
///
/// and tune with QA_HUB_BENCH_NODES (3), _ANSWERS (3000), _POSTERS (8), _QUESTIONS (50) and
/// _BODY_BYTES (20) and _INLINE_BYTES (the server's `--notify-inline-bytes`, default 3000; 0
/// sends every event by reference, 8000 inlines everything that fits).
/// Answers are posted over REST to node 0; every other node gets each one only through
/// LISTEN/NOTIFY (and, by reference, a read of the log). Each node has one WebSocket client
/// subscribed to every question.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "measurement; see docs/scaling.md"]
async fn notify_throughput() {
    use std::time::Instant;

    let env = |name: &str, default: usize| {
        std::env::var(format!("QA_HUB_BENCH_{name}")).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
    };
    let (n_nodes, n_answers, n_posters, n_questions, body_bytes) = (
        env("NODES", 3),
        env("ANSWERS", 3000),
        env("POSTERS", 8),
        env("QUESTIONS", 50),
        env("BODY_BYTES", 20),
    );
    let inline_bytes = env("INLINE_BYTES", 3000);
    let db = TestDb::new(Backend::Postgres).await;
    let mut nodes = Vec::new();
    for i in 0..n_nodes {
        nodes.push(
            start_on(db.shared(), |c| {
                c.cluster.node_id = Some(format!("bench-{i}"));
                c.database.db_pool = if i == 0 { n_posters as u32 + 2 } else { 4 };
                c.realtime.outbound_queue = n_answers + 16;
                c.cluster.notify_inline_bytes = inline_bytes;
            })
            .await,
        );
    }
    let mut questions = Vec::new();
    for _ in 0..n_questions {
        questions.push(nodes[0].question().await);
    }
    // One client per node, subscribed to every question.
    let mut receivers = Vec::new();
    for node in &nodes {
        let mut ws = node.ws().await;
        for &q in &questions {
            ws.subscribe_legacy(q, None).await;
        }
        receivers.push(tokio::spawn(async move {
            ws.answers(n_answers).await;
            Instant::now()
        }));
    }
    let body = format!("{:x<body_bytes$}", "");
    let start = Instant::now();
    let posters = (0..n_posters).map(|p| {
        let (node, questions, body) = (&nodes[0], &questions, &body);
        async move {
            for i in (0..n_answers).filter(|i| i % n_posters == p) {
                node.answer(questions[i % questions.len()], body).await;
            }
        }
    });
    join_all(posters).await;
    let posted = start.elapsed();
    let done: Vec<Instant> = join_all(receivers).await.into_iter().map(|r| r.unwrap()).collect();
    let rate = |d: Duration| n_answers as f64 / d.as_secs_f64();
    println!(
        "nodes={n_nodes} answers={n_answers} posters={n_posters} questions={n_questions} body={body_bytes}B \
         inline<{inline_bytes}B: \
         posted in {posted:.2?} ({:.0} answers/s committed)",
        rate(posted)
    );
    for (i, at) in done.iter().enumerate() {
        let took = at.duration_since(start);
        println!(
            "  node {i}{}: all {n_answers} delivered after {took:.2?} ({:.0} answers/s), \
             {:.0?} after the last commit",
            if i == 0 { " (local)" } else { "" },
            rate(took),
            at.saturating_duration_since(start + posted)
        );
    }
    stop_all(nodes).await;
    drop(db);
}

/// Upper bound of the user-space memory one subscribed WebSocket costs (docs/scaling.md):
/// the growth of this process's RSS while it opens N connections, each subscribed to one
/// question. Server *and* client side live in this process (the clients with 1 KiB buffers),
/// so the server alone costs somewhat less; kernel socket buffers are not included. Run with
///
///     cargo test --test cluster memory_per_connection -- --ignored --nocapture
///
/// (QA_HUB_BENCH_CONNECTIONS, default 2000).
#[tokio::test(flavor = "multi_thread")]
#[ignore = "measurement; see docs/scaling.md"]
async fn memory_per_connection() {
    fn rss_kib() -> u64 {
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    }
    let n: usize =
        std::env::var("QA_HUB_BENCH_CONNECTIONS").ok().and_then(|v| v.parse().ok()).unwrap_or(2000);
    let broker = Broker::start(Via::Notify, 1).await;
    let nodes = cluster(&broker, 1).await;
    let mut questions = Vec::new();
    for _ in 0..10 {
        questions.push(nodes[0].question().await);
    }
    // Warm up allocators and pools before the baseline.
    let mut clients = subscribers(&nodes, 10, questions[0]).await;
    // Small client buffers (tungstenite reads in 128 KiB chunks by default), so that the
    // growth is mostly the server's.
    let config = qa_hub_client::WebSocketConfig::default().read_buffer_size(1024).write_buffer_size(0);
    let url = format!("ws://{}/ws", nodes[0].addr);
    let before = rss_kib();
    for i in 0..n {
        let conn = qa_hub_client::Connection::connect_with(&url, Some(config)).await.unwrap();
        let mut ws = WsClient { conn };
        ws.subscribe_legacy(questions[i % questions.len()], None).await;
        clients.push(ws);
    }
    let after = rss_kib();
    // Every connection still works: one answer reaches the subscribers of its question.
    nodes[0].answer(questions[1], "still alive").await;
    for ws in clients.iter_mut().skip(10).skip(1).step_by(questions.len()) {
        assert_eq!(ws.answers(1).await, vec![(questions[1], 1)]);
    }
    println!(
        "{n} subscribed connections: RSS {before} KiB -> {after} KiB, {:.1} KiB per connection \
         (server + client, user space)",
        (after - before) as f64 / n as f64
    );
    drop(clients);
    stop_all(nodes).await;
}

/// An inbox across nodes: answers posted on one node reach the asker's inbox socket on
/// another at the next seqs, and a resume on either node from any seq sends exactly the rest.
async fn an_inbox_resumes_exactly_on_any_node(via: Via) {
    use crate::common::{ISSUER, SECRET, events, inbox_socket, user};
    let broker = Broker::start(via, 2).await;
    let db = TestDb::new(Backend::Postgres).await;
    let with_jwt = |c: &mut qa_hub::Config, i: usize| {
        broker.tweak(c, i);
        c.identity.anonymous_writes = false;
        c.identity.jwt_secret = Some(SECRET.into());
        c.identity.jwt_issuer = Some(ISSUER.into());
    };
    let b = start_on(db.shared(), |c| with_jwt(c, 1)).await;
    let a = start_on(db, |c| with_jwt(c, 0)).await;
    let asker = user("asker");
    let (q, _) = a.thread(&asker, &user("u1")).await;
    let (mut on_b, _) = inbox_socket(&b, &asker, 0).await;
    let mut last = 0;
    for (i, node) in [&a, &b, &a].into_iter().enumerate() {
        node.answer_as(&user(&format!("v{i}")), q, "more").await;
    }
    // The first answer's entry, then the same entry growing with each answer, wherever posted.
    let live = events(&mut on_b, &mut last, 4).await;
    let counts: Vec<_> = live.iter().map(|e| e["entry"]["count"].as_i64().unwrap()).collect();
    match via {
        Via::Notify => assert_eq!(counts, [1, 2, 3, 4]),
        // On NATS a node hears a topic only once its subscription has reached the server: an
        // event published just before is read from the log when the next one shows the gap,
        // and the log shows the entry as it is now (CI saw [4, 2, 3, 4]). Still each seq once,
        // in order (`events`), ending with the entry's last state.
        Via::Nats => assert!(counts.iter().all(|c| (1..=4).contains(c)) && counts[3] == 4, "{counts:?}"),
    }
    for node in [&a, &b] {
        for from in 0..last {
            let (mut ws, head) = inbox_socket(node, &asker, from).await;
            assert_eq!(head, last);
            let mut seen = from;
            let resumed = events(&mut ws, &mut seen, (head - from) as usize).await;
            assert_eq!(resumed.len() as i64, head - from);
            assert_eq!(resumed.last(), live.last(), "resuming after seq {from}");
        }
    }
    stop_all(vec![a, b]).await;
}
