//! The one error of the domain. The store, the services and the realtime path return it; each
//! edge maps it once: the REST API to its JSON error body, the pages to an HTML page, the
//! WebSocket to an `error` message.

/// What went wrong, in terms a caller can act on. Causes of `Unavailable` and `Internal` are
/// for the log, never for the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    /// Input broke a rule (an empty title, a body too long); `field` names it.
    #[error("{message}")]
    Invalid { field: &'static str, message: String },
    /// The thing named does not exist; `code` is stable (`question_not_found`).
    #[error("{message}")]
    NotFound { code: &'static str, message: String },
    /// The database could not be reached; worth a retry.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// Anything else that should not happen.
    #[error("internal error: {0}")]
    Internal(String),
}

impl DomainError {
    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        Self::Invalid { field, message: message.into() }
    }

    pub fn question_not_found() -> Self {
        Self::NotFound { code: "question_not_found", message: "No question has that id.".into() }
    }
}
