//! The REST API's error: every variant maps to a status code and to the JSON body
//! `{"error":{"code":…,"message":…}}`. Domain errors arrive through one `From`; database and
//! internal failures are logged with their cause and shown to the client only as a generic
//! message.

use actix_web::{
    HttpResponse, ResponseError,
    http::{StatusCode, header},
};
use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::{Cause, DomainError};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// 400: malformed input (JSON syntax, a bad id, a bad query parameter).
    #[error("{message}")]
    BadRequest { code: &'static str, message: String },
    /// 401: the request needs credentials it did not carry (or carried wrong ones); the
    /// response says which scheme in `WWW-Authenticate`.
    #[error("{message}")]
    Unauthorized { realm: &'static str, code: &'static str, message: String },
    /// 409: the request conflicts with what exists (a handle taken).
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    /// 403: the request is understood and refused (a page from a site not allowed here).
    #[error("{message}")]
    Forbidden { code: &'static str, message: String },
    /// 410: the thing named was deleted.
    #[error("{message}")]
    Gone { code: &'static str, message: String },
    /// 404: the thing named does not exist.
    #[error("{message}")]
    NotFound { code: &'static str, message: String },
    /// 408: the request body did not arrive in time.
    #[error("{0}")]
    RequestTimeout(String),
    /// 429: over a rate limit; `Retry-After` says when to come back.
    #[error("{message}")]
    TooManyRequests { retry_after: std::time::Duration, message: String },
    /// 413: the request body is over the limit.
    #[error("{0}")]
    PayloadTooLarge(String),
    /// 415: the request body is not `application/json`.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// 422: well-formed JSON whose fields break the rules.
    #[error("{message}")]
    Unprocessable { code: &'static str, message: String },
    /// 503: a dependency is unavailable; the message is shown.
    #[error("{0}")]
    Unavailable(String),
    /// 503: the database could not be reached; the cause is logged, not shown.
    #[error("database unavailable: {0}")]
    DatabaseUnavailable(Cause),
    /// 503: a commit failed midway: the post may or may not be stored. The response says so
    /// and does not invite a plain retry (which could post twice).
    #[error("outcome unknown: {0}")]
    OutcomeUnknown(Cause),
    /// 500: anything that should not happen; the cause is logged, not shown.
    #[error("internal error: {0}")]
    Internal(Cause),
}

impl Error {
    /// Over a rate limit, with how long to wait.
    pub fn rate_limited(retry_after: std::time::Duration) -> Self {
        Self::TooManyRequests {
            retry_after,
            message: format!(
                "Too many requests; try again in {} s.",
                super::rate::retry_after_secs(retry_after)
            ),
        }
    }
}

impl From<DomainError> for Error {
    fn from(e: DomainError) -> Self {
        match e {
            DomainError::Invalid { message, .. } => Self::invalid_field(message),
            DomainError::NotFound { code, message } => Self::NotFound { code, message },
            DomainError::Unauthenticated { code, message } => {
                Self::Unauthorized { realm: super::auth::REALM, code, message }
            }
            DomainError::Forbidden { code, message } => Self::Forbidden { code, message },
            DomainError::Gone { code, message } => Self::Gone { code, message },
            // A key reused for another request is the client's mistake about its input.
            DomainError::Conflict { code: code @ "idempotency_key_reused", message } => {
                Self::Unprocessable { code, message }
            }
            DomainError::Conflict { code, message } => Self::Conflict { code, message },
            DomainError::Unavailable(cause) => Self::DatabaseUnavailable(cause),
            DomainError::OutcomeUnknown(cause) => Self::OutcomeUnknown(cause),
            DomainError::Internal(cause) => Self::Internal(cause),
        }
    }
}

impl Error {
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::BadRequest { code, message: message.into() }
    }

    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        Self::NotFound { code, message: message.into() }
    }

    pub fn invalid_field(message: impl Into<String>) -> Self {
        Self::Unprocessable { code: "invalid_field", message: message.into() }
    }

    fn code(&self) -> &'static str {
        match self {
            Self::BadRequest { code, .. } | Self::NotFound { code, .. } | Self::Forbidden { code, .. } => {
                code
            }
            Self::Unprocessable { code, .. } | Self::Conflict { code, .. } | Self::Gone { code, .. } => code,
            Self::Unauthorized { code, .. } => code,
            Self::OutcomeUnknown(_) => "outcome_unknown",
            Self::RequestTimeout(_) => "request_timeout",
            Self::PayloadTooLarge(_) => "payload_too_large",
            Self::TooManyRequests { .. } => "rate_limited",
            Self::UnsupportedMediaType(_) => "unsupported_media_type",
            Self::Unavailable(_) | Self::DatabaseUnavailable(_) => "unavailable",
            Self::Internal(_) => "internal_error",
        }
    }
}

/// The body of every error response.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// A stable snake_case code to branch on, e.g. `question_not_found`.
    #[schema(example = "question_not_found")]
    pub code: String,
    /// A sentence a person understands.
    pub message: String,
}

impl ErrorBody {
    pub fn new(code: &str, message: impl Into<String>) -> Self {
        Self { error: ErrorDetail { code: code.to_owned(), message: message.into() } }
    }
}

impl ResponseError for Error {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::BadRequest { .. } => StatusCode::BAD_REQUEST,
            Self::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            Self::Forbidden { .. } => StatusCode::FORBIDDEN,
            Self::Conflict { .. } => StatusCode::CONFLICT,
            Self::NotFound { .. } => StatusCode::NOT_FOUND,
            Self::Gone { .. } => StatusCode::GONE,
            Self::RequestTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Unprocessable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Unavailable(_) | Self::DatabaseUnavailable(_) | Self::OutcomeUnknown(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let message = match self {
            Self::DatabaseUnavailable(cause) => {
                tracing::warn!(error = %cause, "database unavailable");
                "The database is unavailable; try again shortly.".to_owned()
            }
            Self::OutcomeUnknown(cause) => {
                tracing::error!(error = %cause, "commit failed; its outcome is unknown");
                "The database failed while storing this; it may or may not have been stored. Check before \
                 posting again, or repeat the request with the same Idempotency-Key, which can never post twice."
                    .to_owned()
            }
            Self::Internal(cause) => {
                tracing::error!(error = %cause, "internal error");
                "The server could not complete the request.".to_owned()
            }
            other => other.to_string(),
        };
        let mut res = HttpResponse::build(self.status_code());
        if let Self::Unauthorized { realm, code, .. } = self {
            // RFC 6750: `invalid_token` when a credential was sent and did not check out.
            let value = match *code {
                "invalid_credentials" => format!("Bearer realm=\"{realm}\", error=\"invalid_token\""),
                _ => format!("Bearer realm=\"{realm}\""),
            };
            res.insert_header((header::WWW_AUTHENTICATE, value));
        }
        if let Self::TooManyRequests { retry_after, .. } = self {
            res.insert_header((header::RETRY_AFTER, super::rate::retry_after_secs(*retry_after)));
        }
        res.json(ErrorBody::new(self.code(), message))
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
