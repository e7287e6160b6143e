//! Persistence: questions, answers and the event log, on SQLite (the embedded default) or
//! Postgres. sqlx lives here and nowhere above: callers get domain types and
//! [`DomainError`], never a row type or a `sqlx::Error`.
//!
//! Both backends run the same SQL text where they can (sqlx-sqlite accepts `$N` placeholders)
//! and the same migrations in spirit, one folder per backend; what really differs between
//! them is stated once, in `engine`. Every change is recorded as an event in the same
//! transaction, under its topic's next seq (see `events` and `group_commit`). A database
//! error reaches callers as a [`DomainError`] that keeps it as its cause (see `error`).

mod accepts;
mod accounts;
mod checkpoint;
pub mod connect;
mod engine;
mod error;
mod events;
mod follows;
mod group_commit;
mod inbox;
mod markdown;
mod posts;
mod questions;
mod rows;
mod tag_watch;
mod votes;
mod webhooks;

use std::{str::FromStr, sync::Arc, time::Duration};

use chrono::{SubsecRound, Utc};
use sqlx::{
    PgPool, SqlitePool,
    migrate::Migrator,
    postgres::PgPoolOptions,
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
};
use uuid::Uuid;

pub use accounts::{IdempotencyRecord, Login, NewUser, Revoked, SessionRecord};
pub use group_commit::CommitHook;
pub use tag_watch::TagWatcher;
pub use votes::PostOwner;
pub use webhooks::Lease;

use crate::domain::{DomainError, Event, Idempotency, NewAnswer};

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/postgres");

/// A handle to the database; cheap to clone.
#[derive(Clone, Debug)]
pub enum Store {
    /// SQLite allows one writer at a time. Funnelling every write through a one-connection
    /// pool queues writers in-process instead of letting them race for the file lock, so a
    /// post never fails with "database is locked"; reads go through their own pool (WAL lets
    /// them run beside the writer).
    Sqlite {
        reader: SqlitePool,
        writer: SqlitePool,
        /// Answer posts, committed in batches through `writer`.
        posts: group_commit::GroupCommit,
    },
    /// The pool, and answer posts committed in batches through it.
    Postgres(PgPool, group_commit::GroupCommit),
}

impl Store {
    /// Connects to `url` without running migrations. A failure is a [`connect::ConnectError`]:
    /// one sentence naming what to change.
    pub async fn connect(url: &str, pool_size: u32, durable: bool) -> anyhow::Result<Self> {
        if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            let options = connect::postgres_options(url)?;
            let pool = match PgPoolOptions::new()
                .max_connections(pool_size)
                .acquire_timeout(Duration::from_secs(10))
                .connect_with(options.clone())
                .await
            {
                Ok(pool) => pool,
                // Refused connections are retried until the time-out (the database may be
                // starting beside us); the time-out alone would not say what went wrong.
                Err(sqlx::Error::PoolTimedOut) => {
                    let cause = connect::probe(&options).await.unwrap_or(sqlx::Error::PoolTimedOut);
                    return Err(connect::explain(&cause, &options).into());
                }
                Err(e) => return Err(connect::explain(&e, &options).into()),
            };
            let posts = group_commit::GroupCommit::postgres(pool.clone());
            Ok(Self::Postgres(pool, posts))
        } else if url.starts_with("sqlite:") {
            let cannot_open = |e: sqlx::Error| {
                connect::ConnectError::new(format!(
                    "cannot open the SQLite database {url:?} ({}); check that its folder exists and is \
                     writable, or change DATABASE_URL (--database-url)",
                    e.to_string().split_whitespace().collect::<Vec<_>>().join(" ")
                ))
            };
            let options = SqliteConnectOptions::from_str(url)
                .map_err(cannot_open)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                // FULL syncs the WAL at every commit (one sync per batch: see `group_commit`).
                // NORMAL loses no committed data on a process crash, only on power loss, but
                // then the lost answers' seqs would be handed out again.
                .synchronous(if durable { SqliteSynchronous::Full } else { SqliteSynchronous::Normal })
                .foreign_keys(true)
                // Other processes (`qa-hub migrate`, a backup) may hold the lock briefly.
                .busy_timeout(Duration::from_secs(10));
            // The writer never checkpoints itself: see `checkpoint`.
            // Neither pool pings a connection before lending it (sqlx's default): an in-process
            // SQLite connection cannot go stale, and the ping is a round trip to the
            // connection's thread on every acquire, i.e. on every post batch and every read.
            let writer = SqlitePoolOptions::new()
                .max_connections(1)
                .test_before_acquire(false)
                .acquire_timeout(Duration::from_secs(30))
                .connect_with(options.clone().pragma("wal_autocheckpoint", "0"))
                .await
                .map_err(cannot_open)?;
            checkpoint::start(options.clone(), writer.clone()).await?;
            let reader = SqlitePoolOptions::new()
                .max_connections(pool_size)
                .test_before_acquire(false)
                .acquire_timeout(Duration::from_secs(10))
                .connect_with(options.read_only(true))
                .await
                .map_err(cannot_open)?;
            let posts = group_commit::GroupCommit::sqlite(writer.clone(), reader.clone());
            Ok(Self::Sqlite { reader, writer, posts })
        } else {
            Err(connect::ConnectError::new(format!(
                "DATABASE_URL (--database-url) {:?} is not supported: use sqlite://FILE or postgres://USER@HOST/DB",
                connect::redact(url)
            ))
            .into())
        }
    }

    pub async fn migrate(&self) -> anyhow::Result<()> {
        match self {
            Self::Sqlite { writer, .. } => SQLITE_MIGRATIONS.run(writer).await?,
            Self::Postgres(pool, _) => POSTGRES_MIGRATIONS.run(pool).await?,
        }
        // The migrations' aftermath in Rust: rows from before `body_html` get theirs.
        let filled = self.fill_body_html().await?;
        if filled > 0 {
            tracing::info!(rows = filled, "rendered the Markdown of posts written before body_html");
        }
        Ok(())
    }

    pub fn backend(&self) -> &'static str {
        match self {
            Self::Sqlite { .. } => "sqlite",
            Self::Postgres(..) => "postgres",
        }
    }

    /// The options every connection of the Postgres pool uses (TLS included), for another
    /// connection that must match them (the broker's listener); `None` on SQLite.
    pub fn postgres_connect_options(&self) -> Option<sqlx::postgres::PgConnectOptions> {
        match self {
            Self::Postgres(pool, _) => Some((*pool.connect_options()).clone()),
            Self::Sqlite { .. } => None,
        }
    }

    /// (pool name, connections open, of which idle) for each pool, for metrics.
    pub fn pool_stats(&self) -> Vec<(&'static str, u32, usize)> {
        match self {
            Self::Sqlite { reader, writer, .. } => vec![
                ("sqlite_reader", reader.size(), reader.num_idle()),
                ("sqlite_writer", writer.size(), writer.num_idle()),
            ],
            Self::Postgres(pool, _) => vec![("postgres", pool.size(), pool.num_idle())],
        }
    }

    /// Succeeds when the database answers a trivial query.
    pub async fn ping(&self) -> Result<(), DomainError> {
        self.read("SELECT 1").execute().await?;
        Ok(())
    }

    /// Has `hook` run inside every Postgres transaction that records events, just before it
    /// commits (the Postgres broker announces them there). Set once, at start-up.
    pub fn set_commit_hook(&self, hook: Arc<dyn CommitHook>) {
        if let Self::Postgres(_, posts) = self {
            posts.set_hook(hook);
        }
    }

    pub async fn close(&self) {
        match self {
            Self::Sqlite { reader, writer, .. } => {
                writer.close().await;
                reader.close().await;
            }
            Self::Postgres(pool, _) => pool.close().await,
        }
    }

    /// Stores an answer under its question's next answer number and records it as an event
    /// under the question topic's next seq, in one transaction. Returns the event (`None`,
    /// having written nothing, when the question does not exist).
    /// With an Idempotency-Key, its record is written in the same transaction; a key already
    /// recorded (a concurrent retry) is a `Conflict`. With `recheck_token` (a service token's
    /// hash), the post is refused (`Unauthenticated`) if that token has been revoked.
    pub async fn post_answer(
        &self,
        question_id: Uuid,
        new: NewAnswer,
        idempotency: Option<Idempotency>,
        recheck_token: Option<Vec<u8>>,
    ) -> Result<Option<Event>, DomainError> {
        let (Self::Sqlite { posts, .. } | Self::Postgres(_, posts)) = self;
        // Batched with whatever other posts are queued: see `group_commit`.
        let posted = posts.post(Uuid::now_v7(), question_id, new, idempotency, recheck_token, now()).await;
        posted.map_err(|failure| match failure {
            group_commit::Failure::BeforeCommit(e) => error::classify(e),
            group_commit::Failure::AtCommit(e) => error::at_commit(e),
            group_commit::Failure::Revoked => {
                DomainError::invalid_credentials("The token is unknown or revoked.")
            }
        })
    }
}

/// Postgres keeps microseconds; trimming here makes a value read back equal the one returned.
fn now() -> chrono::DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `durable` promises is the writer's `synchronous` setting: FULL (2) syncs the WAL at
    /// every commit, NORMAL (1) only at checkpoints.
    #[tokio::test]
    async fn durable_sqlite_syncs_every_commit() {
        let dir = tempfile::tempdir().unwrap();
        for (durable, expected) in [(true, 2), (false, 1)] {
            let url = format!("sqlite://{}/{durable}.db", dir.path().display());
            let store = Store::connect(&url, 1, durable).await.unwrap();
            let Store::Sqlite { writer, .. } = &store else { unreachable!("an SQLite URL") };
            let synchronous: i64 = sqlx::query_scalar("PRAGMA synchronous").fetch_one(writer).await.unwrap();
            assert_eq!(synchronous, expected, "durable = {durable}");
            store.close().await;
        }
    }
}
