//! qa-hub-bench: drives a running hub over real loopback connections and reports delivery
//! latency, throughput, losses and server memory.
//!
//! One process may hold at most `ulimit -n` sockets, so WebSocket clients live in worker
//! processes (this binary re-executed with `--worker`), each holding at most `--per-worker`
//! connections; the parent creates questions, posts answers over REST and adds up what the
//! workers saw. Client sockets are bound to 127.0.0.(1 + i % --source-addrs) before
//! connecting, so the 4-tuples never run out of ephemeral ports and per-IP caps can be met.
//!
//! Latency needs one clock on both sides: every answer body starts with `t<unix micros>`,
//! the wall-clock time at which its POST was sent (or, for open-loop `rate`, was due), and a
//! worker subtracts it from its own wall clock on delivery. Edits (`mixed`) carry the time the
//! same way. A `score` event carries no text of ours, so a worker keeps (post, score, time
//! received) and is told at the end which vote produced that score and when it was due: the
//! tool's votes are all +1 by distinct voters, so each of a post's scores is reached once.
//!
//! Parent and workers speak JSON lines over the workers' stdin/stdout.
//!
//! No protocol code of its own: the REST calls go through `qa_hub_client::Client` (reqwest,
//! keep-alive), the WebSockets through `qa_hub_client::Connection` (tokio-tungstenite) and the
//! frames through `qa_hub_protocol`'s types.
//!
//! Exit status: 0 when every expected notification arrived exactly once and in order; 1 when
//! any was missing, duplicated or out of order, an event came that the tool did not cause, or a
//! connection or a write failed; 2 on usage errors.

mod mixed;

use std::{
    cell::RefCell,
    collections::{BTreeMap, HashMap},
    net::{Ipv4Addr, SocketAddr},
    process::Stdio,
    rc::Rc,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use futures_util::{StreamExt, stream};
use qa_hub_client::{
    Client, Connection, Error as ClientError, EventBody, EventFrame, EventStream, NewAnswer, NewQuestion,
    ServerMessage, Topic, WebSocketConfig, reqwest,
};
use serde::{Deserialize, Serialize};
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    net::{TcpSocket, TcpStream},
    process::{Child, ChildStdin, ChildStdout, Command},
    sync::Semaphore,
    task::LocalSet,
};
use uuid::Uuid;

#[derive(Debug, Parser)]
#[command(name = "qa-hub-bench", about = "Load generator for a running qa-hub (loopback only)")]
struct Cli {
    /// The hub's address (loopback only); several, comma-separated, for the nodes of a
    /// cluster: client i connects to node i mod N, and posts go round-robin over the nodes.
    #[arg(long, default_value = "127.0.0.1:8080", value_delimiter = ',')]
    server: Vec<SocketAddr>,
    /// Client sockets are spread over 127.0.0.1 ..= 127.0.0.N.
    #[arg(long, default_value_t = 64)]
    source_addrs: u8,
    /// Most WebSocket connections one worker process holds (mind `ulimit -n`).
    #[arg(long, default_value_t = 5_000)]
    per_worker: usize,
    /// Connection attempts in flight per worker.
    #[arg(long, default_value_t = 128)]
    connect_concurrency: usize,
    /// Size of each answer body in bytes (at least the timestamp).
    #[arg(long, default_value_t = 100)]
    body_bytes: usize,
    /// The server's process id, to read its resident memory from /proc.
    #[arg(long)]
    server_pid: Option<u32>,
    /// Give up on any phase (connecting, delivery) after this many seconds.
    #[arg(long, default_value_t = 120)]
    timeout_secs: u64,
    /// Print the result as JSON on stdout instead of a table.
    #[arg(long)]
    json: bool,
    /// A file of service tokens, one per line: posts take them in turn (a token per poster),
    /// as a hub that requires identities needs. Without it posts are anonymous, which needs
    /// a hub run with `--anonymous-writes`.
    #[arg(long)]
    tokens: Option<std::path::PathBuf>,
    /// The hub's host-token secret (`--jwt-secret` of the server, at least 32 bytes): `mixed`
    /// signs a token per voter (and per poster, without `--tokens`), each its own user.
    #[arg(long, env = "QA_HUB_JWT_SECRET", hide_env_values = true)]
    jwt_secret: Option<String>,
    /// The issuer the hub expects (`--jwt-issuer` of the server).
    #[arg(long, env = "QA_HUB_JWT_ISSUER", default_value = "https://bench.example")]
    jwt_issuer: String,
    /// How the subscribers connect: WebSockets, or Server-Sent Events streams (`GET /sse`,
    /// one topic each).
    #[arg(long, value_enum, default_value_t = Transport::Ws)]
    transport: Transport,
    /// Internal: run as a worker process.
    #[arg(long, hide = true)]
    worker: bool,
    #[command(subcommand)]
    scenario: Option<Scenario>,
}

#[derive(Debug, Clone, Subcommand, Serialize)]
#[serde(tag = "scenario", rename_all = "snake_case")]
enum Scenario {
    /// N subscribers of one question; M answers posted one after another.
    Fanout {
        #[arg(long, default_value_t = 10_000)]
        subscribers: usize,
        #[arg(long, default_value_t = 20)]
        answers: usize,
        /// Pause between answers, so each fan-out is measured on its own.
        #[arg(long, default_value_t = 200)]
        interval_ms: u64,
    },
    /// Subscribers spread over many questions; answers posted open-loop at a fixed rate.
    Rate {
        #[arg(long, default_value_t = 1_900)]
        questions: usize,
        #[arg(long, default_value_t = 10)]
        subscribers_per_question: usize,
        /// Answer posts per second.
        #[arg(long, default_value_t = 2_000)]
        rate: u64,
        #[arg(long, default_value_t = 10)]
        duration_secs: u64,
        /// HTTP keep-alive connections used for posting.
        #[arg(long, default_value_t = 64)]
        http_connections: usize,
    },
    /// N subscribed connections held open; server memory per connection.
    Idle {
        #[arg(long, default_value_t = 19_000)]
        connections: usize,
        #[arg(long, default_value_t = 1_900)]
        questions: usize,
        /// Wait this long after connecting before reading the server's memory.
        #[arg(long, default_value_t = 3)]
        settle_secs: u64,
    },
    /// Answers, votes and edits mixed at a ratio, open-loop at a total rate, into the
    /// subscribers of a few questions; latency and deliveries per kind.
    Mixed {
        #[arg(long, default_value_t = 10)]
        questions: usize,
        #[arg(long, default_value_t = 200)]
        subscribers_per_question: usize,
        /// Writes (answers + votes + edits) per second, over all questions.
        #[arg(long, default_value_t = 100)]
        rate: u64,
        #[arg(long, default_value_t = 10)]
        duration_secs: u64,
        /// Relative weights of the kinds; each question gets them interleaved at this ratio.
        #[arg(long, default_value = "answers=1,votes=10,edits=1")]
        mix: mixed::Mix,
        /// Distinct voting users (host-signed tokens); each votes at most once per answer,
        /// so a busy answer may get at most this many votes.
        #[arg(long, default_value_t = 500)]
        voters: usize,
        /// Posting users when there is no `--tokens` file (host-signed tokens).
        #[arg(long, default_value_t = 64)]
        posters: usize,
        /// Answers posted to each question before the subscribers connect, for the first
        /// votes and edits to land on.
        #[arg(long, default_value_t = 5)]
        seed_answers: usize,
        /// Votes and edits go to one of the question's newest N answers.
        #[arg(long, default_value_t = 10)]
        window: usize,
        /// HTTP keep-alive connections used for writing.
        #[arg(long, default_value_t = 64)]
        http_connections: usize,
    },
}

/// How a subscriber connects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Transport {
    Ws,
    Sse,
}

// ---------------------------------------------------------------------------------------
// Parent <-> worker messages

#[derive(Debug, Serialize, Deserialize)]
struct WorkerSpec {
    /// The nodes; connection i connects to `servers[i % servers.len()]`.
    servers: Vec<SocketAddr>,
    source_addrs: u8,
    connect_concurrency: usize,
    /// Global index of this worker's first connection; connection i subscribes to
    /// `questions[i % questions.len()]`.
    first: usize,
    count: usize,
    questions: Vec<Uuid>,
    transport: Transport,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum FromWorker {
    Ready { connected: usize, failed: usize, first_error: Option<String> },
    Progress { delivered: u64 },
    Result(WorkerResult),
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum ToWorker {
    /// Stop reading; `expected[q]` events were caused on `questions[q]`, and `votes` says
    /// which vote produced each score and when it was due.
    Stop { expected: Vec<u64>, votes: Vec<VoteSent> },
}

/// The kinds of event the tool causes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Kind {
    Answer,
    Vote,
    Edit,
}

impl Kind {
    const ALL: [Kind; 3] = [Kind::Answer, Kind::Vote, Kind::Edit];

    fn plural(self) -> &'static str {
        match self {
            Kind::Answer => "answers",
            Kind::Vote => "votes",
            Kind::Edit => "edits",
        }
    }
}

/// A vote that took effect: it made `post_id`'s score `score`; it was due at `sent_us`.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct VoteSent {
    post_id: Uuid,
    score: i64,
    sent_us: u64,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct WorkerResult {
    delivered: u64,
    missing: u64,
    duplicates: u64,
    out_of_order: u64,
    /// Events of a kind the tool does not cause (an accept, a delete, …).
    unexpected: u64,
    /// Score events that no vote of ours explains.
    unattributed: u64,
    /// The first gap or repeat, for the report: which connection, which seqs.
    first_gap: Option<String>,
    /// Connections that closed or failed before the end.
    dropped: u64,
    first_drop: Option<String>,
    /// Of the dropped, those the server closed with 1001 "going away" (it shut down).
    going_away: u64,
    /// Delivery latencies in microseconds, by the kind of event.
    latencies_us: BTreeMap<Kind, Vec<u32>>,
}

fn unix_micros() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_micros() as u64)
}

fn source_addr(i: usize, n: u8) -> Ipv4Addr {
    Ipv4Addr::new(127, 0, 0, 1 + (i % n.max(1) as usize) as u8)
}

// ---------------------------------------------------------------------------------------
// Worker

type Ws = Connection<TcpStream>;

#[derive(Debug, Default)]
struct ConnState {
    question: usize,
    last_seq: i64,
    received: u64,
    duplicates: u64,
    out_of_order: u64,
    dropped: Option<String>,
    /// The server closed it with 1001 "going away".
    going_away: bool,
}

impl ConnState {
    /// Takes in event `seq`: `None` when it is the next one, else what is wrong with it (a
    /// repeat is not counted as received; after a gap the count goes on from the new seq).
    fn see(&mut self, seq: i64) -> Option<&'static str> {
        if seq <= self.last_seq {
            self.duplicates += 1;
            return Some("repeated");
        }
        let gap = seq != self.last_seq + 1;
        self.out_of_order += u64::from(gap);
        self.received += 1;
        self.last_seq = seq;
        gap.then_some("a gap")
    }
}

#[derive(Default)]
struct WorkerState {
    conns: Vec<ConnState>,
    latencies_us: BTreeMap<Kind, Vec<u32>>,
    delivered: u64,
    unexpected: u64,
    first_gap: Option<String>,
    /// Score events as (post, score, received at µs); the post as an index into `posts`.
    scores: Vec<(u32, i64, u64)>,
    posts: HashMap<Uuid, u32>,
}

impl WorkerState {
    /// Records the latency of an event whose text starts with `t<due µs>`.
    fn timed(&mut self, kind: Kind, text: &str, now: u64) {
        let sent = text.get(1..).and_then(|b| b.split(' ').next()).and_then(|t| t.parse::<u64>().ok());
        if let Some(sent) = sent {
            self.latencies_us.entry(kind).or_default().push(micros_since(sent, now));
        }
    }
}

fn micros_since(sent_us: u64, now_us: u64) -> u32 {
    now_us.saturating_sub(sent_us).min(u32::MAX as u64) as u32
}

/// A subscriber's connection.
enum Conn {
    Ws(Ws),
    Sse(EventStream),
}

impl Conn {
    /// The next server message (an event stream's heartbeats are skipped).
    async fn recv(&mut self) -> Result<ServerMessage, ClientError> {
        match self {
            Conn::Ws(ws) => ws.recv().await,
            Conn::Sse(stream) => loop {
                if let Some(msg) = stream.recv().await? {
                    return Ok(msg);
                }
            },
        }
    }
}

/// Connects client `i` and subscribes it; returns the connection and the topic's seq then.
/// `http`: one REST client per source address, for event streams.
async fn connect(
    spec: &WorkerSpec,
    i: usize,
    http: &RefCell<HashMap<Ipv4Addr, reqwest::Client>>,
) -> anyhow::Result<(Conn, i64)> {
    let source = source_addr(i, spec.source_addrs);
    let server = spec.servers[i % spec.servers.len()];
    let question = Topic::Question(spec.questions[i % spec.questions.len()]);
    let mut conn = match spec.transport {
        Transport::Ws => {
            let socket = TcpSocket::new_v4()?;
            socket.bind(SocketAddr::new(source.into(), 0))?;
            let tcp = socket.connect(server).await.context("connect")?;
            tcp.set_nodelay(true)?;
            // Small buffers: the tool holds thousands of these.
            let config = WebSocketConfig::default().read_buffer_size(4096).write_buffer_size(0);
            let url = format!("ws://{server}/ws");
            let mut ws = Connection::handshake(&url, tcp, Some(config)).await.context("handshake")?;
            ws.subscribe(question, None).await.context("send subscribe")?;
            Conn::Ws(ws)
        }
        Transport::Sse => {
            let client = http
                .borrow_mut()
                .entry(source)
                .or_insert_with(|| {
                    reqwest::Client::builder()
                        .local_address(std::net::IpAddr::V4(source))
                        .tcp_nodelay(true)
                        .build()
                        .expect("an HTTP client")
                })
                .clone();
            let url = format!("http://{server}/sse");
            Conn::Sse(EventStream::open(&client, &url, &[(question, None)]).await.context("open")?)
        }
    };
    match conn.recv().await.context("no subscribe reply")? {
        ServerMessage::Subscribed { seq, .. } => Ok((conn, seq)),
        other => bail!("unexpected reply to subscribe: {}", other.encode()),
    }
}

/// Reads connection `idx` (client `global` of the run) until it ends: checks each event's seq
/// against the last and records its latency.
async fn read_conn(mut ws: Conn, idx: usize, global: usize, state: Rc<RefCell<WorkerState>>) {
    let (why, going_away) = loop {
        let msg = match ws.recv().await {
            Ok(msg) => msg,
            Err(ClientError::Closed(Some(close))) => break (format!("{close}"), close.code == 1001),
            Err(ClientError::Closed(None)) => break ("closed by server".to_owned(), false),
            Err(e) => break (format!("error {e}"), false),
        };
        let Some((_, seq)) = msg.event() else {
            break (format!("unexpected frame: {}", msg.encode()), false);
        };
        let now = unix_micros();
        let mut st = state.borrow_mut();
        let st = &mut *st;
        match &msg {
            ServerMessage::Event(EventFrame { body: EventBody::Answer { answer }, .. }) => {
                st.timed(Kind::Answer, &answer.body, now)
            }
            ServerMessage::Event(EventFrame { body: EventBody::Edit(edit), .. }) => {
                st.timed(Kind::Edit, &edit.body, now)
            }
            ServerMessage::Event(EventFrame { body: EventBody::Score { post_id, score, .. }, .. }) => {
                let next = st.posts.len() as u32;
                let post = *st.posts.entry(*post_id).or_insert(next);
                st.scores.push((post, *score, now));
            }
            // Still an event with a seq: counted below, so the seq check stays exact.
            _ => st.unexpected += 1,
        }
        st.delivered += 1;
        let last = st.conns[idx].last_seq;
        if let Some(what) = st.conns[idx].see(seq) {
            st.first_gap
                .get_or_insert_with(|| format!("{what}: client {global} got seq {seq} after seq {last}"));
        }
    };
    let c = &mut state.borrow_mut().conns[idx];
    (c.dropped, c.going_away) = (Some(why), going_away);
}

fn emit(msg: &FromWorker) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = serde_json::to_writer(&mut out, msg);
    let _ = out.write_all(b"\n");
    let _ = out.flush();
}

async fn worker() -> anyhow::Result<()> {
    let mut stdin = BufReader::new(tokio::io::stdin()).lines();
    let spec: WorkerSpec =
        serde_json::from_str(&stdin.next_line().await?.context("no worker spec on stdin")?)?;
    let state = Rc::new(RefCell::new(WorkerState::default()));
    state.borrow_mut().conns = (0..spec.count)
        .map(|k| ConnState { question: (spec.first + k) % spec.questions.len(), ..Default::default() })
        .collect();
    let http = RefCell::new(HashMap::new());
    let results: Vec<_> = stream::iter(0..spec.count)
        .map(|k| {
            let (spec, http) = (&spec, &http);
            async move { (k, connect(spec, spec.first + k, http).await) }
        })
        .buffer_unordered(spec.connect_concurrency.max(1))
        .collect()
        .await;
    let (mut connected, mut failed, mut first_error) = (0, 0, None);
    let mut readers = Vec::new();
    for (k, res) in results {
        match res {
            Ok((ws, seq)) => {
                connected += 1;
                // Only events after the subscription are expected (a question may have some).
                state.borrow_mut().conns[k].last_seq = seq;
                readers.push(tokio::task::spawn_local(read_conn(ws, k, spec.first + k, state.clone())));
            }
            Err(e) => {
                failed += 1;
                state.borrow_mut().conns[k].dropped = Some(format!("{e:#}"));
                first_error.get_or_insert_with(|| format!("{e:#}"));
            }
        }
    }
    emit(&FromWorker::Ready { connected, failed, first_error });
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    let (expected, votes) = loop {
        tokio::select! {
            line = stdin.next_line() => {
                match line? {
                    Some(line) => match serde_json::from_str(&line)? {
                        ToWorker::Stop { expected, votes } => break (expected, votes),
                    },
                    None => bail!("parent went away"),
                }
            }
            _ = tick.tick() => emit(&FromWorker::Progress { delivered: state.borrow().delivered }),
        }
    };
    for r in &readers {
        r.abort();
    }
    let mut st = std::mem::take(&mut *state.borrow_mut());
    // Each score event's latency, from the vote that produced that score.
    let due: HashMap<(Uuid, i64), u64> = votes.iter().map(|v| ((v.post_id, v.score), v.sent_us)).collect();
    let mut ids = vec![Uuid::nil(); st.posts.len()];
    for (id, i) in &st.posts {
        ids[*i as usize] = *id;
    }
    let mut unattributed = 0;
    for &(post, score, at) in &st.scores {
        match due.get(&(ids[post as usize], score)) {
            Some(&sent) => st.latencies_us.entry(Kind::Vote).or_default().push(micros_since(sent, at)),
            None => unattributed += 1,
        }
    }
    let mut res = WorkerResult {
        delivered: st.delivered,
        latencies_us: st.latencies_us,
        unexpected: st.unexpected,
        unattributed,
        first_gap: st.first_gap,
        ..Default::default()
    };
    for c in &st.conns {
        res.missing += expected[c.question].saturating_sub(c.received);
        res.duplicates += c.duplicates;
        res.out_of_order += c.out_of_order;
        if let Some(why) = &c.dropped {
            res.dropped += 1;
            res.going_away += u64::from(c.going_away);
            res.first_drop.get_or_insert_with(|| why.clone());
        }
    }
    emit(&FromWorker::Result(res));
    Ok(())
}

// ---------------------------------------------------------------------------------------
// REST: the parent posts thousands of answers a second over a pool of keep-alive connections.

/// A REST client for the hub with at most `connections` idle keep-alive connections. The server
/// closes connections idle for 5 s; one idle for 2 s is dropped here rather than raced
/// against that close.
fn rest_client(server: SocketAddr, connections: usize) -> anyhow::Result<Client> {
    let http = Client::http_builder()
        .pool_max_idle_per_host(connections)
        .pool_idle_timeout(Duration::from_secs(2))
        .tcp_nodelay(true)
        .build()?;
    Ok(Client::with_http(&format!("http://{server}"), http)?)
}

/// One client per poster, each with its own token (`--tokens`), all on one connection pool;
/// without tokens, one anonymous client.
fn posters(client: &Client, tokens: Option<&std::path::Path>) -> anyhow::Result<Vec<Client>> {
    let Some(path) = tokens else { return Ok(vec![client.clone()]) };
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let clients: Vec<Client> =
        text.lines().map(str::trim).filter(|t| !t.is_empty()).map(|t| client.clone().with_token(t)).collect();
    anyhow::ensure!(!clients.is_empty(), "{} holds no token", path.display());
    Ok(clients)
}

async fn create_questions(client: &Client, n: usize) -> anyhow::Result<Vec<Uuid>> {
    let question =
        NewQuestion { title: "Benchmark question".into(), body: "Load test.".into(), author: "bench".into() };
    let created: Vec<anyhow::Result<Vec<Uuid>>> = stream::iter(0..16.min(n.max(1)))
        .map(|lane| {
            let question = &question;
            async move {
                let mut ids = Vec::new();
                for _ in (lane..n).step_by(16) {
                    ids.push(client.ask(question).await.context("creating a question")?.id);
                }
                Ok(ids)
            }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    let mut ids = Vec::with_capacity(n);
    for lane in created {
        ids.extend(lane?);
    }
    Ok(ids)
}

fn answer_body(sent_us: u64, bytes: usize) -> NewAnswer {
    let mut text = format!("t{sent_us} ");
    if text.len() < bytes {
        text.extend(std::iter::repeat_n('x', bytes - text.len()));
    }
    NewAnswer { body: text, author: "bench".into() }
}

// ---------------------------------------------------------------------------------------
// Parent

struct Worker {
    child: Child,
    stdin: ChildStdin,
    /// The worker's messages, read by a task of their own so that progress never backs up.
    msgs: tokio::sync::mpsc::UnboundedReceiver<anyhow::Result<FromWorker>>,
    delivered: u64,
}

fn forward(stdout: ChildStdout) -> tokio::sync::mpsc::UnboundedReceiver<anyhow::Result<FromWorker>> {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::task::spawn_local(async move {
        let mut lines = BufReader::new(stdout).lines();
        loop {
            let msg = match lines.next_line().await {
                Ok(Some(line)) => serde_json::from_str(&line).map_err(anyhow::Error::from),
                Ok(None) => Err(anyhow::anyhow!("a worker exited early")),
                Err(e) => Err(e.into()),
            };
            let end = msg.is_err();
            if tx.send(msg).is_err() || end {
                return;
            }
        }
    });
    rx
}

async fn spawn_workers(cli: &Cli, total: usize, questions: &[Uuid]) -> anyhow::Result<Vec<Worker>> {
    let exe = std::env::current_exe()?;
    let n = total.div_ceil(cli.per_worker.max(1));
    let mut workers = Vec::new();
    for w in 0..n {
        let first = w * total / n;
        let count = (w + 1) * total / n - first;
        let mut child = Command::new(&exe)
            .arg("--worker")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .context("starting a worker process")?;
        let mut stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let spec = WorkerSpec {
            servers: cli.server.clone(),
            source_addrs: cli.source_addrs,
            connect_concurrency: cli.connect_concurrency,
            first,
            count,
            questions: questions.to_vec(),
            transport: cli.transport,
        };
        stdin.write_all(format!("{}\n", serde_json::to_string(&spec)?).as_bytes()).await?;
        workers.push(Worker { child, stdin, msgs: forward(stdout), delivered: 0 });
    }
    Ok(workers)
}

async fn next_msg(w: &mut Worker) -> anyhow::Result<FromWorker> {
    w.msgs.recv().await.context("a worker exited early")?
}

/// Waits for every worker's `ready`; returns (connected, failed, first error).
async fn await_ready(
    workers: &mut [Worker],
    deadline: Duration,
) -> anyhow::Result<(usize, usize, Option<String>)> {
    let (mut connected, mut failed, mut first) = (0, 0, None);
    for w in workers.iter_mut() {
        loop {
            match tokio::time::timeout(deadline, next_msg(w))
                .await
                .context("workers did not connect in time")??
            {
                FromWorker::Ready { connected: c, failed: f, first_error } => {
                    connected += c;
                    failed += f;
                    first = first.or(first_error);
                    break;
                }
                _ => continue,
            }
        }
    }
    Ok((connected, failed, first))
}

/// Polls worker progress until `expected` deliveries were seen or `deadline` passes.
async fn await_deliveries(workers: &mut [Worker], expected: u64, deadline: Duration) -> u64 {
    let until = Instant::now() + deadline;
    let mut last_print = Instant::now();
    loop {
        tokio::time::sleep(Duration::from_millis(50)).await;
        for w in workers.iter_mut() {
            while let Ok(msg) = w.msgs.try_recv() {
                if let Ok(FromWorker::Progress { delivered }) = msg {
                    w.delivered = delivered;
                }
            }
        }
        let total: u64 = workers.iter().map(|w| w.delivered).sum();
        if last_print.elapsed() > Duration::from_secs(1) {
            eprintln!("  delivered {total}/{expected}");
            last_print = Instant::now();
        }
        if total >= expected || Instant::now() >= until {
            return total;
        }
    }
}

async fn collect(
    workers: Vec<Worker>,
    expected: Vec<u64>,
    votes: Vec<VoteSent>,
) -> anyhow::Result<WorkerResult> {
    let mut all = WorkerResult::default();
    let stop = format!("{}\n", serde_json::to_string(&ToWorker::Stop { expected, votes })?);
    for mut w in workers {
        w.stdin.write_all(stop.as_bytes()).await?;
        let res = loop {
            match tokio::time::timeout(Duration::from_secs(60), next_msg(&mut w))
                .await
                .context("worker result")??
            {
                FromWorker::Result(r) => break r,
                _ => continue,
            }
        };
        all.delivered += res.delivered;
        all.missing += res.missing;
        all.duplicates += res.duplicates;
        all.out_of_order += res.out_of_order;
        all.unexpected += res.unexpected;
        all.unattributed += res.unattributed;
        all.first_gap = all.first_gap.or(res.first_gap);
        all.dropped += res.dropped;
        all.going_away += res.going_away;
        all.first_drop = all.first_drop.or(res.first_drop);
        for (kind, latencies) in res.latencies_us {
            all.latencies_us.entry(kind).or_default().extend(latencies);
        }
        let _ = w.child.wait().await;
    }
    Ok(all)
}

#[derive(Debug, Default, Serialize)]
struct Latency {
    count: usize,
    p50_ms: f64,
    p90_ms: f64,
    p99_ms: f64,
    max_ms: f64,
}

fn latency(mut us: Vec<u32>) -> Latency {
    if us.is_empty() {
        return Latency::default();
    }
    us.sort_unstable();
    let at = |q: f64| us[((us.len() as f64 * q).ceil() as usize).clamp(1, us.len()) - 1] as f64 / 1000.0;
    Latency { count: us.len(), p50_ms: at(0.50), p90_ms: at(0.90), p99_ms: at(0.99), max_ms: at(1.0) }
}

fn rss_kib(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).context("VmRSS in /proc status")?;
    Ok(line.split_whitespace().nth(1).context("VmRSS value")?.parse()?)
}

/// One kind of write in a `mixed` run: how the writes went and how their events were
/// delivered.
#[derive(Debug, Serialize)]
struct KindReport {
    kind: Kind,
    writes_ok: u64,
    writes_failed: u64,
    writes_per_sec: f64,
    /// Request sent to HTTP response received.
    write_latency: Latency,
    delivered: u64,
    deliveries_per_sec: f64,
    /// Write due to the worker receiving the frame.
    delivery_latency: Latency,
}

#[derive(Debug, Default, Serialize)]
struct Report {
    scenario: Option<Scenario>,
    connections: usize,
    connect_failed: usize,
    connect_error: Option<String>,
    connect_subscribe_secs: f64,
    posts_ok: u64,
    posts_failed: u64,
    post_secs: f64,
    posts_per_sec: f64,
    /// POST sent to HTTP response received.
    post_latency: Latency,
    expected: u64,
    delivered: u64,
    missing: u64,
    duplicates: u64,
    out_of_order: u64,
    /// Events the tool did not cause, and score events no vote of ours explains.
    unexpected_events: u64,
    unattributed_scores: u64,
    first_gap: Option<String>,
    dropped_connections: u64,
    /// Of the dropped, those closed with 1001 "going away".
    closed_going_away: u64,
    first_drop: Option<String>,
    deliveries_per_sec: f64,
    /// POST sent (or due, for `rate`) to the worker receiving the frame.
    delivery_latency: Latency,
    server_rss_before_kib: Option<u64>,
    server_rss_after_kib: Option<u64>,
    server_rss_per_connection_kib: Option<f64>,
    /// `mixed`: the figures per kind of write (the totals above are over all of them).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    kinds: Vec<KindReport>,
}

impl Report {
    fn ok(&self) -> bool {
        self.missing == 0
            && self.duplicates == 0
            && self.out_of_order == 0
            && self.unexpected_events == 0
            && self.unattributed_scores == 0
            && self.connect_failed == 0
            && self.dropped_connections == 0
            && self.posts_failed == 0
    }

    /// What went wrong, in one line.
    fn failures(&self) -> String {
        let mut what = format!(
            "{} missing, {} repeated, {} out of order, {} unexpected events, {} unexplained scores, \
             {} failed writes, {} failed and {} dropped connections",
            self.missing,
            self.duplicates,
            self.out_of_order,
            self.unexpected_events,
            self.unattributed_scores,
            self.posts_failed,
            self.connect_failed,
            self.dropped_connections
        );
        for detail in [&self.first_gap, &self.first_drop, &self.connect_error].into_iter().flatten() {
            what.push_str("; ");
            what.push_str(detail);
        }
        what
    }

    fn print_table(&self) {
        let row = |k: &str, v: String| println!("{k:<36} {v}");
        row("scenario", serde_json::to_string(&self.scenario).unwrap_or_default());
        row("connections (failed)", format!("{} ({})", self.connections, self.connect_failed));
        if let Some(e) = &self.connect_error {
            row("first connect error", e.clone());
        }
        row("connect+subscribe all", format!("{:.3} s", self.connect_subscribe_secs));
        if self.posts_ok + self.posts_failed > 0 {
            row("posts ok (failed)", format!("{} ({})", self.posts_ok, self.posts_failed));
            row("posts/s", format!("{:.0} over {:.2} s", self.posts_per_sec, self.post_secs));
            let l = &self.post_latency;
            row(
                "POST latency p50/p90/p99/max",
                format!("{:.2} / {:.2} / {:.2} / {:.2} ms", l.p50_ms, l.p90_ms, l.p99_ms, l.max_ms),
            );
            row("delivered/expected", format!("{}/{}", self.delivered, self.expected));
            row(
                "missing / duplicate / out of order",
                format!("{} / {} / {}", self.missing, self.duplicates, self.out_of_order),
            );
            if let Some(gap) = &self.first_gap {
                row("first gap or repeat", gap.clone());
            }
            if self.unexpected_events + self.unattributed_scores > 0 {
                row(
                    "unexpected events / unexplained scores",
                    format!("{} / {}", self.unexpected_events, self.unattributed_scores),
                );
            }
            row("deliveries/s", format!("{:.0}", self.deliveries_per_sec));
            let l = &self.delivery_latency;
            row(
                "POST->delivery p50/p90/p99/max",
                format!("{:.2} / {:.2} / {:.2} / {:.2} ms", l.p50_ms, l.p90_ms, l.p99_ms, l.max_ms),
            );
        }
        for k in &self.kinds {
            let name = k.kind.plural();
            row(
                &format!("{name}: ok (failed), per s"),
                format!("{} ({}), {:.1}/s", k.writes_ok, k.writes_failed, k.writes_per_sec),
            );
            let l = &k.write_latency;
            row(
                &format!("{name}: request p50/p99/max"),
                format!("{:.2} / {:.2} / {:.2} ms", l.p50_ms, l.p99_ms, l.max_ms),
            );
            row(
                &format!("{name}: delivered, per s"),
                format!("{}, {:.0}/s", k.delivered, k.deliveries_per_sec),
            );
            let l = &k.delivery_latency;
            row(
                &format!("{name}: ->delivery p50/p90/p99/max"),
                format!("{:.2} / {:.2} / {:.2} / {:.2} ms", l.p50_ms, l.p90_ms, l.p99_ms, l.max_ms),
            );
        }
        row(
            "connections dropped (of them 1001)",
            format!("{} ({})", self.dropped_connections, self.closed_going_away),
        );
        if let Some(d) = &self.first_drop {
            row("first drop", d.clone());
        }
        if let (Some(b), Some(a)) = (self.server_rss_before_kib, self.server_rss_after_kib) {
            row("server RSS before / after", format!("{b} / {a} KiB"));
        }
        if let Some(per) = self.server_rss_per_connection_kib {
            row("server RSS per connection", format!("{per:.2} KiB"));
        }
        row(
            "result",
            if self.ok() {
                "OK".into()
            } else {
                "FAILED: notifications lost, repeated or connections dropped".into()
            },
        );
    }
}

async fn run(cli: Cli) -> anyhow::Result<Report> {
    anyhow::ensure!(
        !cli.server.is_empty() && cli.server.iter().all(|s| s.ip().is_loopback()),
        "--server must be loopback addresses"
    );
    let scenario = cli.scenario.clone().context("name a scenario: fanout, rate, idle or mixed")?;
    let timeout = Duration::from_secs(cli.timeout_secs);
    let mut report = Report { scenario: Some(scenario.clone()), ..Default::default() };
    let (questions, total) = match &scenario {
        Scenario::Fanout { subscribers, .. } => (1, *subscribers),
        Scenario::Rate { questions, subscribers_per_question, .. } => {
            (*questions, questions * subscribers_per_question)
        }
        Scenario::Idle { connections, questions, .. } => (*questions, *connections),
        Scenario::Mixed { questions, subscribers_per_question, .. } => {
            (*questions, questions * subscribers_per_question)
        }
    };
    eprintln!("creating {questions} question(s)");
    let http_connections = match scenario {
        Scenario::Rate { http_connections, .. } | Scenario::Mixed { http_connections, .. } => {
            http_connections.max(1)
        }
        _ => 16,
    };
    let pool = rest_client(cli.server[0], http_connections)?;
    let clients = match &scenario {
        Scenario::Mixed { posters: n, .. } if cli.tokens.is_none() => {
            mixed::signed_users(&pool, &cli, "poster", *n)?
        }
        _ => {
            // Each node its own pool; poster k posts through node k mod N.
            let mut per_node = Vec::new();
            for server in &cli.server {
                per_node.push(posters(&rest_client(*server, http_connections)?, cli.tokens.as_deref())?);
            }
            let per = per_node[0].len();
            (0..per * per_node.len())
                .map(|k| per_node[k % per_node.len()][k / per_node.len()].clone())
                .collect()
        }
    };
    let client = clients[0].clone();
    let qids = create_questions(&client, questions).await?;
    // `mixed`: the voters, every user known to the hub, and answers to vote on, all before
    // anything is measured.
    let mut mixed_setup = None;
    if let Scenario::Mixed { voters, seed_answers, .. } = &scenario {
        let voters = mixed::signed_users(&pool, &cli, "voter", *voters)?;
        eprintln!("signing in {} poster(s) and {} voter(s)", clients.len(), voters.len());
        mixed::warm_up(&clients).await?;
        mixed::warm_up(&voters).await?;
        eprintln!("posting {seed_answers} answer(s) to each question");
        let seeded = mixed::seed(&clients, &qids, *seed_answers, cli.body_bytes).await?;
        mixed_setup = Some((voters, seeded));
    }
    if let Some(pid) = cli.server_pid {
        report.server_rss_before_kib = Some(rss_kib(pid)?);
    }
    eprintln!("connecting and subscribing {total} WebSocket client(s)");
    let started = Instant::now();
    let mut workers = spawn_workers(&cli, total, &qids).await?;
    let (connected, failed, first_error) = await_ready(&mut workers, timeout).await?;
    report.connect_subscribe_secs = started.elapsed().as_secs_f64();
    (report.connections, report.connect_failed, report.connect_error) = (connected, failed, first_error);
    eprintln!("  {connected} connected, {failed} failed in {:.3} s", report.connect_subscribe_secs);

    let mut posted = vec![0u64; qids.len()];
    let mut post_latencies = Vec::new();
    let mut votes = Vec::new();
    let mut by_kind = None;
    let post_started = Instant::now();
    match scenario {
        Scenario::Fanout { answers, interval_ms, .. } => {
            for m in 0..answers {
                let sent = unix_micros();
                let t = Instant::now();
                let res = client.post_answer(qids[0], &answer_body(sent, cli.body_bytes)).await;
                post_latencies.push(t.elapsed().as_micros() as u32);
                match res {
                    Ok(_) => {
                        posted[0] += 1;
                        report.posts_ok += 1;
                    }
                    // Refused (HTTP error status): counted; the connection failing ends the run.
                    Err(ClientError::Api(_)) => report.posts_failed += 1,
                    Err(e) => return Err(e).context("posting an answer"),
                }
                if m + 1 < answers {
                    tokio::time::sleep(Duration::from_millis(interval_ms)).await;
                }
            }
        }
        Scenario::Rate { rate, duration_secs, http_connections, .. } => {
            let n = rate * duration_secs;
            let outcome = open_loop(&cli, &clients, &qids, rate, n, http_connections, timeout).await?;
            for (q, ok) in outcome.per_question.iter().enumerate() {
                posted[q] = *ok;
            }
            report.posts_ok = outcome.ok;
            report.posts_failed = outcome.failed;
            post_latencies = outcome.latencies_us;
        }
        Scenario::Idle { settle_secs, .. } => {
            tokio::time::sleep(Duration::from_secs(settle_secs)).await;
        }
        Scenario::Mixed { rate, duration_secs, mix, window, http_connections, .. } => {
            let (voters, seeded) = mixed_setup.take().context("mixed set-up")?;
            let plan = mixed::Plan {
                posters: &clients,
                voters: &voters,
                mix,
                rate,
                writes: rate * duration_secs,
                window,
                http_connections,
                body_bytes: cli.body_bytes,
                timeout,
            };
            let mut outcome = mixed::write(plan, seeded).await?;
            posted = std::mem::take(&mut outcome.per_question);
            report.posts_ok = outcome.ok.iter().sum();
            report.posts_failed = outcome.failed.iter().sum();
            post_latencies = outcome.latencies_us.concat();
            votes = std::mem::take(&mut outcome.votes);
            by_kind = Some(outcome);
        }
    }
    report.post_secs = post_started.elapsed().as_secs_f64();
    report.posts_per_sec = report.posts_ok as f64 / report.post_secs.max(1e-9);
    report.post_latency = latency(post_latencies);
    // Every connection subscribed to question q should see all of q's answers.
    report.expected = (0..total).map(|i| posted[i % qids.len()]).sum();
    let mut delivery_secs = 0.0;
    if report.expected > 0 {
        let delivered = await_deliveries(&mut workers, report.expected, timeout).await;
        delivery_secs = post_started.elapsed().as_secs_f64();
        report.deliveries_per_sec = delivered as f64 / delivery_secs;
    }
    if let Some(pid) = cli.server_pid {
        let after = rss_kib(pid)?;
        report.server_rss_after_kib = Some(after);
        let before = report.server_rss_before_kib.unwrap_or(0);
        report.server_rss_per_connection_kib =
            Some(after.saturating_sub(before) as f64 / report.connections.max(1) as f64);
    }
    let res = collect(workers, posted, votes).await?;
    report.delivered = res.delivered;
    report.missing = res.missing;
    report.duplicates = res.duplicates;
    report.out_of_order = res.out_of_order;
    report.dropped_connections = res.dropped;
    report.closed_going_away = res.going_away;
    report.first_drop = res.first_drop;
    report.unexpected_events = res.unexpected;
    report.unattributed_scores = res.unattributed;
    report.first_gap = res.first_gap;
    let mut latencies_us = res.latencies_us;
    if let Some(outcome) = by_kind {
        for kind in Kind::ALL {
            let i = kind as usize;
            let delivered = latencies_us.get(&kind).map_or(0, Vec::len) as u64;
            report.kinds.push(KindReport {
                kind,
                writes_ok: outcome.ok[i],
                writes_failed: outcome.failed[i],
                writes_per_sec: outcome.ok[i] as f64 / report.post_secs.max(1e-9),
                write_latency: latency(outcome.latencies_us[i].clone()),
                delivered,
                deliveries_per_sec: delivered as f64 / delivery_secs.max(1e-9),
                delivery_latency: latency(latencies_us.get(&kind).cloned().unwrap_or_default()),
            });
        }
    }
    report.delivery_latency = latency(std::mem::take(&mut latencies_us).into_values().flatten().collect());
    Ok(report)
}

struct OpenLoop {
    ok: u64,
    failed: u64,
    per_question: Vec<u64>,
    latencies_us: Vec<u32>,
}

/// Posts `n` answers at `rate` per second, round-robin over the questions, each at its due
/// time whether or not earlier ones have been answered (open loop: a slow server shows up as
/// latency, not as a lower offered rate).
async fn open_loop(
    cli: &Cli,
    clients: &[Client],
    qids: &[Uuid],
    rate: u64,
    n: u64,
    http_connections: usize,
    timeout: Duration,
) -> anyhow::Result<OpenLoop> {
    struct Shared {
        ok: u64,
        failed: u64,
        per_question: Vec<u64>,
        latencies_us: Vec<u32>,
        first_error: Option<String>,
    }
    let shared = Rc::new(RefCell::new(Shared {
        ok: 0,
        failed: 0,
        per_question: vec![0; qids.len()],
        latencies_us: Vec::with_capacity(n as usize),
        first_error: None,
    }));
    let permits = Rc::new(Semaphore::new(http_connections.max(1)));
    let start = Instant::now();
    let start_us = unix_micros();
    let mut tasks = Vec::with_capacity(n as usize);
    let mut last_print = Instant::now();
    let mut k = 0u64;
    while k < n {
        let due = start + Duration::from_nanos(k * 1_000_000_000 / rate);
        tokio::time::sleep_until(due.into()).await;
        // Everything due by now goes out (the timer's resolution is 1 ms).
        let elapsed = start.elapsed().as_nanos() as u64;
        let upto = (elapsed * rate / 1_000_000_000 + 1).min(n);
        while k < upto {
            let q = (k as usize) % qids.len();
            let due_us = start_us + k * 1_000_000 / rate;
            let body = answer_body(due_us, cli.body_bytes);
            // Posters take turns, each with its own identity.
            let client = clients[(k as usize) % clients.len()].clone();
            let (shared, permits, question) = (shared.clone(), permits.clone(), qids[q]);
            tasks.push(tokio::task::spawn_local(async move {
                // At most `http_connections` posts in flight, so at most that many connections.
                let _permit = permits.acquire().await;
                let t = Instant::now();
                let res = client.post_answer(question, &body).await;
                let mut s = shared.borrow_mut();
                s.latencies_us.push(t.elapsed().as_micros() as u32);
                match res {
                    Ok(_) => {
                        s.ok += 1;
                        s.per_question[q] += 1;
                    }
                    Err(e) => {
                        s.failed += 1;
                        s.first_error.get_or_insert(format!("{:#}", anyhow::Error::new(e)));
                    }
                }
            }));
            k += 1;
        }
        if last_print.elapsed() > Duration::from_secs(1) {
            let s = shared.borrow();
            eprintln!("  posted {k}/{n}: {} ok, {} failed", s.ok, s.failed);
            last_print = Instant::now();
        }
    }
    let wait_all = async {
        for t in tasks {
            let _ = t.await;
        }
    };
    if tokio::time::timeout(timeout, wait_all).await.is_err() {
        bail!("posts did not finish within {timeout:?}");
    }
    let s = Rc::try_unwrap(shared).ok().context("all post tasks finished")?.into_inner();
    if let Some(e) = &s.first_error {
        eprintln!("  first failed post: {e}");
    }
    Ok(OpenLoop { ok: s.ok, failed: s.failed, per_question: s.per_question, latencies_us: s.latencies_us })
}

fn main() {
    let cli = Cli::parse();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime");
    let local = LocalSet::new();
    if cli.worker {
        if let Err(e) = local.block_on(&rt, worker()) {
            eprintln!("worker: {e:#}");
            std::process::exit(1);
        }
        return;
    }
    let json = cli.json;
    match local.block_on(&rt, run(cli)) {
        Ok(report) => {
            if json {
                println!("{}", serde_json::to_string_pretty(&report).expect("report serialises"));
            } else {
                report.print_table();
            }
            if !report.ok() {
                // Also on stderr, so that a `--json` run piped elsewhere still says so.
                eprintln!("qa-hub-bench: FAILED: {}", report.failures());
                std::process::exit(1);
            }
            std::process::exit(0);
        }
        Err(e) => {
            eprintln!("qa-hub-bench: {e:#}");
            std::process::exit(2);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seq_check_counts_gaps_and_repeats() {
        let mut c = ConnState { last_seq: 5, ..Default::default() };
        assert_eq!([6, 7].map(|seq| c.see(seq)), [None, None]);
        assert_eq!(c.see(7), Some("repeated"));
        assert_eq!(c.see(3), Some("repeated"));
        assert_eq!(c.see(9), Some("a gap"));
        assert_eq!(c.see(10), None);
        assert_eq!((c.received, c.duplicates, c.out_of_order, c.last_seq), (4, 2, 1, 10));
    }

    #[test]
    fn a_gap_fails_the_report() {
        let clean = Report { expected: 10, delivered: 10, ..Default::default() };
        assert!(clean.ok());
        let gap = Report {
            missing: 1,
            out_of_order: 1,
            first_gap: Some("a gap: client 3 got seq 5 after seq 3".into()),
            ..clean
        };
        assert!(!gap.ok());
        assert!(gap.failures().starts_with("1 missing, 0 repeated, 1 out of order"), "{}", gap.failures());
        assert!(gap.failures().ends_with("; a gap: client 3 got seq 5 after seq 3"));
        assert!(!Report { unattributed_scores: 1, ..Default::default() }.ok());
        assert!(!Report { unexpected_events: 1, ..Default::default() }.ok());
    }

    #[test]
    fn latency_percentiles() {
        let l = latency((1..=100).map(|ms| ms * 1000).collect());
        assert_eq!((l.count, l.p50_ms, l.p99_ms, l.max_ms), (100, 50.0, 99.0, 100.0));
        assert_eq!(latency(Vec::new()).count, 0);
    }
}
