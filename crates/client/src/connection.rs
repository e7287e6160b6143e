//! One WebSocket connection to a hub, without reconnecting: send requests, receive server
//! messages. [`Subscriber`](crate::Subscriber) builds on it; tests and load tools use it
//! directly when they want to see every frame and every close themselves.

use futures_util::{SinkExt, StreamExt};
use tokio::{
    io::{AsyncRead, AsyncWrite},
    net::TcpStream,
};
use tokio_tungstenite::{
    Connector, MaybeTlsStream, WebSocketStream,
    tungstenite::{Message, Utf8Bytes, protocol::WebSocketConfig},
};

use crate::{ClientMessage, Close, Error, ServerMessage, Topic};

/// A WebSocket connection speaking the hub's protocol. `S` is the byte stream under it: a TCP
/// stream, possibly with TLS, when opened with [`Connection::connect`].
#[derive(Debug)]
pub struct Connection<S = MaybeTlsStream<TcpStream>> {
    ws: WebSocketStream<S>,
}

impl Connection {
    /// Opens `ws://…/ws` or `wss://…/ws`.
    pub async fn connect(url: &str) -> Result<Self, Error> {
        Self::connect_with(url, None).await
    }

    /// Opens the connection with tungstenite's settings (buffer sizes, frame limits).
    pub async fn connect_with(url: &str, config: Option<WebSocketConfig>) -> Result<Self, Error> {
        check_url(url)?;
        let connector = url.starts_with("wss:").then(|| Connector::Rustls(crate::tls::config()));
        let (ws, _) = tokio_tungstenite::connect_async_tls_with_config(url, config, true, connector).await?;
        Ok(Self { ws })
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Connection<S> {
    /// The WebSocket handshake for `url` over a stream you opened yourself (for example a
    /// socket bound to a chosen source address). No TLS is added.
    pub async fn handshake(url: &str, stream: S, config: Option<WebSocketConfig>) -> Result<Self, Error> {
        check_url(url)?;
        let (ws, _) = tokio_tungstenite::client_async_with_config(url, stream, config).await?;
        Ok(Self { ws })
    }

    /// Sends one request.
    pub async fn send(&mut self, message: &ClientMessage) -> Result<(), Error> {
        Ok(self.ws.send(Message::text(message.encode())).await?)
    }

    /// Sends `subscribe` for `topic`; with `after_seq = Some(N)` the server first replays
    /// every event with `seq > N`. The reply (`subscribed` or `error`) comes through
    /// [`Connection::recv`].
    pub async fn subscribe(&mut self, topic: Topic, after_seq: Option<i64>) -> Result<(), Error> {
        self.send(&ClientMessage::Subscribe { topic, after_seq }).await
    }

    /// Sends `unsubscribe` for `topic`.
    pub async fn unsubscribe(&mut self, topic: Topic) -> Result<(), Error> {
        self.send(&ClientMessage::Unsubscribe { topic }).await
    }

    /// Sends a text frame as it is, valid or not (for tests of the server's refusals).
    pub async fn send_text(&mut self, text: &str) -> Result<(), Error> {
        Ok(self.ws.send(Message::text(text)).await?)
    }

    /// The next server message, decoded. Pings are answered and skipped. When the server
    /// closes, this is [`Error::Closed`] with its close frame.
    pub async fn recv(&mut self) -> Result<ServerMessage, Error> {
        let text = self.next_text().await?;
        ServerMessage::decode(&text).map_err(|e| Error::Unexpected(format!("{e}: {}", text.as_str())))
    }

    /// The next text frame as it came. Pings are answered and skipped.
    pub async fn recv_text(&mut self) -> Result<String, Error> {
        Ok(self.next_text().await?.as_str().to_owned())
    }

    async fn next_text(&mut self) -> Result<Utf8Bytes, Error> {
        loop {
            match self.ws.next().await {
                Some(Ok(Message::Text(text))) => return Ok(text),
                Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => continue,
                Some(Ok(Message::Binary(_))) => return Err(Error::Unexpected("a binary frame".into())),
                Some(Ok(Message::Close(frame))) => {
                    let close =
                        frame.map(|f| Close { code: f.code.into(), reason: f.reason.as_str().to_owned() });
                    return Err(Error::Closed(close));
                }
                Some(Err(e)) => return Err(e.into()),
                None => return Err(Error::Closed(None)),
            }
        }
    }

    /// Closes the connection (code 1000) and waits for the server's reply.
    pub async fn close(mut self) -> Result<(), Error> {
        self.ws.close(None).await?;
        while let Some(frame) = self.ws.next().await {
            if frame.is_err() {
                break;
            }
        }
        Ok(())
    }

    /// The underlying tokio-tungstenite stream, for what this type does not offer.
    pub fn get_mut(&mut self) -> &mut WebSocketStream<S> {
        &mut self.ws
    }
}

fn check_url(url: &str) -> Result<(), Error> {
    if url.starts_with("ws://") || url.starts_with("wss://") {
        Ok(())
    } else {
        Err(Error::Url { url: url.into(), reason: "expected ws:// or wss://".into() })
    }
}
