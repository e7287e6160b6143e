//! The one error of the domain. The store, the services and the realtime path return it; each
//! edge maps it once: the REST API to its JSON error body, the pages to an HTML page, the
//! WebSocket to an `error` message.

use std::{error::Error, fmt, sync::Arc};

/// What went wrong, in terms a caller can act on. The [`Cause`] of `Unavailable`,
/// `OutcomeUnknown` and `Internal` is for the log, never for the client.
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
    Unavailable(#[source] Cause),
    /// The database failed while committing a write: it may or may not have been stored.
    /// A client must not be told to simply try again (it could post twice).
    #[error("outcome unknown: {0}")]
    OutcomeUnknown(#[source] Cause),
    /// Anything else that should not happen.
    #[error("internal error: {0}")]
    Internal(#[source] Cause),
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

    /// Something that should not happen, for the log.
    pub fn internal(cause: impl Into<Cause>) -> Self {
        Self::Internal(cause.into())
    }

    pub fn invalid_credentials(message: impl Into<String>) -> Self {
        Self::Unauthenticated { code: "invalid_credentials", message: message.into() }
    }
}

/// The error underneath a failure the caller cannot act on (a database error, a task that
/// panicked), kept whole for the log: its `Display` is the error's own, and
/// [`Error::source`] walks on to what caused it (an I/O error under a database error). Shared,
/// so a [`DomainError`] stays cheap to clone; equal when it reads the same.
#[derive(Clone)]
pub struct Cause(Arc<dyn Error + Send + Sync + 'static>);

impl Cause {
    pub fn new(error: impl Error + Send + Sync + 'static) -> Self {
        Self(Arc::new(error))
    }

    /// An error already shared (one failure reported to each of a batch's posts).
    pub fn shared(error: Arc<dyn Error + Send + Sync + 'static>) -> Self {
        Self(error)
    }

    /// The underlying error, if it is an `E`.
    pub fn downcast_ref<E: Error + 'static>(&self) -> Option<&E> {
        self.0.downcast_ref()
    }
}

/// A cause that is only a sentence (an invariant broken, a task lost).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Message(String);

impl From<String> for Cause {
    fn from(message: String) -> Self {
        Self::new(Message(message))
    }
}

impl From<&str> for Cause {
    fn from(message: &str) -> Self {
        Self::from(message.to_owned())
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl fmt::Debug for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Transparent: the source of a cause is its error's source.
impl Error for Cause {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.0.source()
    }
}

impl PartialEq for Cause {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || self.to_string() == other.to_string()
    }
}

impl Eq for Cause {}
