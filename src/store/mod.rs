//! Persistence of questions and answers, on SQLite (the embedded default) or Postgres.
//!
//! Both backends run the same SQL text where they can (sqlx-sqlite accepts `$N` placeholders)
//! and the same migrations in spirit, one folder per backend. The one place they differ is
//! posting an answer, where each backend gets the statement that makes `seq` allocation atomic
//! and commit-ordered on that engine.

mod checkpoint;
pub mod connect;
mod group_commit;
mod models;

use std::{str::FromStr, time::Duration};

use chrono::{SubsecRound, Utc};
use sqlx::{
    PgPool, SqlitePool,
    migrate::Migrator,
    postgres::PgPoolOptions,
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
};
use uuid::Uuid;

pub use models::{Answer, NewAnswer, NewQuestion, Question, limits};

/// The Postgres channel on which every committed answer is announced (ids and seq only).
pub const ANSWER_CHANNEL: &str = "qa_hub_answers";

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

/// Runs the same body against whichever pool backs a read, so read paths are written once.
macro_rules! with_reader {
    ($store:expr, $pool:ident => $body:expr) => {
        match $store {
            Store::Sqlite { reader: $pool, .. } => $body,
            Store::Postgres($pool, _) => $body,
        }
    };
}

impl Store {
    /// Connects to `url` without running migrations. A failure is a [`connect::ConnectError`]:
    /// one sentence naming what to change.
    pub async fn connect(url: &str, pool_size: u32) -> anyhow::Result<Self> {
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
            let posts = group_commit::GroupCommit::start(group_commit::Writer::Postgres(pool.clone()));
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
                // With WAL, NORMAL loses no committed data on a process crash, only on power loss.
                .synchronous(SqliteSynchronous::Normal)
                .foreign_keys(true)
                // Other processes (`qa-hub migrate`, a backup) may hold the lock briefly.
                .busy_timeout(Duration::from_secs(10));
            // The writer never checkpoints itself: see `checkpoint`.
            let writer = SqlitePoolOptions::new()
                .max_connections(1)
                .acquire_timeout(Duration::from_secs(30))
                .connect_with(options.clone().pragma("wal_autocheckpoint", "0"))
                .await
                .map_err(cannot_open)?;
            checkpoint::start(options.clone(), writer.clone()).await?;
            let reader = SqlitePoolOptions::new()
                .max_connections(pool_size)
                .acquire_timeout(Duration::from_secs(10))
                .connect_with(options.read_only(true))
                .await
                .map_err(cannot_open)?;
            let posts = group_commit::GroupCommit::start(group_commit::Writer::Sqlite(writer.clone()));
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
        Ok(())
    }

    pub fn backend(&self) -> &'static str {
        match self {
            Self::Sqlite { .. } => "sqlite",
            Self::Postgres(..) => "postgres",
        }
    }

    pub fn postgres_pool(&self) -> Option<&PgPool> {
        match self {
            Self::Postgres(pool, _) => Some(pool),
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
    pub async fn ping(&self) -> sqlx::Result<()> {
        with_reader!(self, pool => sqlx::query("SELECT 1").execute(pool).await.map(drop))
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

    pub async fn create_question(&self, new: NewQuestion) -> sqlx::Result<Question> {
        let question = Question {
            id: Uuid::now_v7(),
            title: new.title,
            body: new.body,
            author: new.author,
            created_at: now(),
            answer_count: 0,
        };
        const SQL: &str = "INSERT INTO questions (id, title, body, author, created_at, answer_count) \
                           VALUES ($1, $2, $3, $4, $5, 0)";
        macro_rules! insert {
            ($pool:expr) => {
                sqlx::query(SQL)
                    .bind(question.id)
                    .bind(&question.title)
                    .bind(&question.body)
                    .bind(&question.author)
                    .bind(question.created_at)
                    .execute($pool)
                    .await
                    .map(drop)?
            };
        }
        match self {
            Self::Sqlite { writer, .. } => insert!(writer),
            Self::Postgres(pool, _) => insert!(pool),
        };
        Ok(question)
    }

    pub async fn question(&self, id: Uuid) -> sqlx::Result<Option<Question>> {
        const SQL: &str = "SELECT id, title, body, author, created_at, answer_count \
                           FROM questions WHERE id = $1";
        with_reader!(self, pool => sqlx::query_as(SQL).bind(id).fetch_optional(pool).await)
    }

    /// A page of questions, newest first; `before` is an exclusive cursor (ids are UUIDv7, so
    /// id order is time order) and `next` continues the listing.
    pub async fn question_page(
        &self,
        before: Option<Uuid>,
        limit: i64,
    ) -> sqlx::Result<Page<Question, Uuid>> {
        Ok(Page::of(self.questions(before, limit + 1).await?, limit, |q| q.id))
    }

    /// A page of a question's answers with `seq > after_seq`, ascending; `next` is the
    /// `after_seq` that continues it.
    pub async fn answer_page(
        &self,
        question_id: Uuid,
        after_seq: i64,
        limit: i64,
    ) -> sqlx::Result<Page<Answer, i64>> {
        Ok(Page::of(self.answers_after(question_id, after_seq, limit + 1).await?, limit, |a| a.seq))
    }

    async fn questions(&self, before: Option<Uuid>, limit: i64) -> sqlx::Result<Vec<Question>> {
        const SQL: &str = "SELECT id, title, body, author, created_at, answer_count FROM questions \
                           WHERE ($1 IS NULL OR id < $1) ORDER BY id DESC LIMIT $2";
        with_reader!(self, pool => sqlx::query_as(SQL).bind(before).bind(limit).fetch_all(pool).await)
    }

    /// The number of answers, which is also the highest seq; `None` for an unknown question.
    pub async fn answer_count(&self, question_id: Uuid) -> sqlx::Result<Option<i64>> {
        const SQL: &str = "SELECT answer_count FROM questions WHERE id = $1";
        with_reader!(self, pool => sqlx::query_scalar(SQL).bind(question_id).fetch_optional(pool).await)
    }

    /// Answers with `after_seq < seq <= up_to_seq`, ascending, at most `limit` of them.
    pub async fn answers_between(
        &self,
        question_id: Uuid,
        after_seq: i64,
        up_to_seq: i64,
        limit: i64,
    ) -> sqlx::Result<Vec<Answer>> {
        const SQL: &str = "SELECT id, question_id, seq, body, author, created_at FROM answers \
                           WHERE question_id = $1 AND seq > $2 AND seq <= $3 ORDER BY seq LIMIT $4";
        with_reader!(self, pool => sqlx::query_as(SQL)
            .bind(question_id)
            .bind(after_seq)
            .bind(up_to_seq)
            .bind(limit)
            .fetch_all(pool)
            .await)
    }

    /// Answers with `seq > after_seq`, ascending, at most `limit` of them.
    pub async fn answers_after(
        &self,
        question_id: Uuid,
        after_seq: i64,
        limit: i64,
    ) -> sqlx::Result<Vec<Answer>> {
        self.answers_between(question_id, after_seq, i64::MAX, limit).await
    }

    /// Stores an answer under the next seq of its question and commits. Returns `None`, having
    /// written nothing, when the question does not exist.
    ///
    /// The seq comes from incrementing `questions.answer_count` in the same transaction: the
    /// row lock that the increment takes serialises posters of one question until commit, so
    /// seqs are contiguous and commit order is seq order on both engines.
    pub async fn post_answer(&self, question_id: Uuid, new: NewAnswer) -> sqlx::Result<Option<Answer>> {
        let id = Uuid::now_v7();
        let created_at = now();
        let seq: Option<i64> = match self {
            // Batched with whatever other posts are queued: see `group_commit`.
            Self::Sqlite { posts, .. } | Self::Postgres(_, posts) => {
                posts.post(id, question_id, new.clone(), created_at).await?
            }
        };
        Ok(seq.map(|seq| Answer { id, question_id, seq, body: new.body, author: new.author, created_at }))
    }
}

/// One page of a listing and the cursor of the next page (`None` on the last one).
#[derive(Debug)]
pub struct Page<T, C> {
    pub items: Vec<T>,
    pub next: Option<C>,
}

impl<T, C> Page<T, C> {
    /// `items` was read with `limit + 1`: the extra row only tells that another page follows.
    fn of(mut items: Vec<T>, limit: i64, cursor: impl Fn(&T) -> C) -> Self {
        let more = items.len() as i64 > limit;
        items.truncate(limit.max(0) as usize);
        let next = if more { items.last().map(cursor) } else { None };
        Self { items, next }
    }
}

/// Postgres keeps microseconds; trimming here makes a value read back equal the one returned.
fn now() -> chrono::DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}
