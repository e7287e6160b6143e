//! Fan-out across hub nodes: on Postgres, every node hears every committed answer through
//! `LISTEN qa_hub_answers` and hands the ones its own subscribers watch to its [`Hub`].
//!
//! `post_answer` sends `pg_notify('qa_hub_answers', {question_id, seq, answer_id})` inside the
//! answer's transaction, so Postgres delivers it only on commit and in commit order (which is
//! seq order within a question). The payload carries ids only; a node fetches the answer
//! itself — once per answer, not per subscriber, and only if somebody here watches that
//! question — and publishes it exactly as a local post would. The hub drops seqs it already
//! handed out, so the posting node hearing its own NOTIFY is harmless.
//!
//! Notifications are fire-and-forget: whatever is sent while a listener is disconnected is
//! lost to it. So this module never lets sqlx reconnect silently. It owns the connection:
//! on any error it drops the listener, reconnects with backoff, `LISTEN`s again and only
//! then catches up from the database, by seq, for every question that has subscribers here.
//! Until that catch-up is done [`ClusterStatus::ready`] is false and `/readyz` answers 503.
//!
//! Two tasks split the work so that notifications batch up naturally: the *listener* only
//! reads the socket and forwards events, in order, into a channel; the *fetcher* takes
//! whatever has piled up, fetches those answers in one query and publishes them.
//!
//! SQLite has no equivalent, and one SQLite file is one node: nothing here runs for it.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicI32, AtomicU64, Ordering},
    },
    time::Duration,
};

use serde::Deserialize;
use sqlx::{
    Executor, PgPool,
    postgres::{PgConnectOptions, PgListener, PgPoolOptions},
};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::{
    hub::Hub,
    store::{ANSWER_CHANNEL, Answer},
};

/// Prefix of the listening connection's `application_name`; the node id follows it, so an
/// operator (or a test) can find one node's listener in `pg_stat_activity`.
pub const LISTENER_APP_NAME: &str = "qa-hub-listener";
/// Most notifications fetched in one query.
const MAX_BATCH: usize = 500;
/// Watched questions caught up per query after a reconnect.
const CATCH_UP_CHUNK: usize = 1000;
/// Most answers per question that a catch-up publishes. A node cut off for longer publishes
/// only the newest ones: its connections see the gap and read the rest from the database
/// themselves, page by page, instead of overflowing their queues.
const CATCH_UP_MAX_PER_QUESTION: i64 = 100;
/// A listening connection quiet for this long is probed with a query…
const IDLE_PROBE_AFTER: Duration = Duration::from_secs(30);
/// …and counts as lost if the probe takes longer than this.
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest a reconnect attempt (connect, LISTEN, pid) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// Whether this node hears the other nodes' answers; shared with `/readyz`.
#[derive(Debug)]
pub struct ClusterStatus {
    node_id: String,
    /// False on SQLite: there is no listener and nothing to be cut off from.
    clustered: bool,
    /// Generation of the live listening connection; 0 while disconnected.
    listening: AtomicU64,
    /// Generation whose catch-up has completed.
    caught_up: AtomicU64,
    /// Backend pid of the listening connection; 0 while disconnected.
    pid: AtomicI32,
    /// Liveness probes that succeeded (for metrics and tests).
    probes: AtomicU64,
    /// Why the listener is down, for `/readyz` and logs.
    last_error: Mutex<Option<String>>,
}

impl ClusterStatus {
    fn new(node_id: String, clustered: bool) -> Self {
        Self {
            node_id,
            clustered,
            listening: AtomicU64::new(0),
            caught_up: AtomicU64::new(0),
            pid: AtomicI32::new(0),
            probes: AtomicU64::new(0),
            last_error: Mutex::new(None),
        }
    }

    /// A status for a node that runs alone (SQLite): always ready.
    pub fn single_node(node_id: String) -> Arc<Self> {
        Arc::new(Self::new(node_id, false))
    }

    pub fn node_id(&self) -> &str {
        &self.node_id
    }

    /// True when the node listens for other nodes' answers and has caught up on what it
    /// missed before it started listening (always true for a single node).
    pub fn ready(&self) -> bool {
        if !self.clustered {
            return true;
        }
        let listening = self.listening.load(Ordering::Acquire);
        listening != 0 && self.caught_up.load(Ordering::Acquire) == listening
    }

    /// The listening connection's backend pid, while connected.
    pub fn listener_pid(&self) -> Option<i32> {
        Some(self.pid.load(Ordering::Acquire)).filter(|&pid| pid != 0)
    }

    /// A sentence explaining why the node is not ready, if it is not.
    pub fn problem(&self) -> Option<String> {
        if self.ready() {
            return None;
        }
        let cause = self.last_error.lock().unwrap_or_else(|p| p.into_inner()).clone();
        Some(if self.listening.load(Ordering::Acquire) == 0 {
            format!(
                "This node is cut off from the other nodes' answers: its Postgres listener is \
                 disconnected and reconnecting{}.",
                cause.map(|c| format!(" (last error: {c})")).unwrap_or_default()
            )
        } else {
            "This node is catching up on answers it missed while its Postgres listener was \
             disconnected."
                .to_owned()
        })
    }

    fn set_error(&self, error: impl ToString) {
        *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(error.to_string());
    }
}

/// What the listener task tells the fetcher, in the order it happened.
#[derive(Debug)]
enum Event {
    /// `LISTEN` is in force on connection `generation`: catch up, then report ready.
    Listening { generation: u64 },
    /// One committed answer (the NOTIFY payload).
    Answer(Announced),
}

/// The NOTIFY payload that `Store::post_answer` sends.
#[derive(Debug, Deserialize)]
struct Announced {
    question_id: Uuid,
    seq: i64,
    answer_id: Uuid,
}

/// Starts listening for other nodes' answers. Returns once the first `LISTEN` is in force,
/// so a node that starts is already part of the cluster; a database that refuses it is a
/// start-up error. The tasks stop when `shutdown` is cancelled.
///
/// The listener connects with the pool's own options, so TLS (`sslmode`, `sslrootcert`) is the
/// same for both.
pub async fn start(
    node_id: String,
    pool: PgPool,
    hub: Arc<Hub>,
    shutdown: CancellationToken,
) -> anyhow::Result<Arc<ClusterStatus>> {
    let options =
        (*pool.connect_options()).clone().application_name(&format!("{LISTENER_APP_NAME}:{node_id}"));
    let status = Arc::new(ClusterStatus::new(node_id, true));
    let (events, inbox) = mpsc::unbounded_channel();
    let mut listener = Listener {
        options,
        status: status.clone(),
        events,
        generation: 0,
        probe_after: IDLE_PROBE_AFTER,
        probe_timeout: PROBE_TIMEOUT,
    };
    let first =
        listener.connect().await.map_err(|e| crate::store::connect::explain(&e, &listener.options))?;
    // Nobody can have subscribed yet, so there is nothing to catch up on: ready at once.
    status.caught_up.store(listener.generation, Ordering::Release);
    tokio::spawn(listener.run(first, shutdown.clone()));
    let fetcher = Fetcher { pool, hub, status: status.clone() };
    tokio::spawn(fetcher.run(inbox, shutdown));
    Ok(status)
}

/// Owns the listening connection and its reconnects.
struct Listener {
    options: PgConnectOptions,
    status: Arc<ClusterStatus>,
    events: mpsc::UnboundedSender<Event>,
    generation: u64,
    probe_after: Duration,
    probe_timeout: Duration,
}

impl Listener {
    /// Opens a fresh connection, `LISTEN`s, records its pid and announces it to the fetcher.
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
        listener.listen(ANSWER_CHANNEL).await?;
        let pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()").fetch_one(&mut listener).await?;
        self.generation += 1;
        self.status.pid.store(pid, Ordering::Release);
        self.status.listening.store(self.generation, Ordering::Release);
        tracing::info!(node = %self.status.node_id, pid, generation = self.generation, "listening for answers");
        // The catch-up must come after LISTEN: anything committed later is notified, anything
        // earlier is in the database by the time the fetcher reads it.
        let _ = self.events.send(Event::Listening { generation: self.generation });
        Ok(listener)
    }

    async fn run(mut self, mut listener: PgListener, shutdown: CancellationToken) {
        loop {
            let lost = tokio::select! {
                // Stop with the server; dropping the listener UNLISTENs and closes.
                () = shutdown.cancelled() => return,
                lost = self.forward(&mut listener) => lost,
            };
            self.status.listening.store(0, Ordering::Release);
            self.status.pid.store(0, Ordering::Release);
            tracing::warn!(node = %self.status.node_id, error = %lost, "answer listener lost; reconnecting");
            self.status.set_error(&lost);
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
                            self.status.probes.fetch_add(1, Ordering::Relaxed);
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
                Ok(Some(notification)) => match serde_json::from_str(notification.payload()) {
                    Ok(announced) => {
                        if self.events.send(Event::Answer(announced)).is_err() {
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
        let mut backoff = BACKOFF_MIN;
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return None,
                () = tokio::time::sleep(backoff) => {}
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
                    tracing::warn!(node = %self.status.node_id, error = %e, retry_in = ?backoff, "answer listener could not reconnect");
                    self.status.set_error(&e);
                    backoff = (backoff * 2).min(BACKOFF_MAX);
                }
            }
        }
    }
}

/// Turns notifications into published answers, and catches up after reconnects.
struct Fetcher {
    pool: PgPool,
    hub: Arc<Hub>,
    status: Arc<ClusterStatus>,
}

impl Fetcher {
    async fn run(self, mut inbox: mpsc::UnboundedReceiver<Event>, shutdown: CancellationToken) {
        let mut batch = Vec::new();
        loop {
            let first = tokio::select! {
                () = shutdown.cancelled() => return,
                event = inbox.recv() => event,
            };
            let Some(first) = first else { return };
            // Whatever piled up while the last batch was being fetched goes in this one.
            batch.push(first);
            while batch.len() < MAX_BATCH {
                match inbox.try_recv() {
                    Ok(event) => batch.push(event),
                    Err(_) => break,
                }
            }
            let mut answers = Vec::new();
            for event in batch.drain(..) {
                match event {
                    Event::Answer(announced) => answers.push(announced),
                    Event::Listening { generation } => {
                        // Keep the order: what was heard before the reconnect goes out first.
                        self.publish_or_recover(std::mem::take(&mut answers), &shutdown).await;
                        self.catch_up_until_done(generation, &shutdown).await;
                    }
                }
            }
            self.publish_or_recover(answers, &shutdown).await;
        }
    }

    /// Fetches and publishes announced answers; if the database fails, the node is not ready
    /// until a catch-up has replaced what could not be fetched.
    async fn publish_or_recover(&self, announced: Vec<Announced>, shutdown: &CancellationToken) {
        if announced.is_empty() {
            return;
        }
        if let Err(e) = self.publish(announced).await {
            tracing::error!(error = %e, "could not fetch announced answers; catching up");
            self.status.set_error(&e);
            self.status.caught_up.store(0, Ordering::Release);
            let generation = self.status.listening.load(Ordering::Acquire);
            self.catch_up_until_done(generation, shutdown).await;
        }
    }

    async fn publish(&self, announced: Vec<Announced>) -> sqlx::Result<()> {
        // Only answers somebody here watches and the hub has not handed out yet (the posting
        // node usually has, locally, before its own NOTIFY arrives).
        let wanted: Vec<Announced> = announced
            .into_iter()
            .filter(|a| self.hub.delivered(a.question_id).is_some_and(|delivered| a.seq > delivered))
            .collect();
        if wanted.is_empty() {
            return Ok(());
        }
        let ids: Vec<Uuid> = wanted.iter().map(|a| a.answer_id).collect();
        let rows: Vec<Answer> = sqlx::query_as(
            "SELECT id, question_id, seq, body, author, created_at FROM answers WHERE id = ANY($1)",
        )
        .bind(&ids)
        .fetch_all(&self.pool)
        .await?;
        let mut by_id: HashMap<Uuid, Answer> = rows.into_iter().map(|a| (a.id, a)).collect();
        for a in &wanted {
            if let Some(answer) = by_id.remove(&a.answer_id) {
                self.hub.publish(&answer);
            }
        }
        Ok(())
    }

    /// Retries the catch-up with backoff until it succeeds (then marks `generation` caught
    /// up) or the server shuts down.
    async fn catch_up_until_done(&self, generation: u64, shutdown: &CancellationToken) {
        let mut backoff = BACKOFF_MIN;
        loop {
            match self.catch_up().await {
                Ok(published) => {
                    tracing::info!(node = %self.status.node_id, generation, published, "caught up");
                    self.status.caught_up.store(generation, Ordering::Release);
                    return;
                }
                Err(e) => {
                    tracing::warn!(error = %e, retry_in = ?backoff, "catch-up failed");
                    self.status.set_error(&e);
                }
            }
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(BACKOFF_MAX);
        }
    }

    /// Publishes, for every question watched here, the answers after the hub's `delivered`
    /// (at most the newest [`CATCH_UP_MAX_PER_QUESTION`]); one query per chunk of questions.
    /// Returns how many answers it published.
    async fn catch_up(&self) -> sqlx::Result<usize> {
        let watched: Vec<(Uuid, i64)> = self
            .hub
            .watched_questions()
            .into_iter()
            .filter_map(|q| self.hub.delivered(q).map(|d| (q, d)))
            .collect();
        let mut published = 0;
        for chunk in watched.chunks(CATCH_UP_CHUNK) {
            let (ids, delivered): (Vec<Uuid>, Vec<i64>) = chunk.iter().copied().unzip();
            let rows: Vec<Answer> = sqlx::query_as(
                "SELECT a.id, a.question_id, a.seq, a.body, a.author, a.created_at \
                 FROM unnest($1::uuid[], $2::bigint[]) AS w(question_id, delivered) \
                 JOIN questions q ON q.id = w.question_id \
                 JOIN answers a ON a.question_id = w.question_id \
                   AND a.seq > GREATEST(w.delivered, q.answer_count - $3) \
                 ORDER BY a.question_id, a.seq",
            )
            .bind(&ids)
            .bind(&delivered)
            .bind(CATCH_UP_MAX_PER_QUESTION)
            .fetch_all(&self.pool)
            .await?;
            for answer in &rows {
                self.hub.publish(answer);
            }
            published += rows.len();
        }
        Ok(published)
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

    async fn next(inbox: &mut mpsc::UnboundedReceiver<Event>) -> Event {
        let recv = tokio::time::timeout(Duration::from_secs(15), inbox.recv());
        recv.await.expect("an event within 15 s").expect("the listener is running")
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_silent_connection_is_detected_by_the_probe_and_replaced() {
        let direct = PgConnectOptions::from_str(&admin_url()).unwrap();
        let proxy = SilentProxy::start((direct.get_host().to_owned(), direct.get_port())).await;
        let options = direct.clone().host("127.0.0.1").port(proxy.port).application_name("qa-hub-probe-test");
        let status = Arc::new(ClusterStatus::new("probe-test".into(), true));
        let (events, mut inbox) = mpsc::unbounded_channel();
        let mut listener = Listener {
            options,
            status: status.clone(),
            events,
            generation: 0,
            probe_after: Duration::from_millis(100),
            probe_timeout: Duration::from_millis(300),
        };
        let first = listener.connect().await.unwrap();
        let shutdown = CancellationToken::new();
        tokio::spawn(listener.run(first, shutdown.clone()));
        assert!(matches!(next(&mut inbox).await, Event::Listening { generation: 1 }));

        // Quiet spells with a healthy connection are probed and survive: still generation 1
        // after several probes, and notifications still arrive.
        let mut admin = sqlx::PgConnection::connect_with(&direct).await.unwrap();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        while status.probes.load(Ordering::Relaxed) < 3 {
            assert!(tokio::time::Instant::now() < deadline, "no probes ran");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let (q, a) = (Uuid::now_v7(), Uuid::now_v7());
        let payload = format!(r#"{{"question_id":"{q}","seq":1,"answer_id":"{a}"}}"#);
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(ANSWER_CHANNEL)
            .bind(&payload)
            .execute(&mut admin)
            .await
            .unwrap();
        loop {
            match next(&mut inbox).await {
                Event::Answer(got) if got.answer_id == a => break,
                Event::Answer(_) => continue, // another test's answer on this database
                Event::Listening { generation } => {
                    panic!("reconnected ({generation}) on a healthy connection")
                }
            }
        }

        // The proxy goes silent: the probe times out, the node reconnects (generation 2).
        proxy.silence_all();
        loop {
            match next(&mut inbox).await {
                Event::Listening { generation } => {
                    assert_eq!(generation, 2);
                    break;
                }
                Event::Answer(_) => continue,
            }
        }
        shutdown.cancel();
    }
}
