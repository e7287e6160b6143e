//! A real database restart under load: a throwaway Postgres cluster of the test's own (initdb,
//! pg_ctl), three nodes on it, subscribers on every node and posts in flight while the cluster
//! is stopped and started again. Every committed answer reaches every subscriber once, in
//! order; every 201 is stored; an error is stored only if it said the outcome was unknown;
//! /readyz says 503 while the database is gone and 200 once it is back.

use std::{
    path::{Path, PathBuf},
    process::Command,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use qa_hub_client::{Backoff, Event, EventBody, EventFrame, ServerMessage, Subscriber, Topic};
use serde_json::{Value, json};

use crate::common::{TestApp, TestDb, WAIT, start_on};

/// A Postgres cluster in a temp dir, run as the `postgres` user (Postgres refuses root).
struct Cluster {
    bin: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
}

fn as_postgres(bin: &Path, tool: &str, args: &[&str]) -> bool {
    let status = Command::new("runuser")
        .args(["-u", "postgres", "--"])
        .arg(bin.join(tool))
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap_or_else(|e| panic!("runuser {tool}: {e}"));
    status.success()
}

impl Cluster {
    fn init() -> Self {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .expect("Postgres' binaries under /usr/lib/postgresql")
            .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
            .find(|p| p.join("initdb").exists())
            .expect("initdb");
        let dir = tempfile::tempdir().unwrap();
        let owned = Command::new("chown").args(["-R", "postgres:postgres"]).arg(dir.path()).status().unwrap();
        assert!(owned.success());
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let cluster = Self { bin, dir, port };
        let data = cluster.data();
        assert!(
            as_postgres(&cluster.bin, "initdb", &["-D", &data, "-U", "postgres", "-A", "trust"]),
            "initdb"
        );
        cluster
    }

    fn data(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn start(&self) {
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -k {} -c max_connections=100",
            self.port,
            self.dir.path().display()
        );
        let log = self.dir.path().join("log").display().to_string();
        assert!(
            as_postgres(
                &self.bin,
                "pg_ctl",
                &["-D", &self.data(), "-l", &log, "-o", &options, "-w", "start"]
            ),
            "pg_ctl start"
        );
    }

    fn stop(&self) {
        assert!(
            as_postgres(&self.bin, "pg_ctl", &["-D", &self.data(), "-m", "fast", "-w", "stop"]),
            "pg_ctl stop"
        );
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        as_postgres(&self.bin, "pg_ctl", &["-D", &self.data(), "-m", "immediate", "-w", "stop"]);
    }
}

/// (seq, body) of answers, in the order seen.
type Answers = Vec<(i64, String)>;

/// What one POST got back.
#[derive(Debug, Clone)]
enum Outcome {
    Created,
    /// A refusal that promises nothing was written.
    Failed(u16, String),
    /// `outcome_unknown`: it may or may not be stored.
    Unknown,
}

async fn ready(node: &TestApp) -> u16 {
    match node.http.get(node.url("/readyz")).send().await {
        Ok(res) => res.status().as_u16(),
        Err(_) => 0,
    }
}

async fn until_ready(nodes: &[TestApp], want: u16, limit: Duration) {
    let deadline = tokio::time::Instant::now() + limit;
    for node in nodes {
        while ready(node).await != want {
            assert!(tokio::time::Instant::now() < deadline, "timed out waiting for /readyz {want}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_database_restart_loses_and_duplicates_nothing() {
    let cluster = Cluster::init();
    cluster.start();
    let mut nodes = Vec::new();
    for i in 0..3 {
        nodes.push(
            start_on(TestDb::external(cluster.url()), |c| {
                c.cluster.node_id = Some(format!("restart-{i}"));
                c.database.db_pool = 4;
            })
            .await,
        );
    }
    let q = nodes[0].question().await;
    nodes[0].answer(q, "before").await;

    // A subscriber on every node, resuming by seq across whatever happens to its connection.
    let backoff = Backoff { initial: Duration::from_millis(100), max: Duration::from_secs(1), jitter: 0.5 };
    let seen: Arc<Mutex<Vec<Answers>>> = Arc::new(Mutex::new(vec![Vec::new(); 3]));
    for (i, node) in nodes.iter().enumerate() {
        let mut subscriber = Subscriber::new(&format!("ws://{}/ws", node.addr))
            .unwrap()
            .with_backoff(backoff)
            .with_topic(Topic::Question(q), Some(0));
        let seen = seen.clone();
        tokio::spawn(async move {
            while let Some(event) = subscriber.next().await {
                if let Event::Message(ServerMessage::Event(EventFrame {
                    seq,
                    body: EventBody::Answer { answer },
                    ..
                })) = event
                {
                    seen.lock().unwrap()[i].push((seq, answer.body));
                }
            }
        });
    }

    // Posts in flight on every node until told to stop.
    let stop = Arc::new(AtomicBool::new(false));
    let outcomes: Arc<Mutex<Vec<(String, Outcome)>>> = Arc::default();
    let mut posters = Vec::new();
    for (i, node) in nodes.iter().enumerate() {
        let (url, stop, outcomes) =
            (node.url(&format!("/api/questions/{q}/answers")), stop.clone(), outcomes.clone());
        let http = reqwest::Client::builder().timeout(Duration::from_secs(60)).build().unwrap();
        posters.push(tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(Ordering::SeqCst) {
                let body = format!("node {i} post {n}");
                n += 1;
                let res =
                    http.post(&url).json(&json!({"body": body, "author": "load"})).send().await.unwrap();
                let status = res.status().as_u16();
                let reply: Value = res.json().await.unwrap_or(Value::Null);
                let outcome = match (status, reply["error"]["code"].as_str()) {
                    (201, _) => Outcome::Created,
                    (_, Some("outcome_unknown")) => Outcome::Unknown,
                    (status, code) => Outcome::Failed(status, code.unwrap_or_default().to_owned()),
                };
                outcomes.lock().unwrap().push((body, outcome));
            }
        }));
    }
    let created = |outcomes: &Mutex<Vec<(String, Outcome)>>| {
        outcomes.lock().unwrap().iter().filter(|(_, o)| matches!(o, Outcome::Created)).count()
    };
    let before = created(&outcomes);
    crate::common::eventually("posts flowing", WAIT, || async { created(&outcomes) >= before + 30 }).await;

    cluster.stop();
    // The database is gone: no node may say it is ready (each answers from a ping, not from
    // a flag that could lag).
    for node in &nodes {
        assert_eq!(ready(node).await, 503, "/readyz while the database is down");
    }
    let during = created(&outcomes);
    cluster.start();
    until_ready(&nodes, 200, Duration::from_secs(30)).await;
    crate::common::eventually("posts flowing again", WAIT, || async { created(&outcomes) >= during + 30 })
        .await;
    stop.store(true, Ordering::SeqCst);
    for poster in posters {
        poster.await.unwrap();
    }

    // What is stored, in seq order.
    let mut stored: Answers = Vec::new();
    loop {
        let after = stored.last().map_or(0, |(seq, _)| *seq);
        let page: Value = nodes[1]
            .get(&format!("/api/questions/{q}/answers?after_seq={after}&limit=100"))
            .await
            .json()
            .await
            .unwrap();
        let items = page["items"].as_array().unwrap();
        if items.is_empty() {
            break;
        }
        stored.extend(
            items.iter().map(|a| (a["seq"].as_i64().unwrap(), a["body"].as_str().unwrap().to_owned())),
        );
    }
    assert_eq!(
        stored.iter().map(|(s, _)| *s).collect::<Vec<_>>(),
        (1..=stored.len() as i64).collect::<Vec<_>>()
    );
    let bodies: std::collections::HashSet<&str> = stored.iter().map(|(_, b)| b.as_str()).collect();
    let outcomes = outcomes.lock().unwrap().clone();
    let refused = outcomes.iter().filter(|(_, o)| matches!(o, Outcome::Failed(..))).count();
    let unknown = outcomes.iter().filter(|(_, o)| matches!(o, Outcome::Unknown)).count();
    for (body, outcome) in &outcomes {
        match outcome {
            Outcome::Created => assert!(bodies.contains(body.as_str()), "a 201 that is not stored: {body}"),
            Outcome::Failed(status, code) => {
                assert!(*status == 503, "an error other than 503 ({status} {code}) for {body}");
                assert!(
                    !bodies.contains(body.as_str()),
                    "a refused post ({status} {code}) was stored: {body}"
                );
            }
            Outcome::Unknown => {}
        }
    }
    println!(
        "{} posts: {} answers stored, {refused} refused, {unknown} outcome unknown",
        outcomes.len(),
        stored.len()
    );

    // Every subscriber on every node: each stored answer once, in order.
    crate::common::eventually("every subscriber has every answer", WAIT, || async {
        seen.lock().unwrap().iter().all(|s| s.len() >= stored.len())
    })
    .await;
    for (i, got) in seen.lock().unwrap().iter().enumerate() {
        assert_eq!(got, &stored, "node {i}'s subscriber");
    }
    for node in nodes.iter().rev() {
        node.stop().await;
    }
}
