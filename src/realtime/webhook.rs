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
//! - **The address is checked, then connected to**: each attempt resolves the URL's host
//!   once, drops the addresses the allow-list does not let a webhook reach (the hub's
//!   machine and networks, `WebhookAllow::check_address`), and sends through a client pinned
//!   to the rest, which never resolves a name itself.

use std::{
    collections::HashMap,
    net::{IpAddr, SocketAddr, UdpSocket},
    sync::Arc,
    time::Duration,
};

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
    /// The hub's own addresses ([`own_addresses`]), which webhooks do not call unless
    /// `--webhook-allow` names them.
    pub own_addresses: Vec<IpAddr>,
}

/// The hub's own addresses: those of its listeners, and for a listener on `0.0.0.0` or `::`
/// (which answers on every address of the machine) also the address the machine sends from
/// by default, found by routing a UDP socket to a documentation address (nothing is sent).
/// The machine's other addresses are not listed; those on loopback, private and link-local
/// networks are refused anyway.
pub fn own_addresses(listeners: &[SocketAddr]) -> Vec<IpAddr> {
    let mut own: Vec<IpAddr> = listeners.iter().map(|a| a.ip()).collect();
    if listeners.iter().any(|a| a.ip().is_unspecified()) {
        for (local, far) in [("0.0.0.0:0", "192.0.2.1:9"), ("[::]:0", "[2001:db8::1]:9")] {
            let routed = UdpSocket::bind(local).and_then(|s| s.connect(far).and_then(|()| s.local_addr()));
            // No route (no IPv6, say): no default address of that family to add.
            if let Ok(addr) = routed {
                own.push(addr.ip());
            }
        }
    }
    own.sort();
    own.dedup();
    own
}

/// Sends one event to one endpoint.
#[derive(Clone)]
pub struct Sender {
    timeout: Duration,
    own: Arc<[IpAddr]>,
}

/// A client pinned to the addresses one attempt checked, kept by a worker for its next
/// attempts (and their kept-alive connection) while the host resolves to the same ones.
struct Pinned {
    host: String,
    addrs: Vec<SocketAddr>,
    client: reqwest::Client,
}

impl Sender {
    pub fn new(settings: &Settings) -> anyhow::Result<Self> {
        let sender = Self { timeout: settings.timeout, own: settings.own_addresses.clone().into() };
        // A client that cannot be built (TLS set-up) stops the start, not every delivery.
        sender.client("", &[])?;
        Ok(sender)
    }

    /// How long connecting, and resolving the host before it, may take.
    fn connect_timeout(&self) -> Duration {
        self.timeout.min(Duration::from_secs(5))
    }

    /// A client that connects `host` to `addrs` and resolves no name: any other name gets
    /// [`NoLookups`].
    fn client(&self, host: &str, addrs: &[SocketAddr]) -> reqwest::Result<reqwest::Client> {
        reqwest::Client::builder()
            .use_rustls_tls()
            // A redirect could lead anywhere, past the allow-list: a 3xx is a failure.
            .redirect(reqwest::redirect::Policy::none())
            // A proxy would resolve the host again, past the addresses checked here.
            .no_proxy()
            .dns_resolver(Arc::new(NoLookups))
            .resolve_to_addrs(host, addrs)
            .timeout(self.timeout)
            .connect_timeout(self.connect_timeout())
            .user_agent(concat!("qa-hub-webhooks/", env!("CARGO_PKG_VERSION")))
            .build()
    }

    /// The addresses this attempt may connect to: the URL's host resolved once (an address
    /// is itself), less those the allow-list does not let a webhook reach. `Err` says why
    /// none is left.
    async fn addresses(&self, url: &WebhookUrl, allow: &WebhookAllow) -> Result<Vec<SocketAddr>, String> {
        let (host, port) = url.endpoint();
        let found: Vec<SocketAddr> = match host {
            url::Host::Ipv4(ip) => vec![SocketAddr::from((ip, port))],
            url::Host::Ipv6(ip) => vec![SocketAddr::from((ip, port))],
            url::Host::Domain(name) => {
                match tokio::time::timeout(self.connect_timeout(), tokio::net::lookup_host((name, port)))
                    .await
                {
                    Ok(Ok(found)) => found.collect(),
                    Ok(Err(e)) => return Err(format!("resolving {name}: {e}")),
                    Err(_) => return Err(format!("resolving {name} timed out")),
                }
            }
        };
        let (mut reachable, mut refused) = (Vec::new(), Vec::new());
        for addr in found {
            match allow.check_address(addr, &self.own) {
                Ok(()) => reachable.push(addr),
                Err(why) => refused.push(why),
            }
        }
        if reachable.is_empty() {
            return Err(match refused.is_empty() {
                true => format!("{host} resolves to no address"),
                false => format!(
                    "{host} resolves only to addresses webhooks may not reach: {}",
                    refused.join("; ")
                ),
            });
        }
        Ok(reachable)
    }

    /// POSTs `body` (the event's JSON, as sent on the WebSocket); `Err` says why it did not
    /// count as delivered. `pinned` is the worker's client from its last attempt.
    async fn send(
        &self,
        target: &WebhookTarget,
        seq: i64,
        body: ByteString,
        allow: &WebhookAllow,
        pinned: &mut Option<Pinned>,
    ) -> Result<(), String> {
        let hook = &target.hook;
        let url = WebhookUrl::parse(&hook.url, allow).map_err(|e| e.to_string())?;
        let addrs = self.addresses(&url, allow).await?;
        let host = url.endpoint().0.to_string();
        let client = match pinned {
            Some(p) if p.host == host && p.addrs == addrs => p.client.clone(),
            _ => {
                let client = self.client(&host, &addrs).map_err(|e| describe(&e))?;
                *pinned = Some(Pinned { host, addrs, client: client.clone() });
                client
            }
        };
        let timestamp = chrono::Utc::now().timestamp();
        let signed = signature(&target.secret, timestamp, body.as_bytes());
        let res = client
            .post(url.as_str())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
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

/// The webhook clients' resolver: none. Each attempt resolves and checks its host itself and
/// pins the client to those addresses; a name that got here would be a lookup nobody checked.
struct NoLookups;

impl reqwest::dns::Resolve for NoLookups {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let name = name.as_str().to_owned();
        Box::pin(async move { Err(format!("{name} was not resolved and checked first").into()) })
    }
}

/// A failed request in words for the webhook's status (reqwest's own text nests its causes).
fn describe(e: &reqwest::Error) -> String {
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
        let mut pinned: Option<Pinned> = None;
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
                    match self.pass(target, &mut pinned).await {
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
    async fn pass(&self, target: WebhookTarget, pinned: &mut Option<Pinned>) -> Result<Next, DomainError> {
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
            match self.sender.send(&target, event.seq, wire::event(event), self.state.allow(), pinned).await {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_addresses_are_the_listeners_and_for_a_wildcard_the_default_source() {
        let own = own_addresses(&["127.0.0.1:8080".parse().unwrap(), "127.0.0.1:9090".parse().unwrap()]);
        assert_eq!(own, ["127.0.0.1".parse::<IpAddr>().unwrap()]);
        let own = own_addresses(&["0.0.0.0:8080".parse().unwrap()]);
        assert!(own.contains(&"0.0.0.0".parse().unwrap()), "{own:?}");
    }
}
