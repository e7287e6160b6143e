//! One Server-Sent Events stream (`GET /sse?topics=…`): the WebSocket's fallback where a proxy
//! refuses WebSockets. It carries the same server messages, one per `data:` line; the
//! [`Subscriber`](crate::Subscriber) resumes it with `last_event_id`, built from the last seq
//! it handed out per topic, exactly as it resumes a WebSocket with `after_seq`.

use crate::{Error, ServerMessage, Topic};

/// An open event stream.
#[derive(Debug)]
pub struct EventStream {
    response: reqwest::Response,
    /// Bytes read but not yet split into messages.
    buffer: Vec<u8>,
}

impl EventStream {
    /// Opens `url` (`http(s)://…/sse`) for `topics`, each resuming after its seq when it has
    /// one (else from now on).
    pub async fn open(
        http: &reqwest::Client,
        url: &str,
        topics: &[(Topic, Option<i64>)],
    ) -> Result<Self, Error> {
        let names: Vec<String> = topics.iter().map(|(t, _)| t.to_string()).collect();
        let positions: Vec<String> =
            topics.iter().filter_map(|(t, seq)| seq.map(|s| format!("{t}={s}"))).collect();
        let response = http
            .get(url)
            .query(&[("topics", names.join(",")), ("last_event_id", positions.join(","))])
            .header(reqwest::header::ACCEPT, "text/event-stream")
            .send()
            .await?;
        let status = response.status();
        if !status.is_success() {
            let body = response.text().await.unwrap_or_default();
            return Err(Error::Unexpected(format!("the event stream answered {status}: {body}")));
        }
        Ok(Self { response, buffer: Vec::new() })
    }

    /// The next server message; `None` for a heartbeat (something was heard, nothing to show).
    pub async fn recv(&mut self) -> Result<Option<ServerMessage>, Error> {
        loop {
            if let Some(end) = self.buffer.windows(2).position(|w| w == b"\n\n") {
                let block: Vec<u8> = self.buffer.drain(..end + 2).collect();
                let block = String::from_utf8_lossy(&block);
                let data: Vec<&str> = block.lines().filter_map(|l| l.strip_prefix("data: ")).collect();
                if data.is_empty() {
                    return Ok(None); // a comment (`: ping`) or `retry:`
                }
                let text = data.join("\n");
                return ServerMessage::decode(&text)
                    .map(Some)
                    .map_err(|e| Error::Unexpected(format!("{e}: {text}")));
            }
            match self.response.chunk().await? {
                Some(chunk) => self.buffer.extend_from_slice(&chunk),
                None => return Err(Error::Closed(None)),
            }
        }
    }
}
