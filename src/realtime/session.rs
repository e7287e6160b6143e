//! One subscriber's exactly-once delivery, whatever carries it: the WebSocket, or a
//! Server-Sent Events stream. The transport owns the socket and the loop; this type
//! owns what subscribing means.
//!
//! - **Register before reading.** A subscribe joins the hub's topic first and reads the topic's
//!   head second, so an event committed meanwhile is in what was read, or arrives on the
//!   queue afterwards, or both — never neither.
//! - **Last seq per topic.** The session remembers the last seq it sent on each topic and
//!   drops anything at or below it, so a repeat (a replay racing a live event) never reaches
//!   the client.
//! - **Gap fill from the log.** An event that arrives more than one past the last seq sent
//!   first has the missing ones read from the event log and sent, so the client sees every
//!   seq once, in order.
//! - **Private topics rest on a live credential.** An inbox is its owner's alone: the session
//!   holds who it acts for ([`Viewer`]), and a `revoked` event naming the viewer's credential,
//!   or the credential's expiry, ends every private subscription (an `error` with the reason,
//!   then `unsubscribed`) and leaves the session anonymous. The event is in the user's log, so
//!   every node's sessions see it, live or in a gap fill.

use std::{collections::HashMap, sync::Arc};

use chrono::{DateTime, Utc};
use uuid::Uuid;

use bytestring::ByteString;
use futures_util::future::BoxFuture;
use tokio::sync::mpsc;

use super::hub::{ConnId, Hub, Notification, Overflow, Subscriber};
use crate::{
    domain::{CredentialId, DomainError, Event, EventKind, Topic, TopicHead},
    metrics::Metrics,
    wire::{self, ClientMessage, ErrorCode, ProtocolError},
};

/// Missed events are read from the log in pages of at most this many events…
const PAGE: i64 = 100;
/// …and of about this many bytes: a page is held while it is sent, and a backlog of large
/// events (long answers) must not pin megabytes per connection. The first page of a catch-up
/// is small ([`FIRST_PAGE`]); each next one holds as many events as fit this bound at the
/// size of the largest seen so far.
const PAGE_BYTES: usize = 128 * 1024;
const FIRST_PAGE: i64 = 4;

/// Where a session reads what it missed: the event log, behind the service layer.
pub trait EventSource: Send + Sync {
    /// Where `topic` stands; `None` when it does not exist.
    fn head(&self, topic: Topic) -> BoxFuture<'_, Result<Option<TopicHead>, DomainError>>;
    /// `topic`'s events with `after < seq <= up_to`, ascending, at most `limit`.
    fn between(
        &self,
        topic: Topic,
        after: i64,
        up_to: i64,
        limit: i64,
    ) -> BoxFuture<'_, Result<Vec<Event>, DomainError>>;
}

/// What carries a session's frames to its client.
pub trait Transport {
    /// Why the transport stopped; ends the session's loop.
    type Stop;
    /// Sends one JSON text frame.
    fn send(&mut self, frame: ByteString) -> impl Future<Output = Result<(), Self::Stop>>;
    /// Sends an event from the hub. A transport that frames its messages can override this to
    /// reuse one framing for every subscriber ([`Notification::framed`]).
    fn send_event(&mut self, n: &Notification) -> impl Future<Output = Result<(), Self::Stop>> {
        self.send(n.frame.clone())
    }
    /// Sends an event read from the log (a resume, a gap fill). A transport that labels events
    /// with their position (Server-Sent Events' `id:`) overrides this.
    fn send_logged(
        &mut self,
        topic: Topic,
        seq: i64,
        frame: ByteString,
    ) -> impl Future<Output = Result<(), Self::Stop>> {
        let _ = (topic, seq);
        self.send(frame)
    }
    /// The stop for "the log could not be read": the client must resume later with its seqs.
    fn log_unavailable(&self) -> Self::Stop;
    /// The session subscribed to `topic` and delivers what comes after `from`. A transport
    /// that labels events with every topic's position (Server-Sent Events' `id:`) starts the
    /// topic's position here, so an id resumes a topic that has had no event yet too.
    fn subscribed(&mut self, topic: Topic, from: i64) {
        let _ = (topic, from);
    }
}

/// Who a session acts for, and what that rests on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Viewer {
    pub user_id: Uuid,
    /// The credential's id, for one that can be revoked (a session, a service token).
    pub credential: Option<CredentialId>,
    /// When the credential stops counting, if it does by itself (a session, a host-signed
    /// token).
    pub expires_at: Option<DateTime<Utc>>,
}

/// Limits a session works within.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_subscriptions: usize,
    /// Notifications queued for the session before it counts as too slow.
    pub outbound_queue: usize,
}

pub struct Session {
    conn: ConnId,
    hub: Arc<Hub>,
    source: Arc<dyn EventSource>,
    metrics: Arc<Metrics>,
    max_subscriptions: usize,
    queue: mpsc::Sender<Arc<Notification>>,
    overflow: Arc<Overflow>,
    /// Subscribed topics and the highest seq sent on each.
    sent: HashMap<Topic, i64>,
    /// Who the session acts for. Boxed: most sessions are anonymous, and every one pays for
    /// the field.
    viewer: Option<Box<Viewer>>,
}

impl Session {
    /// A session and the queue its transport must drain into [`Session::deliver`].
    pub fn new(
        hub: Arc<Hub>,
        source: Arc<dyn EventSource>,
        metrics: Arc<Metrics>,
        limits: Limits,
    ) -> (Self, mpsc::Receiver<Arc<Notification>>) {
        let (queue, inbox) = mpsc::channel(limits.outbound_queue);
        let session = Self {
            conn: hub.next_conn_id(),
            hub,
            source,
            metrics,
            max_subscriptions: limits.max_subscriptions,
            queue,
            overflow: Arc::default(),
            sent: HashMap::new(),
            viewer: None,
        };
        (session, inbox)
    }

    pub fn id(&self) -> ConnId {
        self.conn
    }

    /// Flagged when the hub drops this session for not draining its queue.
    pub fn overflow(&self) -> Arc<Overflow> {
        self.overflow.clone()
    }

    /// Whether the session holds no subscription.
    pub fn is_idle(&self) -> bool {
        self.sent.is_empty()
    }

    /// Who the session acts for.
    pub fn viewer(&self) -> Option<&Viewer> {
        self.viewer.as_deref()
    }

    /// From now on the session acts for `viewer` (an `auth`, a fresh check of its credential),
    /// or for nobody.
    pub fn set_viewer(&mut self, viewer: Option<Viewer>) {
        self.viewer = viewer.map(Box::new);
    }

    /// Carries out one client request, replying on `out`.
    pub async fn request<T: Transport>(
        &mut self,
        message: ClientMessage,
        out: &mut T,
    ) -> Result<(), T::Stop> {
        match message {
            ClientMessage::Subscribe { topic, after_seq } => {
                // A question is public; an inbox is its owner's alone. Refused before anything
                // about it is read, so the reply tells nothing (not even whether it exists).
                if let Topic::User(owner) = topic
                    && self.viewer.as_ref().map(|v| v.user_id) != Some(owner)
                {
                    let refused =
                        ProtocolError::new(ErrorCode::Forbidden, "Only its owner may subscribe to an inbox.");
                    return out.send(wire::refused(&refused.about(topic))).await;
                }
                self.subscribe(topic, after_seq, out).await
            }
            // Identity belongs to the transport's connection, which answers `auth` itself.
            ClientMessage::Auth { .. } => Ok(()),
            ClientMessage::Unsubscribe { topic } => {
                let reply = match self.sent.remove(&topic) {
                    Some(seq) => {
                        self.hub.unsubscribe(topic, self.conn);
                        self.metrics.subscriptions.dec();
                        wire::unsubscribed(topic, seq)
                    }
                    None => wire::refused(
                        &ProtocolError::new(
                            ErrorCode::NotSubscribed,
                            "This connection is not subscribed to that topic.",
                        )
                        .about(topic),
                    ),
                };
                out.send(reply).await
            }
        }
    }

    async fn subscribe<T: Transport>(
        &mut self,
        topic: Topic,
        after_seq: Option<i64>,
        out: &mut T,
    ) -> Result<(), T::Stop> {
        let refuse = |code, message: &str| wire::refused(&ProtocolError::new(code, message).about(topic));
        if self.sent.contains_key(&topic) {
            return out
                .send(refuse(
                    ErrorCode::AlreadySubscribed,
                    "This connection is already subscribed to that topic.",
                ))
                .await;
        }
        if self.sent.len() >= self.max_subscriptions {
            let message = format!("A connection may hold at most {} subscriptions.", self.max_subscriptions);
            return out.send(refuse(ErrorCode::TooManySubscriptions, &message)).await;
        }
        let subscriber =
            Subscriber { conn: self.conn, queue: self.queue.clone(), overflow: self.overflow.clone() };
        self.hub.subscribe(topic, subscriber);
        let head = match self.source.head(topic).await {
            Ok(Some(head)) => head,
            outcome => {
                self.hub.unsubscribe(topic, self.conn);
                let reply = match outcome {
                    Ok(_) => {
                        let (code, message) = not_found(topic);
                        refuse(code, message)
                    }
                    Err(e) => {
                        tracing::error!(error = %e, %topic, "subscribe: the event log could not be read");
                        refuse(ErrorCode::Unavailable, "The server could not read that topic; try again.")
                    }
                };
                return out.send(reply).await;
            }
        };
        // An after_seq past the head means "from now on".
        let from = after_seq.map_or(head.seq, |seq| seq.min(head.seq));
        self.sent.insert(topic, from);
        out.subscribed(topic, from);
        self.metrics.subscriptions.inc();
        out.send(wire::subscribed(topic, head)).await?;
        self.catch_up(topic, head.seq, out).await
    }

    /// Sends a notification unless this session already sent it; fills a gap before it from
    /// the log first, so the client sees every seq exactly once and in order.
    pub async fn deliver<T: Transport>(&mut self, n: &Notification, out: &mut T) -> Result<(), T::Stop> {
        let Some(&sent) = self.sent.get(&n.topic) else {
            return Ok(()); // unsubscribed meanwhile
        };
        if n.seq <= sent {
            return Ok(());
        }
        if n.seq > sent + 1 {
            // Boxed: gaps are rare, and the read would otherwise make every session's future
            // that much larger.
            Box::pin(self.catch_up(n.topic, n.seq - 1, out)).await?;
            if !self.sent.contains_key(&n.topic) {
                return Ok(()); // the gap held the end of this subscription (a `revoked`)
            }
        }
        out.send_event(n).await?;
        self.metrics.observe_delivery(n.committed.elapsed());
        self.sent.insert(n.topic, n.seq);
        if let Topic::User(_) = n.topic
            && let Some(credential) = wire::revoked_credential(&n.frame)
        {
            self.revoked(credential, out).await?;
        }
        Ok(())
    }

    /// After a `revoked` event: ends the private subscriptions if it names the credential
    /// this session rests on.
    async fn revoked<T: Transport>(&mut self, credential: CredentialId, out: &mut T) -> Result<(), T::Stop> {
        if self.viewer.as_ref().and_then(|v| v.credential) != Some(credential) {
            return Ok(());
        }
        let message = "The credential this connection acted with was revoked or logged out; its private \
                       subscriptions ended. Authenticate again to resume them with after_seq.";
        self.end_private(ErrorCode::CredentialRevoked, message, out).await
    }

    /// Ends the private subscriptions if the viewer's credential has expired by `now`.
    pub async fn expire<T: Transport>(&mut self, now: DateTime<Utc>, out: &mut T) -> Result<(), T::Stop> {
        if self.viewer.as_ref().and_then(|v| v.expires_at).is_none_or(|at| at > now) {
            return Ok(());
        }
        let message = "The credential this connection acted with has expired; its private subscriptions \
                       ended. Authenticate again to resume them with after_seq.";
        self.end_private(ErrorCode::CredentialExpired, message, out).await
    }

    /// Forgets the viewer and ends every private (user) subscription: an `error` with `code`
    /// about each, then its `unsubscribed` with the last seq sent, so a client that
    /// authenticates again resumes exactly.
    pub async fn end_private<T: Transport>(
        &mut self,
        code: ErrorCode,
        message: &str,
        out: &mut T,
    ) -> Result<(), T::Stop> {
        self.viewer = None;
        let private: Vec<Topic> = self.sent.keys().filter(|t| matches!(t, Topic::User(_))).copied().collect();
        for topic in private {
            let Some(seq) = self.sent.remove(&topic) else { continue };
            self.hub.unsubscribe(topic, self.conn);
            self.metrics.subscriptions.dec();
            out.send(wire::refused(&ProtocolError::new(code.clone(), message).about(topic))).await?;
            out.send(wire::unsubscribed(topic, seq)).await?;
        }
        Ok(())
    }

    /// Whether the session holds a private (user) subscription.
    pub fn has_private(&self) -> bool {
        self.sent.keys().any(|t| matches!(t, Topic::User(_)))
    }

    /// Sends logged events after what was sent, up to `up_to`, page by page (see
    /// [`PAGE_BYTES`]).
    async fn catch_up<T: Transport>(&mut self, topic: Topic, up_to: i64, out: &mut T) -> Result<(), T::Stop> {
        let mut limit = FIRST_PAGE;
        let mut largest = 1;
        loop {
            let sent = self.sent.get(&topic).copied().unwrap_or(up_to);
            if sent >= up_to {
                return Ok(());
            }
            let page = match self.source.between(topic, sent, up_to, limit).await {
                Ok(page) => page,
                Err(e) => {
                    // Without these events the client would see a gap; better that it resumes.
                    tracing::error!(error = %e, %topic, "catch-up: the event log could not be read");
                    return Err(out.log_unavailable());
                }
            };
            if page.is_empty() {
                return Ok(());
            }
            for event in &page {
                let frame = wire::event(event);
                largest = largest.max(frame.len());
                out.send_logged(topic, event.seq, frame).await?;
                self.sent.insert(topic, event.seq);
                if let EventKind::Revoked { credential } = event.kind {
                    self.revoked(credential, out).await?;
                    if !self.sent.contains_key(&topic) {
                        return Ok(()); // that ended this very subscription
                    }
                }
            }
            limit = next_page(largest);
        }
    }
}

/// How many events the next page of a catch-up reads, when the largest event so far took
/// `largest` bytes.
fn next_page(largest: usize) -> i64 {
    i64::try_from(PAGE_BYTES / largest.max(1)).unwrap_or(PAGE).clamp(1, PAGE)
}

/// What a client is told about a topic that does not exist.
fn not_found(topic: Topic) -> (ErrorCode, &'static str) {
    match topic {
        Topic::Question(_) => (ErrorCode::QuestionNotFound, "No question has that id."),
        _ => (ErrorCode::InvalidTopic, "No such topic."),
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        for topic in self.sent.keys() {
            self.hub.unsubscribe(*topic, self.conn);
        }
        self.metrics.subscriptions.sub(self.sent.len() as i64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_hold_about_page_bytes() {
        assert_eq!(next_page(300), PAGE, "small events: a full page");
        assert_eq!(next_page(60_000), 2, "long answers: two at a time");
        assert_eq!(next_page(10 * PAGE_BYTES), 1, "at least one");
        assert_eq!(next_page(0), PAGE);
    }
}
