//! The client's one error type.

use std::fmt;

use reqwest::StatusCode;

/// Anything a REST call or a WebSocket connection can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The URL given cannot be used (wrong scheme, no host, not a URL).
    #[error("invalid URL {url:?}: {reason}")]
    Url { url: String, reason: String },
    /// The API answered with an error status.
    #[error(transparent)]
    Api(#[from] ApiError),
    /// The HTTP request failed before a response arrived, or its body was not what the API
    /// returns.
    #[error("HTTP request failed: {0}")]
    Http(#[from] reqwest::Error),
    /// The WebSocket could not be opened or failed.
    #[error("WebSocket: {0}")]
    WebSocket(#[from] Box<tokio_tungstenite::tungstenite::Error>),
    /// The server closed the WebSocket (with its close frame, when it sent one).
    #[error("the server closed the connection{}", .0.as_ref().map(|c| format!(": {c}")).unwrap_or_default())]
    Closed(Option<Close>),
    /// A frame from the server that is not a server message.
    #[error("unexpected frame from the server: {0}")]
    Unexpected(String),
    /// A step did not finish in time.
    #[error("timed out {0}")]
    Timeout(&'static str),
}

impl From<tokio_tungstenite::tungstenite::Error> for Error {
    fn from(e: tokio_tungstenite::tungstenite::Error) -> Self {
        Error::WebSocket(Box::new(e))
    }
}

impl Error {
    /// The HTTP status of an API error (or of an HTTP failure that has one).
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            Error::Api(e) => Some(e.status),
            Error::Http(e) => e.status(),
            _ => None,
        }
    }

    /// The API's error code (`question_not_found`, …) of an API error.
    pub fn code(&self) -> Option<&str> {
        match self {
            Error::Api(e) => Some(&e.code),
            _ => None,
        }
    }
}

/// An error response from the REST API: its status and its `{"error":{"code","message"}}`.
/// A body that is not in that shape (a proxy's error page) leaves `code` empty and puts the
/// body in `message`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("HTTP {status}: {code}: {message}")]
pub struct ApiError {
    pub status: StatusCode,
    pub code: String,
    pub message: String,
}

/// A WebSocket close frame: its code (1001 going away, 1008 ping timeout, 1013 too slow, …)
/// and reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Close {
    pub code: u16,
    pub reason: String,
}

impl fmt::Display for Close {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "close {}", self.code)?;
        if !self.reason.is_empty() {
            write!(f, " {:?}", self.reason)?;
        }
        Ok(())
    }
}
