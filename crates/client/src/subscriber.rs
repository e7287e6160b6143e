//! A subscriber that survives disconnects: it reconnects with exponential backoff and jitter,
//! resumes every topic from the last seq it handed out, and so yields each event exactly once
//! and in order per topic — over the WebSocket, or over Server-Sent Events where WebSockets do
//! not get through.

use std::{collections::VecDeque, time::Duration};

use tokio::time::{Instant, sleep_until, timeout};

use crate::{Connection, Error, ErrorCode, EventBody, EventFrame, ServerMessage, Topic, events::EventStream};

/// What [`Subscriber::next`] yields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A message from the server: `subscribed`, an event (`answer`, `score`, `accept`,
    /// `unaccept`, `edit`, `delete`, `comment`, `comment-delete`; on the topic `questions`,
    /// `question` and `question-delete`), `unsubscribed` or `error`. Events arrive exactly once and in seq order per topic, across reconnects. Events of kinds this
    /// crate does not know are never yielded (their seqs are counted).
    Message(ServerMessage),
    /// The connection state changed.
    Status(Status),
}

/// The connection state of a [`Subscriber`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// Connected, and a `subscribe` sent for every topic (each resuming after its last seq).
    Connected,
    /// Not connected (the connection dropped, or an attempt failed, for `reason`); the next
    /// attempt, number `attempt` since the last healthy connection, starts after `delay`.
    Reconnecting { attempt: u32, delay: Duration, reason: String },
}

/// How long to wait between connection attempts: `initial`, doubling on each consecutive
/// failure up to `max`, each wait shortened by a random part of up to `jitter` (0.5: the wait
/// is between half and all of the step), so that clients dropped together do not all return
/// together.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    pub initial: Duration,
    pub max: Duration,
    pub jitter: f64,
}

impl Default for Backoff {
    /// 0.2 s doubling to 10 s, jitter 0.5.
    fn default() -> Self {
        Self { initial: Duration::from_millis(200), max: Duration::from_secs(10), jitter: 0.5 }
    }
}

impl Backoff {
    /// The wait before attempt `attempt` (1 for the first after a drop).
    pub fn delay(&self, attempt: u32) -> Duration {
        let step = self.initial.saturating_mul(1u32 << attempt.saturating_sub(1).min(20)).min(self.max);
        step.mul_f64(1.0 - self.jitter.clamp(0.0, 1.0) * fastrand::f64())
    }
}

/// Watches topics over one WebSocket (or one event stream) at a time, reconnecting for as long
/// as it has topics.
///
/// It does its work inside [`Subscriber::next`]: call it in a loop (as long as you do, pings
/// are answered). Each topic remembers the last seq handed to you; after any drop (network
/// error, close 1001 going away, 1008, 1013 too slow, silence) the subscriber waits its
/// [`Backoff`], reconnects and subscribes again with `after_seq` = that seq, drops repeats
/// (seq ≤ last) and skips unknown event kinds while counting their seq. A gap (a seq beyond
/// the next) means something went wrong on the way: it reconnects and resumes rather than
/// yield out of order.
///
/// A topic the server refuses for good (`question_not_found`, `too_many_subscriptions`, …)
/// is reported as an `error` message and dropped; once no topic is left, `next` returns
/// `None`.
#[derive(Debug)]
pub struct Subscriber {
    url: String,
    /// Set for an `http(s)://…/sse` URL: the client that opens its event streams.
    sse: Option<reqwest::Client>,
    backoff: Backoff,
    connect_timeout: Duration,
    idle_timeout: Duration,
    topics: Vec<Watched>,
    conn: Option<Link>,
    /// Connection attempts since the last one that got a `subscribed` back.
    failures: u32,
    retry_at: Option<Instant>,
    pending: VecDeque<Event>,
}

/// What carries the server's messages.
#[derive(Debug)]
enum Link {
    // Boxed: the WebSocket's buffers are large, and a subscriber holds one link at a time.
    Socket(Box<Connection>),
    Stream(EventStream),
}

#[derive(Debug)]
struct Watched {
    topic: Topic,
    /// The last seq handed out (or the `after_seq` to start from); `None` until the server
    /// tells the current one, for a subscription that starts with live events only.
    last: Option<i64>,
}

impl Subscriber {
    /// A subscriber for the hub WebSocket at `url` (`ws://…/ws` or `wss://…/ws`; see
    /// [`Client::ws_url`](crate::Client::ws_url)), or for its Server-Sent Events fallback
    /// (`http://…/sse` or `https://…/sse`; see [`Client::sse_url`](crate::Client::sse_url)),
    /// with the same guarantees. It connects on the first [`Subscriber::next`].
    pub fn new(url: &str) -> Result<Self, Error> {
        let sse = match url.split_once("://").map(|(scheme, _)| scheme) {
            Some("ws" | "wss") => None,
            Some("http" | "https") => Some(reqwest::Client::builder().use_rustls_tls().build()?),
            _ => {
                return Err(Error::Url {
                    url: url.into(),
                    reason: "expected ws:// or wss:// (WebSocket), or http:// or https:// (an event stream)"
                        .into(),
                });
            }
        };
        Ok(Self {
            url: url.into(),
            sse,
            backoff: Backoff::default(),
            connect_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(75),
            topics: Vec::new(),
            conn: None,
            failures: 0,
            retry_at: None,
            pending: VecDeque::new(),
        })
    }

    /// Watches `topic`: with `after_seq = Some(N)`, every event after seq N (`Some(0)`: from
    /// the first), else only events from now on.
    pub fn with_topic(mut self, topic: Topic, after_seq: Option<i64>) -> Self {
        if !self.topics.iter().any(|w| w.topic == topic) {
            self.topics.push(Watched { topic, last: after_seq });
        }
        self
    }

    pub fn with_backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// How long a connection attempt may take (default 10 s), and how long a connection may
    /// stay silent before it is given up for dead (default 75 s: the server pings every 30).
    pub fn with_timeouts(mut self, connect: Duration, idle: Duration) -> Self {
        (self.connect_timeout, self.idle_timeout) = (connect, idle);
        self
    }

    /// The last seq handed out for `topic` (or its starting `after_seq`).
    pub fn last_seq(&self, topic: &Topic) -> Option<i64> {
        self.topics.iter().find(|w| w.topic == *topic).and_then(|w| w.last)
    }

    pub fn is_connected(&self) -> bool {
        self.conn.is_some()
    }

    /// Starts watching another topic, now if connected.
    pub async fn subscribe(&mut self, topic: Topic, after_seq: Option<i64>) {
        if self.topics.iter().any(|w| w.topic == topic) {
            return;
        }
        self.topics.push(Watched { topic, last: after_seq });
        match &mut self.conn {
            Some(Link::Socket(conn)) => {
                if let Err(e) = conn.subscribe(topic, after_seq).await {
                    let event = self.retry(e.to_string());
                    self.pending.push_back(event);
                }
            }
            // A stream's topics are fixed: open a new one at once, every topic resuming.
            Some(Link::Stream(_)) => self.conn = None,
            None => {}
        }
    }

    /// Stops watching `topic`; nothing more is yielded for it.
    pub async fn unsubscribe(&mut self, topic: Topic) {
        let before = self.topics.len();
        self.topics.retain(|w| w.topic != topic);
        if self.topics.len() == before {
            return;
        }
        match &mut self.conn {
            Some(Link::Socket(conn)) => {
                if let Err(e) = conn.unsubscribe(topic).await {
                    let event = self.retry(e.to_string());
                    self.pending.push_back(event);
                }
            }
            Some(Link::Stream(_)) => self.conn = None,
            None => {}
        }
    }

    /// The next event; `None` once no topic is left. Waiting in here is cancel-safe: an event
    /// is only taken from the connection when it is returned.
    pub async fn next(&mut self) -> Option<Event> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                return Some(event);
            }
            if self.topics.is_empty() {
                if let Some(Link::Socket(conn)) = self.conn.take() {
                    let _ = timeout(Duration::from_secs(1), conn.close()).await;
                }
                return None;
            }
            let Some(conn) = &mut self.conn else {
                if let Some(at) = self.retry_at {
                    sleep_until(at).await;
                }
                return Some(match timeout(self.connect_timeout, self.open()).await {
                    Ok(Ok(conn)) => {
                        self.conn = Some(conn);
                        self.retry_at = None;
                        Event::Status(Status::Connected)
                    }
                    Ok(Err(e)) => self.retry(e.to_string()),
                    Err(_) => self.retry("connecting timed out".into()),
                });
            };
            let received = match conn {
                Link::Socket(conn) => timeout(self.idle_timeout, conn.recv()).await.map(|r| r.map(Some)),
                Link::Stream(stream) => timeout(self.idle_timeout, stream.recv()).await,
            };
            match received {
                // A heartbeat: heard, nothing to show.
                Ok(Ok(None)) => {}
                Ok(Ok(Some(message))) => {
                    if let Some(event) = self.accept(message) {
                        return Some(event);
                    }
                }
                Ok(Err(e)) => return Some(self.retry(e.to_string())),
                Err(_) => return Some(self.retry(format!("nothing heard for {:?}", self.idle_timeout))),
            }
        }
    }

    /// Connects and subscribes to every topic, each after its last seq.
    async fn open(&self) -> Result<Link, Error> {
        if let Some(http) = &self.sse {
            let topics: Vec<(Topic, Option<i64>)> = self.topics.iter().map(|w| (w.topic, w.last)).collect();
            return Ok(Link::Stream(EventStream::open(http, &self.url, &topics).await?));
        }
        let mut conn = Connection::connect(&self.url).await?;
        for watched in &self.topics {
            conn.subscribe(watched.topic, watched.last).await?;
        }
        Ok(Link::Socket(Box::new(conn)))
    }

    /// Drops the connection and schedules the next attempt.
    fn retry(&mut self, reason: String) -> Event {
        self.conn = None;
        self.failures = self.failures.saturating_add(1);
        let delay = self.backoff.delay(self.failures);
        self.retry_at = Some(Instant::now() + delay);
        Event::Status(Status::Reconnecting { attempt: self.failures, delay, reason })
    }

    /// What a server message means for the topics: the event to yield, if any.
    fn accept(&mut self, message: ServerMessage) -> Option<Event> {
        match &message {
            ServerMessage::Subscribed { topic, seq, .. } => {
                let watched = self.topics.iter_mut().find(|w| w.topic == *topic)?;
                self.failures = 0;
                // Without a starting point, events after the current seq; and a starting point
                // beyond it counts as the current seq, as on the server.
                if watched.last.is_none_or(|last| last > *seq) {
                    watched.last = Some(*seq);
                }
            }
            ServerMessage::Event(_) | ServerMessage::UnknownEvent { .. } => {
                let (topic, seq) = message.event()?;
                let watched = self.topics.iter_mut().find(|w| w.topic == topic)?;
                match watched.last {
                    Some(last) if seq <= last => return None,
                    Some(last) if seq > last + 1 => {
                        let expected = last + 1;
                        return Some(self.retry(format!("{topic}: expected seq {expected}, got {seq}")));
                    }
                    _ => watched.last = Some(seq),
                }
                // Counted, but there is nothing to show.
                if matches!(
                    message,
                    ServerMessage::UnknownEvent { .. }
                        | ServerMessage::Event(EventFrame { body: EventBody::Redacted, .. })
                ) {
                    return None;
                }
            }
            ServerMessage::Error(err) => {
                if let Some(topic) = err.topic
                    && self.topics.iter().any(|w| w.topic == topic)
                {
                    match err.code {
                        // The server could not read it this time (or refused it for a reason
                        // this crate does not know): a new connection will ask again.
                        ErrorCode::Unavailable | ErrorCode::Other(_) => {
                            let event = self.retry(format!("{topic}: {}", err.message));
                            self.pending.push_back(event);
                        }
                        // Harmless: the subscription it is about is in place.
                        ErrorCode::AlreadySubscribed => {}
                        // Refused for good: asking again would be refused again.
                        _ => self.topics.retain(|w| w.topic != topic),
                    }
                }
            }
            ServerMessage::Unsubscribed { .. } => {}
            ServerMessage::Unknown { .. } | ServerMessage::Authenticated { .. } => return None,
        }
        Some(Event::Message(message))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_the_cap_with_jitter() {
        let backoff = Backoff::default();
        for attempt in 1..40 {
            let step =
                Duration::from_millis(200 * (1u64 << (attempt - 1).min(10))).min(Duration::from_secs(10));
            for _ in 0..20 {
                let delay = backoff.delay(attempt);
                assert!(delay <= step && delay >= step / 2, "attempt {attempt}: {delay:?} vs step {step:?}");
            }
        }
        let steady = Backoff { jitter: 0.0, ..Backoff::default() };
        assert_eq!(steady.delay(1), Duration::from_millis(200));
        assert_eq!(steady.delay(3), Duration::from_millis(800));
        assert_eq!(steady.delay(u32::MAX), Duration::from_secs(10));
    }
}
