use std::io::Write;

use qa_hub_client::{Event, EventBody, ServerMessage, Subscriber, Topic};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Prints every answer to `question`, from the first, as "SEQ BODY": each once and in order,
/// across server restarts (the subscriber reconnects and resumes after the last seq).
pub async fn watch(url: &str, question: Topic, out: &mut impl Write) -> Result<(), BoxError> {
    let mut subscriber = Subscriber::new(url)?.with_topic(question, Some(0));
    while let Some(event) = subscriber.next().await {
        if let Event::Message(ServerMessage::Event(frame)) = event
            && let EventBody::Answer { answer } = frame.body
        {
            writeln!(out, "{} {}", answer.seq, answer.body)?;
        }
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let id = std::env::args().nth(1).ok_or("usage: watch QUESTION_ID [ws://HOST:PORT/ws]")?;
    let url = std::env::args().nth(2).unwrap_or_else(|| "ws://127.0.0.1:8080/ws".into());
    watch(&url, Topic::Question(id.parse()?), &mut std::io::stdout()).await
}
