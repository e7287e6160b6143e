//! A database failure in the domain's terms, decided in one place: unreachable is worth a
//! retry, a unique key taken is a conflict (callers say which), a failed COMMIT leaves the
//! outcome unknown, anything else is internal. The `sqlx::Error` travels along as the
//! [`Cause`], whole, for the log.

use std::sync::Arc;

use crate::domain::{Cause, DomainError};

/// Lets every query in the store end in `?`.
impl From<sqlx::Error> for DomainError {
    fn from(e: sqlx::Error) -> Self {
        classify(Arc::new(e))
    }
}

/// Maps a failure before COMMIT (nothing was written).
pub(super) fn classify(e: Arc<sqlx::Error>) -> DomainError {
    let retry = match &*e {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::WorkerCrashed => true,
        // The server went away under a statement (before any commit, which maps its own
        // failures to OutcomeUnknown): a restart or failover, nothing written — retry later.
        // Or a deadlock victim or a serialization failure: rolled back, nothing written.
        sqlx::Error::Database(d) => {
            d.code().is_some_and(|c| connection_lost(&c) || matches!(&*c, "40P01" | "40001"))
        }
        _ => false,
    };
    if retry {
        return DomainError::Unavailable(Cause::shared(e));
    }
    if let sqlx::Error::Database(d) = &*e
        && d.is_unique_violation()
    {
        return DomainError::Conflict { code: "conflict", message: "That already exists.".into() };
    }
    DomainError::Internal(Cause::new(Database(e)))
}

/// An unexpected database error, named as one in the log.
#[derive(Debug, thiserror::Error)]
#[error("database: {0}")]
struct Database(#[source] Arc<sqlx::Error>);

/// Maps a failed COMMIT: the write may or may not have been stored, so the caller must not be
/// told to retry.
pub(super) fn at_commit(e: impl Into<Arc<sqlx::Error>>) -> DomainError {
    DomainError::OutcomeUnknown(Cause::shared(e.into()))
}

/// SQLSTATEs of a server that is going or gone: connection exceptions (class 08), shutdowns
/// and a server not accepting connections yet (57P01–57P03), no connection slot left (53300).
fn connection_lost(code: &str) -> bool {
    code.starts_with("08") || matches!(code, "57P01" | "57P02" | "57P03" | "53300")
}
