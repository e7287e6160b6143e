//! Watches questions over the hub's WebSocket and prints every message it receives, one JSON
//! object per line, with the qa-hub-client crate's `Subscriber`: when the connection drops
//! (a server restart, the network), it reconnects and resumes after the last seq it printed,
//! so nothing is missed or printed twice. Connection changes go to stderr. Ctrl-C stops it.
//!
//!     cargo run --example watch -- QUESTION_ID[:AFTER_SEQ] [QUESTION_ID[:AFTER_SEQ] …]
//!
//! Connects to ws://127.0.0.1:8080/ws unless QA_HUB_WS says otherwise.

use qa_hub_client::{Event, Status, Subscriber, Topic};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("QA_HUB_WS").unwrap_or_else(|_| "ws://127.0.0.1:8080/ws".into());
    let targets: Vec<String> = std::env::args().skip(1).collect();
    if targets.is_empty() {
        eprintln!("usage: cargo run --example watch -- QUESTION_ID[:AFTER_SEQ] …");
        std::process::exit(2);
    }
    let mut subscriber = Subscriber::new(&url)?;
    for target in &targets {
        let (id, after) = target.split_once(':').map_or((target.as_str(), None), |(i, a)| (i, Some(a)));
        let after_seq = after.map(str::parse::<i64>).transpose()?;
        subscriber = subscriber.with_topic(Topic::Question(id.parse()?), after_seq);
    }
    while let Some(event) = subscriber.next().await {
        match event {
            Event::Message(message) => println!("{}", message.encode()),
            Event::Status(Status::Connected) => eprintln!("connected to {url}"),
            Event::Status(Status::Reconnecting { attempt, delay, reason }) => {
                eprintln!("not connected ({reason}); attempt {attempt} in {delay:.1?}")
            }
        }
    }
    Ok(())
}
