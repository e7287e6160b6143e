//! In-process pub/sub: who is subscribed to which topic, and the fan-out of each event to
//! them. The hub knows topics, seqs and encoded frames only — not the store, not what an
//! event means, not the wire format (the caller hands it a closure that encodes the frame,
//! called once and only if somebody here watches the topic).
//!
//! The hub never awaits a subscriber. Every notification is encoded once into a shared
//! [`Notification`] and offered to each subscriber's bounded queue with `try_send`; a
//! subscriber whose queue is full is dropped from the topic and signalled to close (1013), so
//! one slow or dead client never delays the others. The subscriber's connection task is the
//! only place that writes to its socket.
//!
//! Publishers may call in out of seq order (two posts to one question commit in order but
//! race to publish). Each topic therefore holds back a notification that arrives early for a
//! moment, until the ones before it arrive. Exactly-once delivery does not rest on this: each
//! session also tracks the last seq it sent per topic and fills any gap from the event log,
//! so the buffer only saves every subscriber from doing that work itself.
//!
//! A broker that routes by interest (NATS) needs to know which topics this node watches: the
//! hub reports a topic's first subscriber and its last one leaving as [`Interest`] changes to
//! the listener `app` gives it ([`Hub::on_interest`]: the broker), called under the topic's
//! shard lock so that they come in the order of the changes; the listener must not block.

use std::{
    collections::{BTreeMap, HashMap, hash_map::Entry},
    hash::{BuildHasher, RandomState},
    sync::{
        Arc, Mutex, OnceLock,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Duration,
};

use bytes::Bytes;
use bytestring::ByteString;
use tokio::sync::{Notify, mpsc};

use crate::domain::Topic;

/// How long a topic holds a notification that arrived ahead of a missing earlier seq.
const REORDER_WINDOW: Duration = Duration::from_millis(200);
const SHARDS: usize = 64;

/// One event, encoded once, shared by every subscriber's queue.
#[derive(Debug)]
pub struct Notification {
    pub topic: Topic,
    pub seq: i64,
    /// The event's complete JSON text (`{"type":"answer","topic":…,"seq":…,…}`).
    pub frame: ByteString,
    /// When the event was handed to the hub, just after its commit (for the delivery latency
    /// metric).
    pub committed: std::time::Instant,
    /// The frame as a transport puts it on the wire (a WebSocket text frame, header and all),
    /// made by the first subscriber's transport and shared by the rest: the bytes every
    /// subscriber writes are encoded once per event, not once per subscriber.
    framed: OnceLock<Bytes>,
}

impl Notification {
    pub fn new(topic: Topic, seq: i64, frame: ByteString) -> Self {
        Self { topic, seq, frame, committed: std::time::Instant::now(), framed: OnceLock::new() }
    }

    /// The transport's encoding of [`Self::frame`], made by `frame_it` on first use.
    pub fn framed(&self, frame_it: impl FnOnce(&str) -> Bytes) -> Bytes {
        self.framed.get_or_init(|| frame_it(&self.frame)).clone()
    }
}

pub type ConnId = u64;

/// Shared between a connection and the topics it subscribes to: how the hub tells the
/// connection that it fell behind.
#[derive(Debug, Default)]
pub struct Overflow {
    flagged: AtomicBool,
    notify: Notify,
}

impl Overflow {
    fn flag(&self) {
        if !self.flagged.swap(true, Ordering::AcqRel) {
            // Every waiter: a connection may watch the flag from more than one place.
            self.notify.notify_waiters();
        }
    }

    pub fn is_flagged(&self) -> bool {
        self.flagged.load(Ordering::Acquire)
    }

    /// Resolves once the connection's queue has overflowed.
    pub async fn flagged(&self) {
        let notified = self.notify.notified();
        tokio::pin!(notified);
        // Registered before the check, so a flag set in between is not missed.
        notified.as_mut().enable();
        if !self.is_flagged() {
            notified.await;
        }
    }
}

/// A change in whether this node watches a topic (see [`Hub::on_interest`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interest {
    /// The topic's first subscriber on this node arrived.
    Watch(Topic),
    /// The topic's last subscriber on this node left.
    Unwatch(Topic),
}

/// A connection's entry in a topic.
#[derive(Debug, Clone)]
pub struct Subscriber {
    pub conn: ConnId,
    pub queue: mpsc::Sender<Arc<Notification>>,
    pub overflow: Arc<Overflow>,
}

#[derive(Debug, Default)]
struct TopicState {
    subscribers: HashMap<ConnId, Subscriber>,
    /// Highest seq handed to subscribers; 0 before the first.
    delivered: i64,
    /// Notifications that arrived ahead of a gap, by seq.
    early: BTreeMap<i64, Arc<Notification>>,
    /// A flush of `early` is scheduled.
    flush_scheduled: bool,
}

impl TopicState {
    /// Offers `n` in seq order: a duplicate is dropped, an early one waits for its
    /// predecessors, an in-order one goes out together with whatever it unblocks. Returns
    /// true when early notifications remain and a flush should be scheduled.
    fn offer(&mut self, n: Arc<Notification>, stats: &HubStats) -> bool {
        if n.seq <= self.delivered {
            return false;
        }
        // Nothing delivered yet means no baseline to wait against: go out at once, the
        // connections fill any gap below it.
        if self.delivered != 0 && n.seq > self.delivered + 1 {
            self.early.insert(n.seq, n);
            return !std::mem::replace(&mut self.flush_scheduled, true);
        }
        self.deliver(n, stats);
        while let Some(next) = self.early.remove(&(self.delivered + 1)) {
            self.deliver(next, stats);
        }
        false
    }

    /// Gives up waiting: delivers everything held back, in order.
    fn flush(&mut self, stats: &HubStats) {
        self.flush_scheduled = false;
        for (_, n) in std::mem::take(&mut self.early) {
            self.deliver(n, stats);
        }
    }

    fn deliver(&mut self, n: Arc<Notification>, stats: &HubStats) {
        self.delivered = n.seq;
        // Counted locally and added once: the shared counter is one cache line for all threads.
        let mut sent = 0;
        self.subscribers.retain(|_, sub| match sub.queue.try_send(n.clone()) {
            Ok(()) => {
                sent += 1;
                true
            }
            Err(mpsc::error::TrySendError::Full(_)) => {
                stats.overflows.fetch_add(1, Ordering::Relaxed);
                sub.overflow.flag();
                false
            }
            // The connection is gone and will unsubscribe itself; stop offering.
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        });
        stats.sent.fetch_add(sent, Ordering::Relaxed);
    }
}

/// Counters the hub keeps for metrics and tests.
#[derive(Debug, Default)]
pub struct HubStats {
    /// Notifications put on a subscriber's queue.
    pub sent: AtomicU64,
    /// Subscribers dropped because their queue was full.
    pub overflows: AtomicU64,
}

/// What [`Hub::on_interest`] is given.
type InterestListener = Box<dyn Fn(Interest) + Send + Sync>;

/// The subscription registry; share it as `Arc<Hub>`.
pub struct Hub {
    shards: Box<[Mutex<HashMap<Topic, TopicState>>]>,
    hasher: RandomState,
    next_conn: AtomicU64,
    /// Who hears of [`Interest`] changes, once set.
    interest: OnceLock<InterestListener>,
    pub stats: HubStats,
}

impl std::fmt::Debug for Hub {
    /// By hand: the interest listener is a closure.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub")
            .field("next_conn", &self.next_conn)
            .field("reports_interest", &self.interest.get().is_some())
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl Default for Hub {
    fn default() -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            hasher: RandomState::new(),
            next_conn: AtomicU64::new(1),
            interest: OnceLock::new(),
            stats: HubStats::default(),
        }
    }
}

impl Hub {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    pub fn next_conn_id(&self) -> ConnId {
        self.next_conn.fetch_add(1, Ordering::Relaxed)
    }

    fn shard(&self, topic: &Topic) -> std::sync::MutexGuard<'_, HashMap<Topic, TopicState>> {
        let shard = &self.shards[self.hasher.hash_one(topic) as usize % SHARDS];
        // A panic while holding a shard cannot leave a topic half-updated in a way that
        // matters more than losing the whole hub would, so keep serving.
        shard.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Calls `listener` with every later [`Interest`] change, under the topic's lock (so it
    /// must not block). For the broker, at start-up, before anyone subscribes (topics watched
    /// already are not reported); returns false, changing nothing, if a listener was set
    /// before.
    pub fn on_interest(&self, listener: impl Fn(Interest) + Send + Sync + 'static) -> bool {
        self.interest.set(Box::new(listener)).is_ok()
    }

    /// Called under the topic's shard lock, on a topic's first subscriber and its last.
    fn interest_changed(&self, change: Interest) {
        if let Some(listener) = self.interest.get() {
            listener(change);
        }
    }

    pub fn subscribe(&self, topic: Topic, subscriber: Subscriber) {
        let mut shard = self.shard(&topic);
        let state = match shard.entry(topic) {
            Entry::Occupied(state) => state.into_mut(),
            Entry::Vacant(vacant) => {
                self.interest_changed(Interest::Watch(topic));
                vacant.insert(TopicState::default())
            }
        };
        state.subscribers.insert(subscriber.conn, subscriber);
    }

    pub fn unsubscribe(&self, topic: Topic, conn: ConnId) {
        let mut shard = self.shard(&topic);
        if let Entry::Occupied(mut state) = shard.entry(topic) {
            state.get_mut().subscribers.remove(&conn);
            if state.get().subscribers.is_empty() {
                state.remove();
                self.interest_changed(Interest::Unwatch(topic));
            }
        }
    }

    /// Number of subscribers of one topic.
    pub fn subscriber_count(&self, topic: Topic) -> usize {
        self.shard(&topic).get(&topic).map_or(0, |t| t.subscribers.len())
    }

    /// The highest seq handed out for a topic watched on this node (0 before the first);
    /// `None` when nobody here watches it. Lets a node that missed events catch up.
    pub fn delivered(&self, topic: Topic) -> Option<i64> {
        self.shard(&topic).get(&topic).map(|t| t.delivered)
    }

    /// Topics that have at least one subscriber on this node, with their delivered seq.
    pub fn watched(&self) -> Vec<(Topic, i64)> {
        self.shards
            .iter()
            .flat_map(|s| {
                let shard = s.lock().unwrap_or_else(|p| p.into_inner());
                shard.iter().map(|(topic, state)| (*topic, state.delivered)).collect::<Vec<_>>()
            })
            .collect()
    }

    /// Fans a committed event out to the topic's subscribers; `encode` makes its frame, once,
    /// and only if somebody here watches the topic and has not had it yet. Never blocks on
    /// subscribers.
    pub fn publish(self: &Arc<Self>, topic: Topic, seq: i64, encode: impl FnOnce() -> ByteString) {
        let mut shard = self.shard(&topic);
        let Some(state) = shard.get_mut(&topic) else {
            return; // nobody watches: skip even the encoding
        };
        if seq <= state.delivered {
            return;
        }
        if state.offer(Arc::new(Notification::new(topic, seq, encode())), &self.stats) {
            drop(shard);
            let hub = Arc::clone(self);
            tokio::spawn(async move {
                tokio::time::sleep(REORDER_WINDOW).await;
                if let Some(state) = hub.shard(&topic).get_mut(&topic) {
                    state.flush(&hub.stats);
                }
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use uuid::Uuid;

    fn topic() -> Topic {
        Topic::Question(Uuid::now_v7())
    }

    fn publish(hub: &Arc<Hub>, topic: Topic, seq: i64) {
        hub.publish(topic, seq, || format!("{{\"seq\":{seq}}}").into());
    }

    fn subscriber(hub: &Hub, capacity: usize) -> (Subscriber, mpsc::Receiver<Arc<Notification>>) {
        let (queue, rx) = mpsc::channel(capacity);
        let sub = Subscriber { conn: hub.next_conn_id(), queue, overflow: Arc::default() };
        (sub, rx)
    }

    fn drain(rx: &mut mpsc::Receiver<Arc<Notification>>) -> Vec<i64> {
        std::iter::from_fn(|| rx.try_recv().ok()).map(|n| n.seq).collect()
    }

    #[tokio::test]
    async fn early_notifications_wait_for_their_predecessors() {
        let hub = Hub::new();
        let q = topic();
        let (sub, mut rx) = subscriber(&hub, 16);
        hub.subscribe(q, sub);
        publish(&hub, q, 1);
        publish(&hub, q, 3);
        publish(&hub, q, 2);
        publish(&hub, q, 2);
        assert_eq!(drain(&mut rx), vec![1, 2, 3]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_gap_that_never_fills_is_flushed_after_the_window() {
        let hub = Hub::new();
        let q = topic();
        let (sub, mut rx) = subscriber(&hub, 16);
        hub.subscribe(q, sub);
        publish(&hub, q, 1);
        publish(&hub, q, 4);
        publish(&hub, q, 3);
        assert_eq!(drain(&mut rx), vec![1]);
        let n = tokio::time::timeout(Duration::from_secs(1), rx.recv()).await.unwrap().unwrap();
        assert_eq!(n.seq, 3);
        assert_eq!(drain(&mut rx), vec![4]);
    }

    #[tokio::test]
    async fn a_full_queue_drops_only_that_subscriber_and_flags_it() {
        let hub = Hub::new();
        let q = topic();
        let (slow, _slow_rx) = subscriber(&hub, 1);
        let slow_overflow = slow.overflow.clone();
        let (fast, mut fast_rx) = subscriber(&hub, 16);
        hub.subscribe(q, slow);
        hub.subscribe(q, fast);
        for seq in 1..=3 {
            publish(&hub, q, seq);
        }
        assert!(slow_overflow.is_flagged());
        assert_eq!(hub.subscriber_count(q), 1);
        assert_eq!(drain(&mut fast_rx), vec![1, 2, 3]);
    }

    #[tokio::test]
    async fn interest_is_reported_on_the_first_subscriber_and_the_last_leaving() {
        let hub = Hub::new();
        let (to, mut changes) = mpsc::unbounded_channel();
        assert!(hub.on_interest(move |change| to.send(change).unwrap()));
        let q = topic();
        let (a, _a_rx) = subscriber(&hub, 4);
        let (b, _b_rx) = subscriber(&hub, 4);
        let (a_conn, b_conn) = (a.conn, b.conn);
        hub.subscribe(q, a);
        hub.subscribe(q, b);
        hub.unsubscribe(q, a_conn);
        assert_eq!(std::iter::from_fn(|| changes.try_recv().ok()).collect::<Vec<_>>(), [Interest::Watch(q)]);
        hub.unsubscribe(q, b_conn);
        hub.unsubscribe(q, b_conn);
        assert_eq!(changes.try_recv().ok(), Some(Interest::Unwatch(q)));
        assert!(changes.try_recv().is_err(), "one change per transition");
        assert!(!hub.on_interest(|_| {}), "set once");
    }

    #[tokio::test]
    async fn every_subscriber_shares_one_encoding() {
        let hub = Hub::new();
        let q = topic();
        let (a, mut a_rx) = subscriber(&hub, 4);
        let (b, mut b_rx) = subscriber(&hub, 4);
        hub.subscribe(q, a);
        hub.subscribe(q, b);
        publish(&hub, q, 1);
        let (na, nb) = (a_rx.try_recv().unwrap(), b_rx.try_recv().unwrap());
        assert!(Arc::ptr_eq(&na, &nb));
    }
}
