//! The NATS broker (`--broker nats://HOST:PORT`): nodes sharing one Postgres database share
//! events through a NATS server, and each node hears only the topics it watches. The only
//! module that knows NATS exists.
//!
//! After commit, [`NatsBroker::publish`] hands the events to this node's hub at once, then
//! queues them for the *publisher* task, which publishes each on its topic's subject
//! (`qa-hub.events.question.<uuid>`, `qa-hub.events.questions`, `qa-hub.events.user.<uuid>`)
//! with the event's wire frame — the WebSocket's JSON — as the payload. The *router* task
//! subscribes to a topic's subject when the topic gets its first subscriber on this node and
//! drops the subscription when the last one leaves (the hub reports both to
//! [`Broker::interest`]); a received frame goes straight to the hub, which needs only its
//! `topic` and `seq`. The connection is made with `no_echo`: a node does not hear its own
//! publishes.
//!
//! Core NATS is fire-and-forget, so the event log fills in whatever it loses:
//!
//! * **A lost connection.** async-nats reconnects and resubscribes by itself, but what was
//!   published meanwhile is gone. The *keeper* task watches the connection's events: from the
//!   loss until the node has reconnected, made sure its subscriptions are in force again
//!   (a flush), and caught up from the log for every watched topic (the [`Link`] it shares
//!   with the Postgres broker), `/readyz` answers 503.
//! * **A topic's first subscriber.** Between the hub registering it and the subscription being
//!   in force, an event may pass this node by; once it is in force, the router catches the
//!   new topics up.
//! * **An event committed but never published** (its node crashed between commit and
//!   publish, or its publisher's queue was full): it is in the log, nowhere else. Each session
//!   fills a gap from the log as soon as the topic's next event arrives (`Session::deliver`);
//!   for a topic that stays quiet, the keeper *sweeps* every `--nats-sweep-secs` (5 s): for each topic
//!   watched here it compares the log's head with what the hub has delivered and publishes
//!   what is missing (one query for all question topics). Such an event arrives late, at most
//!   a sweep later, but it arrives.

use std::{collections::HashMap, sync::Arc, time::Duration};

use async_nats::{Client, ConnectOptions, Event as NatsEvent, Subject, Subscriber};
use bytestring::ByteString;
use futures_util::StreamExt;
use serde::Deserialize;
use tokio::{
    sync::{mpsc, oneshot},
    task::AbortHandle,
};
use tokio_util::sync::CancellationToken;

use super::{
    Broker, Deps,
    link::{self, Backoff, Link, Words},
};
use crate::{
    domain::{Event, Topic},
    metrics::Metrics,
    realtime::{self, Hub, Interest},
    store::Store,
    wire,
};

/// Every subject this broker uses starts with this.
const SUBJECT_PREFIX: &str = "qa-hub.events";
/// Events waiting for the publisher; past this (NATS unreachable for long) they are counted
/// and left to the log.
const OUTBOX: usize = 10_000;
/// Longest a flush (a round trip to the server) may take before the node gives up on it.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a connection attempt may take, at start-up and on every reconnect.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// The client pings a quiet server this often and counts the connection as lost after two
/// unanswered pings: a partition is noticed within about half a minute.
const PING_INTERVAL: Duration = Duration::from_secs(10);

/// How `/readyz` and the logs name what this broker may lose.
static WORDS: Words = Words {
    connection: "its NATS connection",
    lost: "lost",
    caught_up: "NATS connected and caught up",
    catch_up_failed: "catch-up after connecting to NATS failed",
};

/// A topic's NATS subject: `qa-hub.events.` and the topic with `:` as `.`
/// (`question:<uuid>` → `qa-hub.events.question.<uuid>`), one token per part. A tag's name may
/// hold `.` (a token separator in NATS), `+` and `#`: each of those is written `_` and its hex
/// code (`tag:asp.net-core` → `qa-hub.events.tag.asp_2Enet-core`, `tag:c#` →
/// `qa-hub.events.tag.c_23`), which no name holds, so the subject keeps to letters, digits,
/// `-` and `_`, has no wildcards, and two tags never share one.
fn subject(topic: Topic) -> Subject {
    let name = topic.to_string();
    let (kind, rest) = name.split_once(':').unwrap_or((name.as_str(), ""));
    let mut subject = format!("{SUBJECT_PREFIX}.{kind}");
    if !rest.is_empty() {
        subject.push('.');
        for c in rest.chars() {
            match c {
                'a'..='z' | 'A'..='Z' | '0'..='9' | '-' => subject.push(c),
                other => subject.push_str(&format!("_{:02X}", u32::from(other))),
            }
        }
    }
    Subject::from(subject)
}

/// The NATS broker of one node.
pub struct NatsBroker {
    hub: Arc<Hub>,
    outbox: mpsc::Sender<Event>,
    /// Where [`Broker::interest`] sends the hub's changes: to the router.
    interest: mpsc::UnboundedSender<Interest>,
    link: Arc<Link>,
    metrics: Arc<Metrics>,
}

impl NatsBroker {
    /// Connects to the NATS server at `url`, starts the publisher, the router and the keeper
    /// (which sweeps every `sweep`, if set). Returns once the node is ready; a server that
    /// cannot be reached is a start-up error (later losses are reconnected).
    pub async fn start(deps: Deps, url: &str, sweep: Option<Duration>) -> anyhow::Result<Arc<Self>> {
        let Deps { node_id, store, hub, metrics, shutdown } = deps;
        let link = Link::new(node_id.clone(), &WORDS);
        let (heard, events) = mpsc::unbounded_channel();
        let on_event = {
            let link = link.clone();
            move |event: NatsEvent| {
                // Recorded here, in the order the client reports them, so `/readyz` turns
                // 503 as soon as the loss is known; the keeper does the slow part.
                match &event {
                    NatsEvent::Disconnected => link.lost(),
                    NatsEvent::Connected => drop(link.connected()),
                    _ => {}
                }
                let _ = heard.send(event);
                async {}
            }
        };
        let client = ConnectOptions::new()
            .name(format!("qa-hub:{node_id}"))
            .no_echo()
            .connection_timeout(CONNECT_TIMEOUT)
            .ping_interval(PING_INTERVAL)
            .reconnect_delay_callback(Backoff::nth)
            .event_callback(on_event)
            .connect(url)
            .await
            .map_err(|e| {
                anyhow::anyhow!(
                    "cannot connect to the NATS server of --broker (QA_HUB_BROKER): {e}; is it running, \
                     and is the URL right?"
                )
            })?;
        tracing::info!(node = %node_id, "connected to NATS");

        let (outbox, queued) = mpsc::channel(OUTBOX);
        let publisher = Publisher { client: client.clone(), metrics: metrics.clone() };
        tokio::spawn(publisher.run(queued, shutdown.clone()));

        let (interest, changes) = mpsc::unbounded_channel();
        let router = Router {
            client: client.clone(),
            store: store.clone(),
            hub: hub.clone(),
            metrics: metrics.clone(),
            subscriptions: HashMap::new(),
        };
        tokio::spawn(router.run(changes, shutdown.clone()));

        let (first_ready, is_ready) = oneshot::channel();
        let keeper = Keeper { client, store, hub: hub.clone(), link: link.clone() };
        tokio::spawn(keeper.run(events, sweep, first_ready, shutdown));
        // The first connection's catch-up has nothing to do (nobody can have subscribed yet),
        // but it is what marks the node ready.
        tokio::time::timeout(FLUSH_TIMEOUT, is_ready)
            .await
            .map_err(|_| anyhow::anyhow!("the NATS server of --broker (QA_HUB_BROKER) does not answer"))?
            .map_err(|_| anyhow::anyhow!("the NATS broker stopped while starting"))?;
        Ok(Arc::new(Self { hub, outbox, interest, link, metrics }))
    }
}

impl Broker for NatsBroker {
    /// This node's subscribers get the events now; the other nodes' once the publisher has
    /// put them on NATS. Never waits: if the publisher is that far behind, the events are
    /// left to the other nodes' sweeps and gap fills.
    fn publish(&self, events: &[Event]) {
        realtime::publish(&self.hub, events);
        for event in events {
            if self.outbox.try_send(event.clone()).is_err() {
                self.metrics.broker_unpublished.inc();
                tracing::warn!(topic = %event.topic, seq = event.seq, "NATS publisher queue full; left to the event log");
            }
        }
    }

    fn problem(&self) -> Option<String> {
        self.link.problem()
    }

    fn name(&self) -> &'static str {
        "nats"
    }

    /// Hands the change to the router, which subscribes or unsubscribes; never waits.
    fn interest(&self, change: Interest) {
        // A closed channel means the router stopped with the server: nobody to tell.
        let _ = self.interest.send(change);
    }
}

/// Puts committed events on NATS, in commit order.
struct Publisher {
    client: Client,
    metrics: Arc<Metrics>,
}

impl Publisher {
    async fn run(self, mut queued: mpsc::Receiver<Event>, shutdown: CancellationToken) {
        loop {
            let event = tokio::select! {
                () = shutdown.cancelled() => return,
                event = queued.recv() => event,
            };
            let Some(event) = event else { return };
            let frame = wire::event(&event).into_bytes();
            // While the connection is down this waits for room in the client's own buffer,
            // which it sends after the reconnect.
            if let Err(e) = self.client.publish(subject(event.topic), frame).await {
                self.metrics.broker_unpublished.inc();
                tracing::warn!(topic = %event.topic, seq = event.seq, error = %e, "could not publish on NATS; left to the event log");
            }
        }
    }
}

/// The fields of a received frame that the hub needs.
#[derive(Debug, Deserialize)]
struct FrameHead {
    topic: Topic,
    seq: i64,
}

/// Owns this node's NATS subscriptions: one per watched topic.
struct Router {
    client: Client,
    store: Store,
    hub: Arc<Hub>,
    metrics: Arc<Metrics>,
    /// The task forwarding each subscribed topic's messages to the hub.
    subscriptions: HashMap<Topic, AbortHandle>,
}

impl Router {
    async fn run(mut self, mut changes: mpsc::UnboundedReceiver<Interest>, shutdown: CancellationToken) {
        let mut batch = Vec::new();
        loop {
            tokio::select! {
                () = shutdown.cancelled() => break,
                received = changes.recv_many(&mut batch, 1000) => if received == 0 { break },
            }
            let mut new = Vec::new();
            for change in batch.drain(..) {
                match change {
                    Interest::Watch(topic) => {
                        if !self.subscriptions.contains_key(&topic) && self.subscribe(topic).await {
                            new.push(topic);
                        }
                    }
                    Interest::Unwatch(topic) => {
                        // Dropping the subscriber (with its task) unsubscribes.
                        if let Some(forwarder) = self.subscriptions.remove(&topic) {
                            forwarder.abort();
                        }
                    }
                }
            }
            if !new.is_empty() {
                self.catch_up_new(&new).await;
            }
        }
        self.subscriptions.drain().for_each(|(_, forwarder)| forwarder.abort());
    }

    /// Subscribes to `topic`'s subject and starts forwarding; false if the client refused.
    async fn subscribe(&mut self, topic: Topic) -> bool {
        match self.client.subscribe(subject(topic)).await {
            Ok(subscriber) => {
                let forwarder =
                    tokio::spawn(forward(topic, subscriber, self.hub.clone(), self.metrics.clone()));
                self.subscriptions.insert(topic, forwarder.abort_handle());
                true
            }
            Err(e) => {
                // Only when the client is closed, that is when the server stops.
                tracing::warn!(%topic, error = %e, "could not subscribe on NATS");
                false
            }
        }
    }

    /// Once the new subscriptions are in force (a flush: the server has read them), publishes
    /// what the new topics' sessions may have missed before. If that fails, the next sweep
    /// does it.
    async fn catch_up_new(&self, new: &[Topic]) {
        match tokio::time::timeout(FLUSH_TIMEOUT, self.client.flush()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return tracing::warn!(error = %e, "NATS flush failed; the sweep will catch up"),
            Err(_) => return tracing::warn!("NATS flush timed out; the sweep will catch up"),
        }
        let watched: Vec<(Topic, i64)> =
            new.iter().filter_map(|&topic| Some((topic, self.hub.delivered(topic)?))).collect();
        if let Err(e) = link::catch_up(&self.store, &self.hub, &watched).await {
            tracing::warn!(error = %e, "catching up new topics failed; the sweep will");
        }
    }
}

/// Hands one topic's messages to the hub until the subscription ends or is aborted.
async fn forward(topic: Topic, mut subscriber: Subscriber, hub: Arc<Hub>, metrics: Arc<Metrics>) {
    while let Some(message) = subscriber.next().await {
        let head = match serde_json::from_slice::<FrameHead>(&message.payload) {
            Ok(head) if head.topic == topic => head,
            // Not ours (someone else publishing on our subjects): nothing to deliver.
            Ok(_) | Err(_) => {
                tracing::warn!(%topic, "ignoring a malformed NATS message");
                continue;
            }
        };
        let Ok(frame) = ByteString::try_from(message.payload) else { continue };
        metrics.broker_frames.inc();
        hub.publish(head.topic, head.seq, || frame);
    }
}

/// Watches the connection: catches up after every (re)connect, and sweeps.
struct Keeper {
    client: Client,
    store: Store,
    hub: Arc<Hub>,
    link: Arc<Link>,
}

impl Keeper {
    async fn run(
        self,
        mut events: mpsc::UnboundedReceiver<NatsEvent>,
        sweep_every: Option<Duration>,
        first_ready: oneshot::Sender<()>,
        shutdown: CancellationToken,
    ) {
        let mut first_ready = Some(first_ready);
        let mut sweep = sweep_every.map(|every| {
            let mut sweep = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
            sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            sweep
        });
        let mut next_sweep = async || match &mut sweep {
            Some(sweep) => drop(sweep.tick().await),
            None => std::future::pending().await,
        };
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                event = events.recv() => match event {
                    None => return,
                    Some(NatsEvent::Connected) => {
                        if self.reconnected(&shutdown).await
                            && let Some(ready) = first_ready.take()
                        {
                            let _ = ready.send(());
                        }
                    }
                    Some(NatsEvent::Disconnected) => {
                        tracing::warn!(node = %self.link.node_id(), "NATS connection lost; reconnecting");
                        self.link.set_error("the connection to the NATS server closed");
                    }
                    Some(NatsEvent::ClientError(e)) => {
                        tracing::warn!(node = %self.link.node_id(), error = %e, "NATS client error");
                        self.link.set_error(e);
                    }
                    Some(NatsEvent::ServerError(e)) => {
                        tracing::warn!(node = %self.link.node_id(), error = %e, "NATS server error");
                        self.link.set_error(e);
                    }
                    Some(NatsEvent::SlowConsumer(sid)) => {
                        // Messages were dropped; the sessions' gap fill and the sweep cover them.
                        tracing::warn!(node = %self.link.node_id(), sid, "NATS subscription fell behind");
                    }
                    Some(other) => tracing::info!(node = %self.link.node_id(), event = %other, "NATS"),
                },
                () = next_sweep() => {
                    if self.link.ready() {
                        self.sweep().await;
                    }
                }
            }
        }
    }

    /// After a connect: once the client has resubscribed (a flush: the server has read our
    /// subscriptions), catches up from the log, then marks the node ready. Returns false if
    /// the connection was lost again or the server stopped first.
    async fn reconnected(&self, shutdown: &CancellationToken) -> bool {
        // The connection this catch-up is for; a later one needs its own.
        let connect = self.link.newest();
        match tokio::time::timeout(FLUSH_TIMEOUT, self.client.flush()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "NATS flush after connecting failed");
                return false;
            }
            // Still connected but silent: the pings will notice.
            Err(_) => {
                tracing::warn!("NATS flush after connecting timed out");
                return false;
            }
        }
        self.link.catch_up_until_done(&self.store, &self.hub, connect, shutdown).await
    }

    /// Publishes what the log holds beyond what the hub delivered, for every watched topic:
    /// events committed on a node that could not publish them.
    async fn sweep(&self) {
        match link::catch_up(&self.store, &self.hub, &self.hub.watched()).await {
            Ok(0) => {}
            Ok(published) => {
                tracing::info!(node = %self.link.node_id(), published, "the sweep found unpublished events")
            }
            Err(e) => tracing::warn!(error = %e, "sweep failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_have_one_token_per_part_of_the_topic() {
        let id = uuid::Uuid::now_v7();
        assert_eq!(subject(Topic::Question(id)).as_str(), format!("qa-hub.events.question.{id}"));
        assert_eq!(subject(Topic::Questions).as_str(), "qa-hub.events.questions");
        assert_eq!(subject(Topic::User(id)).as_str(), format!("qa-hub.events.user.{id}"));
        let tag = |name: &str| subject(Topic::Tag(name.parse().unwrap()));
        assert_eq!(tag("rust").as_str(), "qa-hub.events.tag.rust");
        assert_eq!(tag("asp.net-core").as_str(), "qa-hub.events.tag.asp_2Enet-core");
        assert_eq!(tag("c#").as_str(), "qa-hub.events.tag.c_23");
        assert_eq!(tag("c++").as_str(), "qa-hub.events.tag.c_2B_2B");
        assert_ne!(tag("c++").as_str(), tag("c#").as_str());
    }
}
