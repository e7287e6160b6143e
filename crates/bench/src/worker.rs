//! A worker process (this binary re-run with `--worker`): it connects and subscribes its share
//! of the subscribers, reads every event they get, checks each connection's seqs and times
//! each delivery, and tells the parent what it saw (messages.rs).
//!
//! One process may hold at most `ulimit -n` sockets, which is why subscribers live in
//! workers. Client sockets are bound to 127.0.0.(1 + i % --source-addrs) before connecting, so
//! the 4-tuples never run out of ephemeral ports and per-IP caps can be met.

use std::{
    cell::RefCell,
    collections::{BTreeMap, HashMap},
    net::{IpAddr, Ipv4Addr, SocketAddr},
    rc::Rc,
    time::Duration,
};

use anyhow::{Context, bail};
use futures_util::{StreamExt, stream};
use qa_hub_client::{
    Connection, Error as ClientError, EventBody, EventFrame, EventStream, ServerMessage, Topic,
    WebSocketConfig, reqwest,
};
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    net::{TcpSocket, TcpStream},
};
use uuid::Uuid;

use crate::{
    cli::Transport,
    latency::{Latencies, micros_since, unix_micros},
    messages::{FromWorker, Kind, ToWorker, WorkerResult, WorkerSpec},
};

/// The worker's whole life: read the spec, connect, report ready, read events until told to
/// stop, report the result.
pub async fn run() -> anyhow::Result<()> {
    let mut stdin = BufReader::new(tokio::io::stdin()).lines();
    let spec: WorkerSpec =
        serde_json::from_str(&stdin.next_line().await?.context("no worker spec on stdin")?)?;
    anyhow::ensure!(!spec.servers.is_empty() && !spec.questions.is_empty(), "an empty worker spec");
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
            Some(&sent) => st.latencies_us.entry(Kind::Vote).or_default().record(micros_since(sent, at)),
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
        res.missing += expected.get(c.question).copied().unwrap_or(0).saturating_sub(c.received);
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

fn source_addr(i: usize, n: u8) -> Ipv4Addr {
    Ipv4Addr::new(127, 0, 0, 1 + (i % n.max(1) as usize) as u8)
}

/// One subscriber's tally.
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
    latencies_us: BTreeMap<Kind, Latencies>,
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
            self.latencies_us.entry(kind).or_default().record(micros_since(sent, now));
        }
    }
}

/// A subscriber's connection.
enum Conn {
    Ws(Connection<TcpStream>),
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
            let existing = http.borrow().get(&source).cloned();
            let client = match existing {
                Some(client) => client,
                None => {
                    let client = reqwest::Client::builder()
                        .local_address(IpAddr::V4(source))
                        .tcp_nodelay(true)
                        .build()
                        .context("an HTTP client")?;
                    http.borrow_mut().insert(source, client.clone());
                    client
                }
            };
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

/// One message to the parent, on a line of its own.
fn emit(msg: &FromWorker) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = serde_json::to_writer(&mut out, msg);
    let _ = out.write_all(b"\n");
    let _ = out.flush();
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
    fn source_addresses_wrap() {
        assert_eq!(source_addr(0, 64), Ipv4Addr::new(127, 0, 0, 1));
        assert_eq!(source_addr(65, 64), Ipv4Addr::new(127, 0, 0, 2));
        assert_eq!(source_addr(3, 0), Ipv4Addr::new(127, 0, 0, 1));
    }
}
