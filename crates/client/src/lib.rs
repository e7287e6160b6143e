//! A Rust client for qa-hub.
//!
//! - [`Client`]: typed REST calls (ask, get and list questions; post, list and edit answers;
//!   vote), on `reqwest`, as the identity of a token ([`Client::with_token`]). Errors carry the
//!   HTTP status and the API's `{"error":{"code","message"}}`.
//! - [`Subscriber`]: watches topics over the WebSocket (or, given an `http(s)://…/sse` URL, over
//!   the Server-Sent Events fallback) and survives disconnects and server restarts: it
//!   reconnects with exponential backoff and jitter, resumes each topic from its last seq, and
//!   yields each answer exactly once, in seq order per topic.
//! - [`Connection`]: one WebSocket connection without reconnecting, for tests and load tools
//!   that want every frame and every close.
//!
//! The wire types come from [`qa_hub_protocol`], re-exported here.
//!
//! ```no_run
//! # async fn demo() -> Result<(), qa_hub_client::Error> {
//! use qa_hub_client::{Client, Event, EventBody, NewAnswer, ServerMessage, Subscriber, Topic};
//!
//! // Writing needs an identity: a service token (`qa-hub token create`) or a host-signed token.
//! let hub = Client::new("http://127.0.0.1:8080")?.with_token("qah_…");
//! let question = hub.questions(Some(1), None).await?.items.remove(0);
//! let mut subscriber = Subscriber::new(hub.ws_url().as_str())?.with_topic(Topic::Question(question.id), Some(0));
//! hub.post_answer(question.id, &NewAnswer { body: "Hello.".into(), author: String::new() }).await?;
//! while let Some(event) = subscriber.next().await {
//!     if let Event::Message(ServerMessage::Event(frame)) = event
//!         && let EventBody::Answer { answer } = frame.body
//!     {
//!         println!("{} {}", answer.seq, answer.body);
//!     }
//! }
//! # Ok(()) }
//! ```

mod connection;
mod error;
mod events;
mod rest;
mod subscriber;
mod tls;

pub use connection::Connection;
pub use error::{ApiError, Close, Error};
pub use events::EventStream;
pub use qa_hub_protocol::{
    self as protocol, Answer, ClientMessage, Edit, ErrorCode, EventBody, EventFrame, PostId, PostKind,
    ProtocolError, QuestionSummary, ServerMessage, Topic,
};
pub use reqwest::{self, StatusCode};
pub use rest::{
    AnswerPage, Client, Me, NewAnswer, NewQuestion, Question, QuestionPage, Revision, VoteResult,
};
pub use subscriber::{Backoff, Event, Status, Subscriber};
pub use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

#[cfg(test)]
mod tests {
    /// The README shows `examples/watch.rs` in full; this keeps them from drifting apart.
    #[test]
    fn readme_shows_the_watch_example_verbatim() {
        let readme = include_str!("../README.md");
        let example = include_str!("../examples/watch.rs");
        assert!(
            readme.contains(&format!("```rust\n{example}```\n")),
            "README.md must contain examples/watch.rs verbatim"
        );
    }
}
