//! The records the API returns and accepts.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sqlx::FromRow, ToSchema)]
pub struct Question {
    pub id: Uuid,
    pub title: String,
    pub body: String,
    pub author: String,
    pub created_at: DateTime<Utc>,
    /// How many answers the question has; also the highest answer `seq`.
    pub answer_count: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sqlx::FromRow, ToSchema)]
pub struct Answer {
    pub id: Uuid,
    pub question_id: Uuid,
    /// Position of the answer in its question: 1, 2, 3, … contiguous, in commit order.
    pub seq: i64,
    pub body: String,
    pub author: String,
    pub created_at: DateTime<Utc>,
}

/// A question to create (validated by the API before it gets here).
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct NewQuestion {
    /// 1 to 300 characters.
    #[schema(min_length = 1, max_length = 300)]
    pub title: String,
    /// 1 to 30,000 characters.
    #[schema(min_length = 1, max_length = 30000)]
    pub body: String,
    /// 1 to 64 characters.
    #[schema(min_length = 1, max_length = 64)]
    pub author: String,
}

/// An answer to post (validated by the API before it gets here).
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct NewAnswer {
    /// 1 to 30,000 characters.
    #[schema(min_length = 1, max_length = 30000)]
    pub body: String,
    /// 1 to 64 characters.
    #[schema(min_length = 1, max_length = 64)]
    pub author: String,
}

/// Length limits, in characters, that the API and the web forms both enforce.
pub mod limits {
    pub const TITLE: usize = 300;
    pub const BODY: usize = 30_000;
    pub const AUTHOR: usize = 64;
}
