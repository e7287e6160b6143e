//! Watches questions over the hub's WebSocket and prints every message it receives.
//!
//!     cargo run --example watch -- QUESTION_ID[:AFTER_SEQ] [QUESTION_ID[:AFTER_SEQ] …]
//!
//! Connects to ws://127.0.0.1:8080/ws unless QA_HUB_WS says otherwise.

use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio_tungstenite::{connect_async, tungstenite::Message};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("QA_HUB_WS").unwrap_or_else(|_| "ws://127.0.0.1:8080/ws".into());
    let targets: Vec<String> = std::env::args().skip(1).collect();
    if targets.is_empty() {
        eprintln!("usage: cargo run --example watch -- QUESTION_ID[:AFTER_SEQ] …");
        std::process::exit(2);
    }
    let (mut ws, _) = connect_async(url.as_str()).await?;
    eprintln!("connected to {url}");
    for target in &targets {
        let (id, after) = target.split_once(':').map_or((target.as_str(), None), |(i, a)| (i, Some(a)));
        let mut msg = json!({"type": "subscribe", "question_id": id});
        if let Some(after) = after {
            msg["after_seq"] = json!(after.parse::<i64>()?);
        }
        ws.send(Message::text(msg.to_string())).await?;
    }
    while let Some(frame) = ws.next().await {
        match frame? {
            Message::Text(text) => println!("{text}"),
            Message::Close(close) => {
                eprintln!("closed: {close:?}");
                break;
            }
            _ => {}
        }
    }
    Ok(())
}
