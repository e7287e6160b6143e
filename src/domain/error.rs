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
    /// The action needs an identity, and the request has none (or its credential is not
    /// valid: expired, revoked, wrongly signed). `code` is stable (`unauthorized`,
    /// `invalid_credentials`).
    #[error("{message}")]
    Unauthenticated { code: &'static str, message: String },
    /// The identity may not do this.
    #[error("{message}")]
    Forbidden { code: &'static str, message: String },
    /// The thing named existed but was deleted; `code` is stable (`answer_deleted`).
    #[error("{message}")]
    Gone { code: &'static str, message: String },
    /// The request conflicts with what exists (a handle taken, an Idempotency-Key reused for
    /// another request).
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    /// The database could not be reached before anything was written; worth a retry.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// The database failed while committing a write: it may or may not have been stored.
    /// A client must not be told to simply try again (it could post twice).
    #[error("outcome unknown: {0}")]
    OutcomeUnknown(String),
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

    pub fn unauthenticated(message: impl Into<String>) -> Self {
        Self::Unauthenticated { code: "unauthorized", message: message.into() }
    }

    pub fn invalid_credentials(message: impl Into<String>) -> Self {
        Self::Unauthenticated { code: "invalid_credentials", message: message.into() }
    }
}
