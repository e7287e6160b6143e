//! The Postgres broker: nodes sharing one database share events through LISTEN/NOTIFY. The
//! only module that knows NOTIFY exists.
//!
//! Its [`CommitHook`] sends one `pg_notify('qa_hub_events', …)` per event inside the
//! transaction that records it, so Postgres delivers it only on commit and in commit order
//! (which is seq order within a topic). The payload is the event's own wire frame when it is
//! shorter than `--notify-inline-bytes` (3,000 by default; NOTIFY's limit is 8,000), so a node
//! serves a remote event without reading the database; otherwise it is a reference
//! (`{"topic","seq"}`) and the node reads the event from the log —
//! once per event, not per subscriber, and only if somebody here watches the topic. The hub
//! drops seqs it already handed out, so the committing node hearing its own NOTIFY (it has
//! published locally right after commit) is harmless.
//!
//! Notifications are fire-and-forget: whatever is sent while a listener is disconnected is
//! lost to it. So this module never lets sqlx reconnect silently. It owns the connection:
//! on any error it drops the listener, reconnects with backoff, `LISTEN`s again and only
//! then catches up from the event log, by seq, for every topic that has subscribers here
//! (the [`Link`] every broker shares). Until that catch-up is done `/readyz` answers 503.
//!
//! Two tasks split the work so that notifications batch up naturally: the *listener* only
//! reads the socket and forwards what it hears, in order, into a channel; the *fetcher* takes
//! whatever has piled up, reads the referenced events in one go and publishes everything.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use bytestring::ByteString;
use futures_util::future::BoxFuture;
use serde::Deserialize;
use sqlx::{
    Executor, PgConnection,
    postgres::{PgConnectOptions, PgListener, PgPoolOptions},
};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{
    Broker, Deps,
    link::{Backoff, Link, Words},
};
use crate::{
    domain::{Event, Topic},
    metrics::Metrics,
    realtime::{self, Hub},
    store::{CommitHook, Store},
    wire,
};

/// The channel every committed event is announced on.
pub const CHANNEL: &str = "qa_hub_events";
/// NOTIFY payloads must be shorter than 8,000 bytes: the most a frame may be to travel inline.
pub const INLINE_LIMIT: usize = 8000;

/// Prefix of the listening connection's `application_name`; the node id follows it, so an
/// operator (or a test) can find one node's listener in `pg_stat_activity`.
pub const LISTENER_APP_NAME: &str = "qa-hub-listener";
/// Most notifications handled in one batch.
const MAX_BATCH: usize = 500;
/// A listening connection quiet for this long is probed with a query…
const IDLE_PROBE_AFTER: Duration = Duration::from_secs(30);
/// …and counts as lost if the probe takes longer than this.
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest a reconnect attempt (connect, LISTEN, pid) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

/// How `/readyz` and the logs name what this broker may lose.
static WORDS: Words = Words {
    connection: "its Postgres listener",
    lost: "disconnected",
    caught_up: "caught up",
    catch_up_failed: "catch-up failed",
};

/// What the listener task tells the fetcher, in the order it happened.
#[derive(Debug)]
enum Heard {
    /// `LISTEN` is in force on connection `generation`: catch up, then report ready.
    Listening { generation: u64 },
    /// A committed event whose frame came in the payload.
    Frame { topic: Topic, seq: i64, frame: ByteString },
    /// A committed event too large for a payload: read it from the log.
    Reference { topic: Topic, seq: i64 },
}

/// The fields of a payload the listener reads: a frame has a `type`, a reference does not.
#[derive(Debug, Deserialize)]
struct PayloadHead {
    #[serde(rename = "type")]
    kind: Option<serde::de::IgnoredAny>,
    topic: Topic,
    seq: i64,
}

impl Heard {
    fn from_payload(payload: &str) -> Result<Self, serde_json::Error> {
        let head: PayloadHead = serde_json::from_str(payload)?;
        Ok(match head.kind {
            Some(_) => Self::Frame { topic: head.topic, seq: head.seq, frame: payload.into() },
            None => Self::Reference { topic: head.topic, seq: head.seq },
        })
    }
}

/// Announces events inside their transaction: the frame itself when it is shorter than
/// `inline_limit` bytes, else a reference. One statement per batch.
struct Announce {
    inline_limit: usize,
}

impl CommitHook for Announce {
    fn before_commit<'a>(
        &'a self,
        tx: &'a mut PgConnection,
        events: &'a [Event],
    ) -> BoxFuture<'a, sqlx::Result<()>> {
        Box::pin(async move {
            let payloads: Vec<String> = events.iter().map(|e| payload(e, self.inline_limit)).collect();
            sqlx::query(
                "SELECT pg_notify($1, p) FROM unnest($2::text[]) WITH ORDINALITY AS u(p, i) ORDER BY i",
            )
            .bind(CHANNEL)
            .bind(&payloads)
            .execute(tx)
            .await
            .map(drop)
        })
    }
}

/// An event's NOTIFY payload.
fn payload(event: &Event, inline_limit: usize) -> String {
    let frame = wire::event(event);
    if frame.len() < inline_limit {
        frame.to_string()
    } else {
        serde_json::json!({"topic": event.topic.to_string(), "seq": event.seq}).to_string()
    }
}

/// The Postgres broker of one node.
pub struct PostgresBroker {
    hub: Arc<Hub>,
    link: Arc<Link>,
}

impl PostgresBroker {
    /// Starts listening for other nodes' events and installs the announcing hook in `store`.
    /// Returns once the first `LISTEN` is in force, so a node that starts is already part of
    /// the cluster; a database that refuses it is a start-up error. The listener connects
    /// with `options` (the pool's, so TLS settings are the same); events whose frame is
    /// shorter than `inline_limit` bytes travel in the payload.
    pub async fn start(
        deps: Deps,
        options: PgConnectOptions,
        inline_limit: usize,
    ) -> anyhow::Result<Arc<Self>> {
        let Deps { node_id, store, hub, metrics, shutdown } = deps;
        let options = options.application_name(&format!("{LISTENER_APP_NAME}:{node_id}"));
        let link = Link::new(node_id, &WORDS);
        let (heard, inbox) = mpsc::unbounded_channel();
        let mut listener = Listener::new(options, link.clone(), heard);
        let first =
            listener.connect().await.map_err(|e| crate::store::connect::explain(&e, &listener.options))?;
        // Nobody can have subscribed yet, so there is nothing to catch up on: ready at once.
        link.caught_up(link.live());
        tokio::spawn(listener.run(first, shutdown.clone()));
        store.set_commit_hook(Arc::new(Announce { inline_limit: inline_limit.min(INLINE_LIMIT) }));
        let fetcher = Fetcher { store, hub: hub.clone(), link: link.clone(), metrics };
        tokio::spawn(fetcher.run(inbox, shutdown));
        Ok(Arc::new(Self { hub, link }))
    }
}

impl Broker for PostgresBroker {
    /// The other nodes hear the events from the commit's NOTIFY; this node's subscribers get
    /// them now, without waiting for the round trip.
    fn publish(&self, events: &[Event]) {
        realtime::publish(&self.hub, events);
    }

    fn problem(&self) -> Option<String> {
        self.link.problem()
    }

    fn name(&self) -> &'static str {
        "postgres"
    }
}

/// Owns the listening connection and its reconnects.
struct Listener {
    options: PgConnectOptions,
    link: Arc<Link>,
    heard: mpsc::UnboundedSender<Heard>,
    probe_after: Duration,
    probe_timeout: Duration,
    /// Liveness probes that succeeded (for tests).
    probes: Arc<AtomicU64>,
}

impl Listener {
    fn new(options: PgConnectOptions, link: Arc<Link>, heard: mpsc::UnboundedSender<Heard>) -> Self {
        Self {
            options,
            link,
            heard,
            probe_after: IDLE_PROBE_AFTER,
            probe_timeout: PROBE_TIMEOUT,
            probes: Arc::default(),
        }
    }

    /// Opens a fresh connection, `LISTEN`s, logs its pid and announces it to the fetcher.
    ///
    /// Each attempt gets its own one-connection pool: `PgListener` insists on a pool, and a
    /// fresh one guarantees that a dead connection is never handed back to us.
    async fn connect(&mut self) -> sqlx::Result<PgListener> {
        let pool = PgPoolOptions::new()
            .max_connections(1)
            .min_connections(0)
            .max_lifetime(None)
            .idle_timeout(None)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(self.options.clone())
            .await?;
        let mut listener = PgListener::connect_with(&pool).await?;
        // Never reconnect behind our back: a reconnect must be followed by a catch-up, so
        // a lost connection must surface here as `Ok(None)` or an error.
        listener.eager_reconnect(false);
        listener.listen(CHANNEL).await?;
        let pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()").fetch_one(&mut listener).await?;
        let generation = self.link.connected();
        tracing::info!(node = %self.link.node_id(), pid, generation, "listening for events");
        // The catch-up must come after LISTEN: anything committed later is notified, anything
        // earlier is in the database by the time the fetcher reads it.
        let _ = self.heard.send(Heard::Listening { generation });
        Ok(listener)
    }

    async fn run(mut self, mut listener: PgListener, shutdown: CancellationToken) {
        loop {
            let lost = tokio::select! {
                // Stop with the server; dropping the listener UNLISTENs and closes.
                () = shutdown.cancelled() => return,
                lost = self.forward(&mut listener) => lost,
            };
            self.link.lost();
            tracing::warn!(node = %self.link.node_id(), error = %lost, "event listener lost; reconnecting");
            self.link.set_error(&lost);
            drop(listener);
            listener = match self.reconnect(&shutdown).await {
                Some(listener) => listener,
                None => return,
            };
        }
    }

    /// Forwards notifications until the connection fails; returns why.
    async fn forward(&self, listener: &mut PgListener) -> String {
        loop {
            // A connection whose peer vanished without a FIN or RST (a partition, a host that
            // lost power) would wait here forever, deaf but "ready": after a quiet spell,
            // prove the connection alive with a query. (`try_recv` is cancel-safe; sqlx
            // keeps a partly read message in its buffer.)
            let received = match tokio::time::timeout(self.probe_after, listener.try_recv()).await {
                Ok(received) => received,
                Err(_) => {
                    match tokio::time::timeout(self.probe_timeout, listener.execute("SELECT 1")).await {
                        // Notifications that arrived meanwhile wait in the listener's buffer.
                        Ok(Ok(_)) => {
                            self.probes.fetch_add(1, Ordering::Relaxed);
                            continue;
                        }
                        Ok(Err(e)) => return format!("liveness probe failed: {e}"),
                        Err(_) => {
                            return format!("liveness probe got no answer within {:?}", self.probe_timeout);
                        }
                    }
                }
            };
            match received {
                Ok(Some(notification)) => match Heard::from_payload(notification.payload()) {
                    Ok(heard) => {
                        if self.heard.send(heard).is_err() {
                            return "the fetcher stopped".into();
                        }
                    }
                    // Not ours (someone else NOTIFYing on the channel): nothing to fetch.
                    Err(e) => {
                        tracing::warn!(payload = notification.payload(), error = %e, "ignoring a malformed notification")
                    }
                },
                Ok(None) => return "connection closed".into(),
                Err(e) => return e.to_string(),
            }
        }
    }

    /// Tries again with exponential backoff until connected or shut down.
    async fn reconnect(&mut self, shutdown: &CancellationToken) -> Option<PgListener> {
        let mut backoff = Backoff::new();
        loop {
            if !backoff.wait(shutdown).await {
                return None;
            }
            // Bounded, so that an unreachable server cannot hang the loop in one attempt.
            let attempt = tokio::time::timeout(CONNECT_TIMEOUT, self.connect()).await;
            let timed_out = || {
                let message = format!("no connection within {CONNECT_TIMEOUT:?}");
                Err(sqlx::Error::Io(std::io::Error::new(std::io::ErrorKind::TimedOut, message)))
            };
            match attempt.unwrap_or_else(|_| timed_out()) {
                Ok(listener) => return Some(listener),
                Err(e) => {
                    tracing::warn!(node = %self.link.node_id(), error = %e, retry_in = ?backoff.next(), "event listener could not reconnect");
                    self.link.set_error(&e);
                }
            }
        }
    }
}

/// Publishes what the listener heard, reading referenced events from the log, and catches up
/// after reconnects.
struct Fetcher {
    store: Store,
    hub: Arc<Hub>,
    link: Arc<Link>,
    metrics: Arc<Metrics>,
}

impl Fetcher {
    async fn run(self, mut inbox: mpsc::UnboundedReceiver<Heard>, shutdown: CancellationToken) {
        let mut batch = Vec::new();
        loop {
            let first = tokio::select! {
                () = shutdown.cancelled() => return,
                heard = inbox.recv() => heard,
            };
            let Some(first) = first else { return };
            // Whatever piled up while the last batch was being handled goes in this one.
            batch.push(first);
            while batch.len() < MAX_BATCH {
                match inbox.try_recv() {
                    Ok(heard) => batch.push(heard),
                    Err(_) => break,
                }
            }
            let mut references = Vec::new();
            for heard in batch.drain(..) {
                match heard {
                    // Frames go out at once; a reference heard before them may still be read
                    // below, and the sessions fill (and the hub holds back) out-of-order seqs.
                    Heard::Frame { topic, seq, frame } => {
                        self.metrics.broker_frames.inc();
                        self.hub.publish(topic, seq, || frame);
                    }
                    Heard::Reference { topic, seq } => {
                        self.metrics.broker_references.inc();
                        references.push((topic, seq));
                    }
                    Heard::Listening { generation } => {
                        // Keep the order: what was heard before the reconnect goes out first.
                        self.read_or_recover(std::mem::take(&mut references), &shutdown).await;
                        self.link.catch_up_until_done(&self.store, &self.hub, generation, &shutdown).await;
                    }
                }
            }
            self.read_or_recover(references, &shutdown).await;
        }
    }

    /// Reads and publishes referenced events; if the database fails, the node is not ready
    /// until a catch-up has replaced what could not be read.
    async fn read_or_recover(&self, references: Vec<(Topic, i64)>, shutdown: &CancellationToken) {
        // Only events somebody here watches and the hub has not handed out yet.
        let wanted: Vec<(Topic, i64)> = references
            .into_iter()
            .filter(|(topic, seq)| self.hub.delivered(*topic).is_some_and(|delivered| *seq > delivered))
            .collect();
        if wanted.is_empty() {
            return;
        }
        match self.store.events_at(&wanted).await {
            Ok(events) => realtime::publish(&self.hub, &events),
            Err(e) => {
                tracing::error!(error = %e, "could not read announced events; catching up");
                self.link.set_error(&e);
                self.link.fell_behind();
                let generation = self.link.live();
                self.link.catch_up_until_done(&self.store, &self.hub, generation, shutdown).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    //! The listener against a real Postgres (TEST_DATABASE_URL, default the local one),
    //! reached through a TCP proxy that can go silent without closing anything: what a
    //! network partition looks like to the node.

    use std::{str::FromStr, sync::Mutex as StdMutex};

    use tokio::net::{TcpListener, TcpStream};

    use sqlx::Connection;

    use super::*;

    fn admin_url() -> String {
        std::env::var("TEST_DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
    }

    /// Forwards connections to Postgres until told to go silent; silenced connections stay
    /// open but pass no more bytes, new ones work.
    struct SilentProxy {
        port: u16,
        live: Arc<StdMutex<Vec<CancellationToken>>>,
    }

    impl SilentProxy {
        async fn start(target: (String, u16)) -> Self {
            let socket = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let port = socket.local_addr().unwrap().port();
            let live: Arc<StdMutex<Vec<CancellationToken>>> = Arc::default();
            let registry = live.clone();
            tokio::spawn(async move {
                while let Ok((client, _)) = socket.accept().await {
                    let server = TcpStream::connect((target.0.as_str(), target.1)).await.unwrap();
                    let silence = CancellationToken::new();
                    registry.lock().unwrap().push(silence.clone());
                    tokio::spawn(async move {
                        let (mut client, mut server) = (client, server);
                        tokio::select! {
                            _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                            // Keep both sockets open and idle: no FIN, no RST, no bytes.
                            () = silence.cancelled() => std::future::pending::<()>().await,
                        }
                    });
                }
            });
            Self { port, live }
        }

        fn silence_all(&self) {
            self.live.lock().unwrap().drain(..).for_each(|t| t.cancel());
        }
    }

    async fn next(inbox: &mut mpsc::UnboundedReceiver<Heard>) -> Heard {
        let recv = tokio::time::timeout(Duration::from_secs(15), inbox.recv());
        recv.await.expect("an event within 15 s").expect("the listener is running")
    }

    #[test]
    fn payloads_carry_the_frame_when_it_fits_and_a_reference_otherwise() {
        use crate::domain::{Answer, EventKind};
        let q = uuid::Uuid::now_v7();
        let event = |body: String| Event {
            topic: Topic::Question(q),
            seq: 7,
            kind: EventKind::Answer(Answer {
                id: uuid::Uuid::now_v7(),
                question_id: q,
                seq: 7,
                body,
                body_html: String::new(),
                author: "a".into(),
                author_id: Some(uuid::Uuid::now_v7()),
                created_at: chrono::Utc::now(),
                score: 0,
                revision: 1,
                edited_at: None,
            }),
        };
        let small = event("short".into());
        match Heard::from_payload(&payload(&small, INLINE_LIMIT)).unwrap() {
            Heard::Frame { topic, seq, frame } => {
                assert_eq!((topic, seq), (Topic::Question(q), 7));
                assert_eq!(frame, wire::event(&small));
            }
            other => panic!("expected the frame, got {other:?}"),
        }
        let large = payload(&event("x".repeat(INLINE_LIMIT)), INLINE_LIMIT);
        assert!(large.len() < 200, "{large}");
        assert!(matches!(Heard::from_payload(&large).unwrap(), Heard::Reference { seq: 7, .. }));
        let forced = payload(&small, 0);
        assert!(matches!(Heard::from_payload(&forced).unwrap(), Heard::Reference { seq: 7, .. }));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_silent_connection_is_detected_by_the_probe_and_replaced() {
        let direct = PgConnectOptions::from_str(&admin_url()).unwrap();
        let proxy = SilentProxy::start((direct.get_host().to_owned(), direct.get_port())).await;
        let options = direct.clone().host("127.0.0.1").port(proxy.port).application_name("qa-hub-probe-test");
        let (heard, mut inbox) = mpsc::unbounded_channel();
        let mut listener = Listener {
            probe_after: Duration::from_millis(100),
            probe_timeout: Duration::from_millis(300),
            ..Listener::new(options, Link::new("probe-test".into(), &WORDS), heard)
        };
        let probes = listener.probes.clone();
        let first = listener.connect().await.unwrap();
        let shutdown = CancellationToken::new();
        tokio::spawn(listener.run(first, shutdown.clone()));
        assert!(matches!(next(&mut inbox).await, Heard::Listening { generation: 1 }));

        // Quiet spells with a healthy connection are probed and survive: still generation 1
        // after several probes, and notifications still arrive.
        let mut admin = sqlx::PgConnection::connect_with(&direct).await.unwrap();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        while probes.load(Ordering::Relaxed) < 3 {
            assert!(tokio::time::Instant::now() < deadline, "no probes ran");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let probe = Topic::Question(uuid::Uuid::now_v7());
        let payload = format!(r#"{{"topic":"{probe}","seq":1}}"#);
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(CHANNEL)
            .bind(&payload)
            .execute(&mut admin)
            .await
            .unwrap();
        loop {
            match next(&mut inbox).await {
                Heard::Reference { topic, .. } if topic == probe => break,
                Heard::Reference { .. } | Heard::Frame { .. } => continue, // another test's event
                Heard::Listening { generation } => {
                    panic!("reconnected ({generation}) on a healthy connection")
                }
            }
        }

        // The proxy goes silent: the probe times out, the node reconnects (generation 2).
        proxy.silence_all();
        loop {
            match next(&mut inbox).await {
                Heard::Listening { generation } => {
                    assert_eq!(generation, 2);
                    break;
                }
                Heard::Reference { .. } | Heard::Frame { .. } => continue,
            }
        }
        shutdown.cancel();
    }
}
