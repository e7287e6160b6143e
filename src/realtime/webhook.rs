//! Webhook delivery: each registered URL gets its topic's events as signed POSTs, one at a
//! time, in seq order — a subscriber of the hub whose transport is an HTTP request.
//!
//! - **One worker per webhook**, so a slow or failing endpoint only ever delays itself. The
//!   worker subscribes to its topic on the hub for wake-ups only; what it sends is read from
//!   the event log after the webhook's stored position, so nothing depends on the hub's queue
//!   and a restart resumes where the endpoint last acknowledged.
//! - **The position moves after a 2xx**, by compare-and-set, so each event is acknowledged
//!   once. A POST whose answer is lost (a timeout, a crash between the endpoint's 2xx and the
//!   store's update) is sent again: delivery is at least once, and `QA-Hub-Webhook-Id` with
//!   `QA-Hub-Seq` let an endpoint drop a repeat.
//! - **Backoff**: after the n-th failure in a row the next attempt waits 2^(n-1) s, up to
//!   `--webhook-retry-max-secs`. The wait is stored, so it survives a restart too.
//! - **One node delivers a webhook**: the one holding its lease (30 s, renewed by every
//!   delivery and every pass). Every node runs a worker per webhook; the others wait.

use std::{collections::HashMap, sync::Arc, time::Duration};

use bytestring::ByteString;
use futures_util::future::BoxFuture;
use tokio::sync::{Notify, mpsc};
use tokio_util::{sync::CancellationToken, task::TaskTracker};
use uuid::Uuid;

use super::{
    hub::{Hub, Overflow, Subscriber},
    session::EventSource,
};
use crate::{
    domain::{
        DomainError, SIGNATURE_HEADER, Topic, WebhookAllow, WebhookTarget, WebhookUrl, backoff, signature,
    },
    store::Lease,
    wire,
};

/// How long a lease lasts unless renewed.
const LEASE: Duration = Duration::from_secs(30);
/// How often an idle or waiting worker looks again (renewing its lease, or trying for it), and
/// the dispatcher looks for webhooks registered on other nodes.
const PASS: Duration = Duration::from_secs(10);
/// Events read from the log per pass.
const PAGE: i64 = 50;

/// Whether a worker holds its webhook's lease.
pub enum Claim {
    /// It does; here is the webhook as it stands.
    Held(WebhookTarget),
    /// Another node delivers it.
    Elsewhere,
    /// It was deleted.
    Gone,
}

/// What the workers read and record, behind the service layer.
pub trait WebhookState: EventSource {
    /// The hosts webhooks may call now.
    fn allow(&self) -> &WebhookAllow;
    /// Every webhook's id.
    fn ids(&self) -> BoxFuture<'_, Result<Vec<Uuid>, DomainError>>;
    /// Waits for webhooks registered, replayed or deleted on this node.
    fn changed(&self) -> BoxFuture<'_, Vec<Uuid>>;
    fn claim<'a>(&'a self, id: Uuid, lease: &'a Lease) -> BoxFuture<'a, Result<Claim, DomainError>>;
    /// Records the endpoint's acknowledgement of `seq`; false if the position or the lease
    /// moved meanwhile.
    fn delivered<'a>(
        &'a self,
        id: Uuid,
        from: i64,
        seq: i64,
        lease: &'a Lease,
    ) -> BoxFuture<'a, Result<bool, DomainError>>;
    fn failed<'a>(
        &'a self,
        id: Uuid,
        position: i64,
        error: &'a str,
        next_attempt_ms: i64,
        lease: &'a Lease,
    ) -> BoxFuture<'a, Result<(), DomainError>>;
    fn release<'a>(&'a self, id: Uuid, owner: &'a str) -> BoxFuture<'a, Result<(), DomainError>>;
}

/// How webhooks are sent.
#[derive(Debug, Clone)]
pub struct Settings {
    /// How long one POST may take, connecting included.
    pub timeout: Duration,
    /// The longest wait between two attempts.
    pub retry_max: Duration,
}

/// Sends one event to one endpoint.
#[derive(Clone)]
pub struct Sender {
    client: reqwest12::Client,
}

impl Sender {
    pub fn new(settings: &Settings) -> anyhow::Result<Self> {
        let client = reqwest12::Client::builder()
            .use_rustls_tls()
            // A redirect could lead anywhere, past the allow-list: a 3xx is a failure.
            .redirect(reqwest12::redirect::Policy::none())
            .timeout(settings.timeout)
            .connect_timeout(settings.timeout.min(Duration::from_secs(5)))
            .user_agent(concat!("qa-hub-webhooks/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self { client })
    }

    /// POSTs `body` (the event's JSON, as sent on the WebSocket); `Err` says why it did not
    /// count as delivered.
    async fn send(
        &self,
        target: &WebhookTarget,
        seq: i64,
        body: ByteString,
        allow: &WebhookAllow,
    ) -> Result<(), String> {
        let hook = &target.hook;
        let url = WebhookUrl::parse(&hook.url, allow).map_err(|e| e.to_string())?;
        let timestamp = chrono::Utc::now().timestamp();
        let signed = signature(&target.secret, timestamp, body.as_bytes());
        let res = self
            .client
            .post(url.as_str())
            .header(reqwest12::header::CONTENT_TYPE, "application/json")
            .header(SIGNATURE_HEADER, signed)
            .header("QA-Hub-Webhook-Id", hook.id.to_string())
            .header("QA-Hub-Topic", hook.topic.to_string())
            .header("QA-Hub-Seq", seq.to_string())
            .body(body.into_bytes())
            .send()
            .await
            .map_err(|e| describe(&e))?;
        let status = res.status();
        if status.is_success() {
            return Ok(());
        }
        Err(match status.is_redirection() {
            true => format!("HTTP {status}: webhooks do not follow redirects"),
            false => format!("HTTP {status}"),
        })
    }
}

/// A failed request in words for the webhook's status (reqwest's own text nests its causes).
fn describe(e: &reqwest12::Error) -> String {
    if e.is_timeout() {
        return "timed out (--webhook-timeout-secs)".into();
    }
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        text = format!("{text}: {cause}");
        source = cause.source();
    }
    text
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Starts and stops a worker per webhook.
pub struct Dispatcher<S> {
    state: Arc<S>,
    hub: Arc<Hub>,
    sender: Sender,
    settings: Settings,
    /// This process's name in leases: unique per run, so a restarted node does not mistake
    /// its predecessor's lease for its own.
    owner: String,
    shutdown: CancellationToken,
    /// The workers, so that a stopping node can wait for them to give their leases up.
    tasks: TaskTracker,
}

impl<S: WebhookState + 'static> Dispatcher<S> {
    /// Starts the dispatcher; it and its workers stop when `shutdown` is cancelled. The
    /// returned tracker is done once every worker has given up its lease: wait for it before
    /// closing the database, or the leases would only expire.
    pub fn start(
        state: S,
        hub: Arc<Hub>,
        settings: Settings,
        node: &str,
        shutdown: CancellationToken,
    ) -> anyhow::Result<TaskTracker> {
        let sender = Sender::new(&settings)?;
        let owner = format!("{node}/{}", Uuid::new_v4().simple());
        let tasks = TaskTracker::new();
        let dispatcher = Arc::new(Self {
            state: Arc::new(state),
            hub,
            sender,
            settings,
            owner,
            shutdown,
            tasks: tasks.clone(),
        });
        tasks.spawn(dispatcher.run());
        Ok(tasks)
    }

    async fn run(self: Arc<Self>) {
        let mut workers: HashMap<Uuid, (Arc<Notify>, tokio::task::JoinHandle<()>)> = HashMap::new();
        let mut pass = tokio::time::interval(PASS);
        loop {
            let ids = tokio::select! {
                () = self.shutdown.cancelled() => return,
                _ = pass.tick() => match self.state.ids().await {
                    Ok(ids) => ids,
                    Err(e) => {
                        tracing::warn!(error = %e, "webhooks: listing them");
                        continue;
                    }
                },
                ids = self.state.changed() => ids,
            };
            workers.retain(|_, (_, task)| !task.is_finished());
            for id in ids {
                match workers.get(&id) {
                    Some((wake, _)) => wake.notify_one(),
                    None => {
                        let wake = Arc::new(Notify::new());
                        let task = self.tasks.spawn(self.clone().work(id, wake.clone()));
                        workers.insert(id, (wake, task));
                    }
                }
            }
        }
    }

    fn lease(&self) -> Lease {
        let now = now_ms();
        Lease { owner: self.owner.clone(), until_ms: now + LEASE.as_millis() as i64, now_ms: now }
    }

    /// Delivers one webhook for as long as it exists and this node runs.
    async fn work(self: Arc<Self>, id: Uuid, wake: Arc<Notify>) {
        let mut watch: Option<Watch> = None;
        loop {
            if self.shutdown.is_cancelled() {
                break;
            }
            let wait = match self.state.claim(id, &self.lease()).await {
                Ok(Claim::Gone) => break,
                Ok(Claim::Elsewhere) => PASS,
                Ok(Claim::Held(target)) => {
                    // Dropped from the topic while busy: watch again, before the log is read.
                    if let Some(w) = watch.take_if(|w| w.overflow.is_flagged()) {
                        w.leave(&self.hub);
                    }
                    let watching = watch.get_or_insert_with(|| Watch::new(&self.hub, target.hook.topic));
                    watching.drain();
                    match self.pass(target).await {
                        Ok(Next::Again) => continue,
                        Ok(Next::Wait(wait)) => wait,
                        Err(e) => {
                            tracing::warn!(webhook = %id, error = %e, "webhook delivery");
                            PASS
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(webhook = %id, error = %e, "webhook: taking its lease");
                    PASS
                }
            };
            let topic_event = async {
                match watch.as_mut() {
                    Some(w) => w.next().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = self.shutdown.cancelled() => break,
                () = wake.notified() => {}
                () = tokio::time::sleep(wait) => {}
                () = topic_event => {}
            }
        }
        if let Some(w) = watch {
            w.leave(&self.hub);
        }
        if let Err(e) = self.state.release(id, &self.owner).await {
            tracing::debug!(webhook = %id, error = %e, "webhook: releasing its lease");
        }
    }

    /// Sends what the endpoint has not acknowledged, in order, until the log is exhausted, a
    /// POST fails, or the webhook changed under us.
    async fn pass(&self, target: WebhookTarget) -> Result<Next, DomainError> {
        let hook = &target.hook;
        if let Some(at) = hook.next_attempt_at {
            let left = at.timestamp_millis() - now_ms();
            if left > 0 {
                return Ok(Next::Wait(Duration::from_millis(left as u64).min(PASS)));
            }
        }
        let events = self.state.between(hook.topic, hook.position, i64::MAX, PAGE).await?;
        let mut position = hook.position;
        for event in &events {
            if self.shutdown.is_cancelled() {
                return Ok(Next::Wait(PASS));
            }
            match self.sender.send(&target, event.seq, wire::event(event), self.state.allow()).await {
                Ok(()) => {
                    if !self.state.delivered(hook.id, position, event.seq, &self.lease()).await? {
                        return Ok(Next::Again); // replayed or taken over meanwhile: read again
                    }
                    position = event.seq;
                }
                Err(why) => {
                    let failures = hook.failures + 1;
                    let wait = backoff(failures, self.settings.retry_max);
                    tracing::info!(webhook = %hook.id, seq = event.seq, failures, error = %why, retry_in = ?wait,
                        "webhook endpoint failed");
                    self.state
                        .failed(hook.id, position, &why, now_ms() + wait.as_millis() as i64, &self.lease())
                        .await?;
                    return Ok(Next::Wait(wait.min(PASS)));
                }
            }
        }
        Ok(if events.len() as i64 == PAGE { Next::Again } else { Next::Wait(PASS) })
    }
}

enum Next {
    /// Read again at once.
    Again,
    /// Wait this long, or for an event or a change.
    Wait(Duration),
}

/// A worker's subscription to its topic on the hub: wake-ups only.
struct Watch {
    topic: Topic,
    conn: u64,
    rx: mpsc::Receiver<Arc<super::Notification>>,
    overflow: Arc<Overflow>,
}

impl Watch {
    fn new(hub: &Hub, topic: Topic) -> Self {
        let (queue, rx) = mpsc::channel(16);
        let overflow = Arc::new(Overflow::default());
        let conn = hub.next_conn_id();
        hub.subscribe(topic, Subscriber { conn, queue, overflow: overflow.clone() });
        Self { topic, conn, rx, overflow }
    }

    /// Forgets the wake-ups so far: the log is about to be read.
    fn drain(&mut self) {
        while self.rx.try_recv().is_ok() {}
    }

    /// Resolves at the next event of the topic, or when the hub dropped this watch (a worker
    /// busy with a slow endpoint overflows its small queue): the worker then watches anew.
    async fn next(&mut self) {
        tokio::select! {
            _ = self.rx.recv() => {}
            () = self.overflow.flagged() => {}
        }
    }

    fn leave(self, hub: &Hub) {
        hub.unsubscribe(self.topic, self.conn);
    }
}
