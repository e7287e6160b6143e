//! The subscriber against a scripted hub: a WebSocket server in the test that accepts each
//! connection, checks what the client asks for and answers with exactly the frames the test
//! wants (including repeats, gaps, unknown event kinds and the older servers' forms).

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use qa_hub_client::{
    Answer, Backoff, ClientMessage, Close, Connection, Error, ErrorCode, Event, EventBody, EventFrame,
    ProtocolError, QuestionSummary, ServerMessage, Status, Subscriber, Topic,
};
use qa_hub_protocol::encode;
use serde_json::json;
use tokio::{
    net::{TcpListener, TcpStream},
    sync::mpsc,
};
use tokio_tungstenite::{
    WebSocketStream,
    tungstenite::{
        Message,
        protocol::{CloseFrame, frame::coding::CloseCode},
    },
};
use uuid::Uuid;

const WAIT: Duration = Duration::from_secs(10);

async fn within<T>(what: &str, fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(WAIT, fut).await.unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

fn fast() -> Backoff {
    Backoff { initial: Duration::from_millis(5), max: Duration::from_millis(40), jitter: 0.5 }
}

fn topic(n: u8) -> Topic {
    Topic::Question(Uuid::from_bytes([n; 16]))
}

fn answer(topic: Topic, seq: i64) -> Answer {
    Answer {
        id: Uuid::from_u128(seq as u128),
        question_id: topic.question_id().unwrap(),
        seq,
        body: format!("answer {seq}"),
        body_html: format!("<p>answer {seq}</p>"),
        author: "bob".into(),
        author_id: None,
        created_at: chrono::DateTime::UNIX_EPOCH,
    }
}

struct Hub {
    listener: TcpListener,
}

impl Hub {
    async fn bind() -> Self {
        Self { listener: TcpListener::bind("127.0.0.1:0").await.unwrap() }
    }

    fn url(&self) -> String {
        format!("ws://{}/ws", self.listener.local_addr().unwrap())
    }

    async fn accept(&self) -> Peer {
        let (tcp, _) = within("a connection", self.listener.accept()).await.unwrap();
        Peer { ws: tokio_tungstenite::accept_async(tcp).await.unwrap() }
    }
}

/// The server's end of one connection.
struct Peer {
    ws: WebSocketStream<TcpStream>,
}

impl Peer {
    async fn request(&mut self) -> ClientMessage {
        loop {
            match within("a request", self.ws.next()).await {
                Some(Ok(Message::Text(text))) => return qa_hub_protocol::parse(&text).unwrap(),
                Some(Ok(_)) => continue,
                other => panic!("expected a request, got {other:?}"),
            }
        }
    }

    async fn send(&mut self, text: impl Into<String>) {
        self.ws.send(Message::text(text.into())).await.unwrap();
    }

    async fn close(mut self, code: CloseCode) {
        let _ = self.ws.close(Some(CloseFrame { code, reason: "bye".into() })).await;
    }
}

/// Runs the subscriber in a task of its own and hands over what it yields.
fn drive(mut subscriber: Subscriber) -> mpsc::UnboundedReceiver<Event> {
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(event) = subscriber.next().await {
            if tx.send(event).is_err() {
                return;
            }
        }
    });
    rx
}

fn event(topic: Topic, seq: i64, body: EventBody) -> ServerMessage {
    ServerMessage::Event(EventFrame { topic, seq, body })
}

async fn next(events: &mut mpsc::UnboundedReceiver<Event>) -> Event {
    within("an event", events.recv()).await.expect("the subscriber runs")
}

/// The next event that is not a failed connection attempt.
async fn next_but_retries(events: &mut mpsc::UnboundedReceiver<Event>) -> Event {
    loop {
        match next(events).await {
            Event::Status(Status::Reconnecting { .. }) => continue,
            event => return event,
        }
    }
}

async fn expect_answer(events: &mut mpsc::UnboundedReceiver<Event>, seq: i64) {
    match next(events).await {
        Event::Message(ServerMessage::Event(EventFrame {
            seq: s,
            body: EventBody::Answer { answer },
            ..
        })) => {
            assert_eq!((s, answer.seq), (seq, seq));
        }
        other => panic!("expected answer {seq}, got {other:?}"),
    }
}

async fn expect_reconnecting(events: &mut mpsc::UnboundedReceiver<Event>, reason: &str) {
    match next(events).await {
        Event::Status(Status::Reconnecting { reason: why, .. }) => {
            assert!(why.contains(reason), "{why:?} should mention {reason:?}")
        }
        other => panic!("expected reconnecting ({reason}), got {other:?}"),
    }
}

#[tokio::test]
async fn resumes_after_each_drop_without_repeats_or_gaps() {
    let hub = Hub::bind().await;
    let t = topic(1);
    let mut events = drive(Subscriber::new(&hub.url()).unwrap().with_topic(t, Some(0)).with_backoff(fast()));

    let mut peer = hub.accept().await;
    assert_eq!(peer.request().await, ClientMessage::Subscribe { topic: t, after_seq: Some(0) });
    assert_eq!(next(&mut events).await, Event::Status(Status::Connected));
    // An older server's forms: no topic, no seq.
    let q = t.question_id().unwrap();
    peer.send(json!({"type": "subscribed", "question_id": q, "answer_count": 2}).to_string()).await;
    peer.send(json!({"type": "answer", "question_id": q, "answer": answer(t, 1)}).to_string()).await;
    peer.send(encode::answer(&answer(t, 2))).await;
    assert_eq!(
        next(&mut events).await,
        Event::Message(ServerMessage::Subscribed { topic: t, seq: 2, answer_count: Some(2) })
    );
    expect_answer(&mut events, 1).await;
    expect_answer(&mut events, 2).await;
    peer.close(CloseCode::Away).await;
    expect_reconnecting(&mut events, "1001").await;

    let mut peer = hub.accept().await;
    assert_eq!(peer.request().await, ClientMessage::Subscribe { topic: t, after_seq: Some(2) });
    assert_eq!(next(&mut events).await, Event::Status(Status::Connected));
    peer.send(encode::subscribed(&t, 4, Some(3))).await;
    peer.send(encode::answer(&answer(t, 2))).await; // a repeat: dropped
    peer.send(encode::answer(&answer(t, 3))).await;
    peer.send(json!({"type": "vote", "topic": t, "seq": 4, "up": true}).to_string()).await; // skipped, counted
    peer.send(encode::answer(&answer(t, 4))).await; // a repeat of the unknown event's seq: dropped
    peer.send(encode::answer(&answer(t, 5))).await;
    assert!(matches!(next(&mut events).await, Event::Message(ServerMessage::Subscribed { seq: 4, .. })));
    expect_answer(&mut events, 3).await;
    expect_answer(&mut events, 5).await;
    peer.close(CloseCode::Again).await;
    expect_reconnecting(&mut events, "1013").await;

    let mut peer = hub.accept().await;
    assert_eq!(peer.request().await, ClientMessage::Subscribe { topic: t, after_seq: Some(5) });
    drop(peer); // no close frame at all
    assert_eq!(next(&mut events).await, Event::Status(Status::Connected));
    assert!(matches!(next(&mut events).await, Event::Status(Status::Reconnecting { .. })));
    let mut peer = hub.accept().await;
    assert_eq!(peer.request().await, ClientMessage::Subscribe { topic: t, after_seq: Some(5) });
}

/// The list of questions: `question` and `question-delete` are yielded and counted per topic
/// (beside a question's topic on the same connection), a repeat is dropped, a `redacted`
/// place-holder is counted but not yielded, and a resume asks for what comes after.
#[tokio::test]
async fn the_list_of_questions_is_counted_like_any_topic() {
    let hub = Hub::bind().await;
    let (list, t) = (Topic::Questions, topic(9));
    let subscriber = Subscriber::new(&hub.url()).unwrap().with_topic(list, Some(3)).with_topic(t, Some(0));
    let mut events = drive(subscriber.with_backoff(fast()));
    let asked = |seq: i64| {
        let question = QuestionSummary {
            id: Uuid::from_u128(100 + seq as u128),
            title: format!("question {seq}"),
            author: "ann".into(),
            author_id: None,
            created_at: chrono::DateTime::UNIX_EPOCH,
            tags: Vec::new(),
        };
        event(list, seq, EventBody::Question { question })
    };
    let gone = event(list, 6, EventBody::QuestionDelete { question_id: Uuid::from_u128(104) });

    let mut peer = hub.accept().await;
    assert_eq!(peer.request().await, ClientMessage::Subscribe { topic: list, after_seq: Some(3) });
    assert_eq!(peer.request().await, ClientMessage::Subscribe { topic: t, after_seq: Some(0) });
    assert_eq!(next(&mut events).await, Event::Status(Status::Connected));
    peer.send(encode::subscribed(&list, 6, None)).await;
    peer.send(encode::subscribed(&t, 1, Some(1))).await;
    peer.send(asked(3).encode()).await; // at the starting point: dropped
    peer.send(asked(4).encode()).await;
    peer.send(encode::answer(&answer(t, 1))).await; // the other topic's seq 1
    peer.send(event(list, 5, EventBody::Redacted).encode()).await; // counted only
    peer.send(gone.encode()).await;
    peer.send(asked(4).encode()).await; // a repeat: dropped
    assert!(matches!(next(&mut events).await, Event::Message(ServerMessage::Subscribed { seq: 6, .. })));
    assert!(matches!(next(&mut events).await, Event::Message(ServerMessage::Subscribed { seq: 1, .. })));
    assert_eq!(next(&mut events).await, Event::Message(asked(4)));
    expect_answer(&mut events, 1).await;
    assert_eq!(next(&mut events).await, Event::Message(gone));
    peer.close(CloseCode::Away).await;
    expect_reconnecting(&mut events, "1001").await;

    let mut peer = hub.accept().await;
    assert_eq!(peer.request().await, ClientMessage::Subscribe { topic: list, after_seq: Some(6) });
    assert_eq!(peer.request().await, ClientMessage::Subscribe { topic: t, after_seq: Some(1) });
}

#[tokio::test]
async fn a_gap_makes_it_resume_instead_of_yielding_out_of_order() {
    let hub = Hub::bind().await;
    let t = topic(2);
    let mut events = drive(Subscriber::new(&hub.url()).unwrap().with_topic(t, Some(0)).with_backoff(fast()));
    let mut peer = hub.accept().await;
    peer.request().await;
    peer.send(encode::subscribed(&t, 0, Some(0))).await;
    peer.send(encode::answer(&answer(t, 1))).await;
    peer.send(encode::answer(&answer(t, 3))).await;
    assert_eq!(next(&mut events).await, Event::Status(Status::Connected));
    assert!(matches!(next(&mut events).await, Event::Message(ServerMessage::Subscribed { .. })));
    expect_answer(&mut events, 1).await;
    expect_reconnecting(&mut events, "expected seq 2, got 3").await;
    let mut peer = hub.accept().await;
    assert_eq!(peer.request().await, ClientMessage::Subscribe { topic: t, after_seq: Some(1) });
    peer.send(encode::subscribed(&t, 3, Some(3))).await;
    peer.send(encode::answer(&answer(t, 2))).await;
    peer.send(encode::answer(&answer(t, 3))).await;
    assert_eq!(next(&mut events).await, Event::Status(Status::Connected));
    assert!(matches!(next(&mut events).await, Event::Message(ServerMessage::Subscribed { .. })));
    expect_answer(&mut events, 2).await;
    expect_answer(&mut events, 3).await;
}

#[tokio::test]
async fn live_only_subscriptions_resume_from_the_seq_the_server_gave() {
    let hub = Hub::bind().await;
    let t = topic(3);
    let mut events = drive(Subscriber::new(&hub.url()).unwrap().with_topic(t, None).with_backoff(fast()));
    // Dropped before the server confirmed: still live only.
    let mut peer = hub.accept().await;
    assert_eq!(peer.request().await, ClientMessage::Subscribe { topic: t, after_seq: None });
    peer.close(CloseCode::Away).await;
    let mut peer = hub.accept().await;
    assert_eq!(peer.request().await, ClientMessage::Subscribe { topic: t, after_seq: None });
    peer.send(encode::subscribed(&t, 7, Some(7))).await;
    peer.send(encode::answer(&answer(t, 8))).await;
    loop {
        if let Event::Message(ServerMessage::Event(EventFrame {
            seq, body: EventBody::Answer { .. }, ..
        })) = next(&mut events).await
        {
            assert_eq!(seq, 8);
            break;
        }
    }
    peer.close(CloseCode::Away).await;
    let mut peer = hub.accept().await;
    assert_eq!(peer.request().await, ClientMessage::Subscribe { topic: t, after_seq: Some(8) });
}

#[tokio::test]
async fn refused_topics_are_reported_and_dropped_and_unavailable_is_retried() {
    let hub = Hub::bind().await;
    let (gone, kept) = (topic(4), topic(5));
    let subscriber = Subscriber::new(&hub.url())
        .unwrap()
        .with_topic(gone, None)
        .with_topic(kept, Some(0))
        .with_backoff(fast());
    let mut events = drive(subscriber);
    let mut peer = hub.accept().await;
    assert_eq!(peer.request().await.topic(), Some(gone));
    assert_eq!(peer.request().await.topic(), Some(kept));
    let not_found = ProtocolError::new(ErrorCode::QuestionNotFound, "No question has that id.").about(gone);
    let unavailable = ProtocolError::new(ErrorCode::Unavailable, "Try again.").about(kept);
    peer.send(not_found.encode()).await;
    peer.send(unavailable.encode()).await;
    assert_eq!(next(&mut events).await, Event::Status(Status::Connected));
    assert_eq!(next(&mut events).await, Event::Message(ServerMessage::Error(not_found)));
    assert_eq!(next(&mut events).await, Event::Message(ServerMessage::Error(unavailable)));
    expect_reconnecting(&mut events, "Try again").await;
    // Only the topic that may still work is asked for again.
    let mut peer = hub.accept().await;
    assert_eq!(peer.request().await, ClientMessage::Subscribe { topic: kept, after_seq: Some(0) });
    let refused = ProtocolError::new(ErrorCode::TooManySubscriptions, "Too many.").about(kept);
    peer.send(refused.encode()).await;
    assert_eq!(next(&mut events).await, Event::Status(Status::Connected));
    assert_eq!(next(&mut events).await, Event::Message(ServerMessage::Error(refused)));
    // No topic left: the subscriber ends.
    assert_eq!(within("the end", events.recv()).await, None);
}

#[tokio::test]
async fn backs_off_while_the_server_is_down_then_connects() {
    // A port nobody listens on until the test binds it again.
    let addr = TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap();
    let backoff = Backoff { initial: Duration::from_millis(10), max: Duration::from_millis(40), jitter: 0.5 };
    let subscriber = Subscriber::new(&format!("ws://{addr}/ws"))
        .unwrap()
        .with_topic(topic(6), Some(0))
        .with_backoff(backoff);
    let mut events = drive(subscriber);
    for (attempt, step) in [(1, 10), (2, 20), (3, 40), (4, 40)] {
        match next(&mut events).await {
            Event::Status(Status::Reconnecting { attempt: a, delay, .. }) => {
                assert_eq!(a, attempt);
                let step = Duration::from_millis(step);
                assert!(delay <= step && delay >= step / 2, "attempt {attempt}: {delay:?}");
            }
            other => panic!("expected a failed attempt, got {other:?}"),
        }
    }
    let hub = Hub { listener: TcpListener::bind(addr).await.unwrap() };
    let mut peer = hub.accept().await;
    peer.request().await;
    assert_eq!(next_but_retries(&mut events).await, Event::Status(Status::Connected));
}

#[tokio::test]
async fn one_connection_reports_the_close_code() {
    let hub = Hub::bind().await;
    let url = hub.url();
    let t = topic(7);
    let server = tokio::spawn(async move {
        let mut peer = hub.accept().await;
        assert_eq!(peer.request().await, ClientMessage::Subscribe { topic: t, after_seq: Some(3) });
        peer.send(encode::subscribed(&t, 3, Some(3))).await;
        peer.send("{\"type\":\"welcome\"}").await;
        peer.close(CloseCode::Away).await;
    });
    let mut conn = Connection::connect(&url).await.unwrap();
    conn.subscribe(t, Some(3)).await.unwrap();
    assert_eq!(
        conn.recv().await.unwrap(),
        ServerMessage::Subscribed { topic: t, seq: 3, answer_count: Some(3) }
    );
    assert_eq!(conn.recv_text().await.unwrap(), "{\"type\":\"welcome\"}");
    match conn.recv().await {
        Err(Error::Closed(Some(Close { code: 1001, reason }))) => assert_eq!(reason, "bye"),
        other => panic!("expected close 1001, got {other:?}"),
    }
    server.await.unwrap();
}
