//! Persistence: questions, answers and the event log, on SQLite (the embedded default) or
//! Postgres. sqlx lives here and nowhere above: callers get domain types and
//! [`DomainError`], never a row type or a `sqlx::Error`.
//!
//! Both backends run the same SQL text where they can (sqlx-sqlite accepts `$N` placeholders)
//! and the same migrations in spirit, one folder per backend. Every change is recorded as an
//! event in the same transaction, under its topic's next seq (see `group_commit`).

mod checkpoint;
pub mod connect;
mod group_commit;
mod rows;

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
use rows::{AnswerRow, EventRow, QuestionRow, event_columns, event_joins};
pub use votes::PostOwner;
pub use webhooks::Lease;

use crate::domain::{
    Answer, DomainError, Event, EventKind, Idempotency, NewAnswer, NewQuestion, Page, Question,
    QuestionSummary, Topic, TopicHead,
};

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

/// Runs the same body against the pool that takes writes: SQLite's one writer, or Postgres'.
macro_rules! with_writer {
    ($store:expr, $pool:ident => $body:expr) => {
        match $store {
            Store::Sqlite { writer: $pool, .. } => $body,
            Store::Postgres($pool, _) => $body,
        }
    };
}

/// In the caller's transaction (SQLite's or Postgres', hence a macro): takes the question
/// topic's next seq from its row and records an event under it; evaluates to the seq.
macro_rules! record_question_event {
    ($tx:expr, $question_id:expr, $kind:expr, $ref_id:expr, $payload:expr, $created_at:expr) => {{
        let seq: i64 =
            sqlx::query_scalar("UPDATE questions SET last_seq = last_seq + 1 WHERE id = $1 RETURNING last_seq")
                .bind($question_id)
                .fetch_one(&mut *$tx)
                .await
                .map_err(db)?;
        sqlx::query(
            "INSERT INTO events (topic, seq, kind, ref_id, payload, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(Topic::Question($question_id).to_string())
        .bind(seq)
        .bind($kind)
        .bind($ref_id)
        .bind($payload)
        .bind($created_at)
        .execute(&mut *$tx)
        .await
        .map_err(db)?;
        seq
    }};
}

/// In the caller's transaction: takes the next seq of the list of questions (`topics` row
/// `questions`) and records an event under it; evaluates to the seq. On Postgres the row
/// lock it takes is held until commit: callers take it last (after any question row), so
/// that writers meet one lock order and hold the one global row as briefly as they can.
macro_rules! record_list_event {
    ($tx:expr, $kind:expr, $ref_id:expr, $payload:expr, $created_at:expr) => {{
        let seq: i64 = sqlx::query_scalar(
            "UPDATE topics SET last_seq = last_seq + 1 WHERE name = 'questions' RETURNING last_seq",
        )
        .fetch_one(&mut *$tx)
        .await
        .map_err(db)?;
        sqlx::query(
            "INSERT INTO events (topic, seq, kind, ref_id, payload, created_at) \
             VALUES ('questions', $1, $2, $3, $4, $5)",
        )
        .bind(seq)
        .bind($kind)
        .bind($ref_id)
        .bind($payload)
        .bind($created_at)
        .execute(&mut *$tx)
        .await
        .map_err(db)?;
        seq
    }};
}

/// In the caller's transaction: records an Idempotency-Key as having stored `resource_id`
/// (a key already recorded, by a concurrent retry, fails as a unique violation: `Conflict`).
macro_rules! remember_key {
    ($tx:expr, $key:expr, $resource_id:expr, $created_at:expr) => {{
        let key: &$crate::domain::Idempotency = $key;
        sqlx::query(
            "INSERT INTO idempotency_keys (owner, key, fingerprint, resource_id, created_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&key.owner)
        .bind(&key.key)
        .bind(&key.fingerprint[..])
        .bind($resource_id)
        .bind($created_at)
        .execute(&mut *$tx)
        .await
        .map_err($crate::store::db)?;
    }};
}

/// One write transaction on a question's topic, the same on both backends: `$body` runs in
/// `$tx` (SQLite: the one writer, `BEGIN IMMEDIATE`; Postgres: the question's row locked
/// first), and `$events` (from the body's outcome, bound to `$out`) go through the broker's
/// commit hook on Postgres before COMMIT. Evaluates to the outcome; `?` in the body returns.
macro_rules! question_tx {
    ($store:expr, $question_id:expr, |$tx:ident| $body:block, |$out:ident| $events:expr) => {{
        // A failed COMMIT leaves the outcome unknown: the caller must not be told to retry.
        let at_commit = |e: sqlx::Error| $crate::domain::DomainError::OutcomeUnknown(e.to_string());
        match $store {
            $crate::store::Store::Sqlite { writer, .. } => {
                let mut $tx = writer.begin_with("BEGIN IMMEDIATE").await.map_err($crate::store::db)?;
                let $out = $body;
                $tx.commit().await.map_err(at_commit)?;
                $out
            }
            $crate::store::Store::Postgres(pool, posts) => {
                let mut $tx = pool.begin().await.map_err($crate::store::db)?;
                $crate::store::lock_question(&mut $tx, $question_id).await?;
                let $out = $body;
                $crate::store::commit_recorded($tx, posts, $events).await?;
                $out
            }
        }
    }};
}

// After the macros: these modules' queries use them too.
mod accepts;
mod accounts;
mod follows;
mod inbox;
mod posts;
mod votes;
mod webhooks;

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
        with_reader!(self, pool => sqlx::query("SELECT 1").execute(pool).await.map(drop)).map_err(db)
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

    /// Stores a question, and its Idempotency-Key record if it has one, in one transaction
    /// that also records its `question` event on the list's topic (`questions`); its own
    /// topic starts with no events (`last_seq` 0). Returns the question and that event.
    pub async fn create_question(
        &self,
        new: NewQuestion,
        idempotency: Option<&Idempotency>,
    ) -> Result<(Question, Event), DomainError> {
        let question = Question {
            id: Uuid::now_v7(),
            title: new.title.into_inner(),
            body: new.body.into_inner(),
            author: new.author.into_inner(),
            author_id: new.author_id,
            created_at: now(),
            answer_count: 0,
            score: 0,
            accepted_answer_id: None,
            last_seq: 0,
            revision: 1,
            edited_at: None,
        };
        let summary = QuestionSummary {
            id: question.id,
            title: question.title.clone(),
            author: question.author.clone(),
            author_id: question.author_id,
            created_at: question.created_at,
        };
        // The summary travels in the event's payload (a title is short): the list's events are
        // read without a join, and a delete that empties the payload leaves nothing behind.
        let payload = serde_json::json!({
            "title": summary.title,
            "author": summary.author,
            "author_id": summary.author_id,
            "created_at": summary.created_at,
        })
        .to_string();
        macro_rules! insert {
            ($tx:expr) => {{
                sqlx::query(
                    "INSERT INTO questions (id, title, body, author, author_id, created_at, answer_count) \
                     VALUES ($1, $2, $3, $4, $5, $6, 0)",
                )
                .bind(question.id)
                .bind(&question.title)
                .bind(&question.body)
                .bind(&question.author)
                .bind(question.author_id)
                .bind(question.created_at)
                .execute(&mut *$tx)
                .await
                .map_err(db)?;
                if let Some(key) = idempotency {
                    remember_key!($tx, key, question.id, question.created_at);
                }
                // Last: on Postgres the list's row is locked from here to COMMIT, and nothing
                // before this (the key's unique index above) may wait while holding it.
                let seq = record_list_event!($tx, "question", question.id, &payload, question.created_at);
                Event { topic: Topic::Questions, seq, kind: EventKind::Question(summary.clone()) }
            }};
        }
        // A failed COMMIT leaves the outcome unknown: the caller must not be told to retry.
        let at_commit = |e: sqlx::Error| DomainError::OutcomeUnknown(e.to_string());
        let event = match self {
            Self::Sqlite { writer, .. } => {
                let mut tx = writer.begin_with("BEGIN IMMEDIATE").await.map_err(db)?;
                let event = insert!(tx);
                tx.commit().await.map_err(at_commit)?;
                event
            }
            Self::Postgres(pool, posts) => {
                let mut tx = pool.begin().await.map_err(db)?;
                let event = insert!(tx);
                commit_recorded(tx, posts, std::slice::from_ref(&event)).await?;
                event
            }
        };
        Ok((question, event))
    }

    pub async fn question(&self, id: Uuid) -> Result<Option<Question>, DomainError> {
        const SQL: &str = "SELECT id, title, body, author, author_id, created_at, answer_count - deleted_answers AS answer_count, score, accepted_answer_id, last_seq, revision, edited_at \
                           FROM questions WHERE id = $1 AND deleted_at IS NULL";
        let row: Option<QuestionRow> =
            with_reader!(self, pool => sqlx::query_as(SQL).bind(id).fetch_optional(pool).await)
                .map_err(db)?;
        Ok(row.map(Into::into))
    }

    /// A page of questions, newest first; `before` is an exclusive cursor (ids are UUIDv7, so
    /// id order is time order) and `next` continues the listing.
    pub async fn question_page(
        &self,
        before: Option<Uuid>,
        limit: i64,
    ) -> Result<Page<Question, Uuid>, DomainError> {
        const SQL: &str = "SELECT id, title, body, author, author_id, created_at, answer_count - deleted_answers AS answer_count, score, accepted_answer_id, last_seq, revision, edited_at FROM questions \
                           WHERE ($1 IS NULL OR id < $1) AND deleted_at IS NULL ORDER BY id DESC LIMIT $2";
        let rows: Vec<QuestionRow> =
            with_reader!(self, pool => sqlx::query_as(SQL).bind(before).bind(limit + 1).fetch_all(pool).await)
                .map_err(db)?;
        Ok(Page::of(rows.into_iter().map(Into::into).collect(), limit, |q: &Question| q.id))
    }

    /// The newest page of questions and the list topic's seq it reflects, read in one
    /// snapshot: a page that shows them and then subscribes to `questions` after that seq
    /// sees every later change exactly once, none of the earlier ones again.
    pub async fn question_page_and_list_seq(
        &self,
        limit: i64,
    ) -> Result<(Page<Question, Uuid>, i64), DomainError> {
        const SEQ: &str = "SELECT last_seq FROM topics WHERE name = 'questions'";
        const PAGE: &str = "SELECT id, title, body, author, author_id, created_at, answer_count - deleted_answers AS answer_count, score, accepted_answer_id, last_seq, revision, edited_at FROM questions \
                            WHERE deleted_at IS NULL ORDER BY id DESC LIMIT $1";
        macro_rules! read {
            ($tx:expr) => {{
                let seq: i64 = sqlx::query_scalar(SEQ).fetch_one(&mut *$tx).await.map_err(db)?;
                let rows: Vec<QuestionRow> =
                    sqlx::query_as(PAGE).bind(limit + 1).fetch_all(&mut *$tx).await.map_err(db)?;
                (seq, rows)
            }};
        }
        let (seq, rows) = match self {
            // A read transaction in WAL mode keeps the snapshot of its first read.
            Self::Sqlite { reader, .. } => {
                let mut tx = reader.begin().await.map_err(db)?;
                let out = read!(tx);
                tx.commit().await.map_err(db)?;
                out
            }
            Self::Postgres(pool, _) => {
                // One snapshot for both reads (READ COMMITTED would take one per statement).
                let mut tx =
                    pool.begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY").await.map_err(db)?;
                let out = read!(tx);
                tx.commit().await.map_err(db)?;
                out
            }
        };
        Ok((Page::of(rows.into_iter().map(Into::into).collect(), limit, |q: &Question| q.id), seq))
    }

    /// A page of a question's answers with `seq > after_seq`, ascending; `next` is the
    /// `after_seq` that continues it.
    pub async fn answer_page(
        &self,
        question_id: Uuid,
        after_seq: i64,
        limit: i64,
    ) -> Result<Page<Answer, i64>, DomainError> {
        Ok(Page::of(self.answers_after(question_id, after_seq, limit + 1).await?, limit, |a| a.seq))
    }

    /// Answers with `seq > after_seq`, ascending, at most `limit` of them.
    pub async fn answers_after(
        &self,
        question_id: Uuid,
        after_seq: i64,
        limit: i64,
    ) -> Result<Vec<Answer>, DomainError> {
        const SQL: &str = "SELECT id, question_id, seq, body, author, author_id, created_at, score, revision, edited_at \
                           FROM answers WHERE question_id = $1 AND seq > $2 AND deleted_at IS NULL ORDER BY seq LIMIT $3";
        let rows: Vec<AnswerRow> = with_reader!(self, pool => sqlx::query_as(SQL)
            .bind(question_id)
            .bind(after_seq)
            .bind(limit)
            .fetch_all(pool)
            .await)
        .map_err(db)?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    /// A question's live answers in reading order, as on Stack Overflow: the accepted answer
    /// first, then by score (highest first), then oldest first (by seq); `offset` of them
    /// skipped, at most `limit`. One statement, so the order and the accepted answer agree.
    pub async fn answers_ranked(
        &self,
        question_id: Uuid,
        offset: i64,
        limit: i64,
    ) -> Result<Vec<Answer>, DomainError> {
        const SQL: &str = "SELECT a.id, a.question_id, a.seq, a.body, a.author, a.author_id, a.created_at, a.score, a.revision, a.edited_at \
                           FROM answers a JOIN questions q ON q.id = a.question_id \
                           WHERE a.question_id = $1 AND a.deleted_at IS NULL \
                           ORDER BY CASE WHEN a.id = q.accepted_answer_id THEN 0 ELSE 1 END, a.score DESC, a.seq \
                           LIMIT $2 OFFSET $3";
        let rows: Vec<AnswerRow> = with_reader!(self, pool => sqlx::query_as(SQL)
            .bind(question_id)
            .bind(limit)
            .bind(offset)
            .fetch_all(pool)
            .await)
        .map_err(db)?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    /// How many live answers come before answer `seq` in the order of [`Self::answers_ranked`];
    /// `None` when the question has no live answer `seq`.
    pub async fn answer_rank(&self, question_id: Uuid, seq: i64) -> Result<Option<i64>, DomainError> {
        const SQL: &str = "SELECT (SELECT count(*) FROM answers o WHERE o.question_id = a.question_id AND o.deleted_at IS NULL \
                             AND (CASE WHEN o.id = q.accepted_answer_id THEN 0 ELSE 1 END, -o.score, o.seq) \
                               < (CASE WHEN a.id = q.accepted_answer_id THEN 0 ELSE 1 END, -a.score, a.seq)) \
                           FROM answers a JOIN questions q ON q.id = a.question_id \
                           WHERE a.question_id = $1 AND a.seq = $2 AND a.deleted_at IS NULL";
        with_reader!(self, pool => sqlx::query_scalar(SQL).bind(question_id).bind(seq).fetch_optional(pool).await)
            .map_err(db)
    }

    /// One answer by its id (what an Idempotency-Key replay returns).
    pub async fn answer(&self, id: Uuid) -> Result<Option<Answer>, DomainError> {
        const SQL: &str = "SELECT id, question_id, seq, body, author, author_id, created_at, score, revision, edited_at \
                           FROM answers WHERE id = $1 AND deleted_at IS NULL";
        let row: Option<AnswerRow> =
            with_reader!(self, pool => sqlx::query_as(SQL).bind(id).fetch_optional(pool).await)
                .map_err(db)?;
        Ok(row.map(Into::into))
    }

    /// Where a topic stands; `None` when it does not exist.
    pub async fn topic_head(&self, topic: Topic) -> Result<Option<TopicHead>, DomainError> {
        let row: Option<(i64, Option<i64>)> = match topic {
            Topic::Question(id) => {
                const SQL: &str = "SELECT last_seq, answer_count - deleted_answers FROM questions WHERE id = $1 AND deleted_at IS NULL";
                with_reader!(self, pool => sqlx::query_as(SQL).bind(id).fetch_optional(pool).await)
            }
            // A topic without an owner row: its seq is kept in `topics`.
            Topic::Questions => {
                const SQL: &str = "SELECT last_seq FROM topics WHERE name = $1";
                let name = topic.to_string();
                with_reader!(self, pool => sqlx::query_scalar(SQL).bind(&name).fetch_optional(pool).await)
                    .map(|seq: Option<i64>| seq.map(|seq| (seq, None)))
            }
            Topic::User(id) => {
                const SQL: &str = "SELECT last_seq, CAST(NULL AS BIGINT) FROM users WHERE id = $1";
                with_reader!(self, pool => sqlx::query_as(SQL).bind(id).fetch_optional(pool).await)
            }
            _ => Ok(None),
        }
        .map_err(db)?;
        Ok(row.map(|(seq, answer_count)| TopicHead { seq, answer_count }))
    }

    /// A topic's events with `after_seq < seq <= up_to_seq`, ascending, at most `limit`.
    pub async fn events_between(
        &self,
        topic: Topic,
        after_seq: i64,
        up_to_seq: i64,
        limit: i64,
    ) -> Result<Vec<Event>, DomainError> {
        const SQL: &str = concat!(
            "SELECT ",
            event_columns!(),
            " FROM events e",
            event_joins!(),
            "WHERE e.topic = $1 AND e.seq > $2 AND e.seq <= $3 ORDER BY e.seq LIMIT $4"
        );
        let rows: Vec<EventRow> = with_reader!(self, pool => sqlx::query_as(SQL)
            .bind(topic.to_string())
            .bind(after_seq)
            .bind(up_to_seq)
            .bind(limit)
            .fetch_all(pool)
            .await)
        .map_err(db)?;
        Ok(rows.into_iter().filter_map(EventRow::into_event).collect())
    }

    /// For each `(topic, after_seq)`, the topic's events after `after_seq`, but at most its
    /// newest `max_per_topic`; grouped by topic, each topic's in seq order. On Postgres, one
    /// query for all question topics, one for all inboxes (and two for the list of questions,
    /// if watched): the NATS broker runs this every few seconds for everything a node watches.
    pub async fn events_after_each(
        &self,
        watched: &[(Topic, i64)],
        max_per_topic: i64,
    ) -> Result<Vec<Event>, DomainError> {
        match self {
            Self::Postgres(pool, _) => {
                // Question and inbox topics in one query each that joins their owner rows for
                // the head; the few topics without an owner row (the list of questions) one by
                // one.
                let mut events = Vec::new();
                let (mut questions, mut question_after) = (Vec::new(), Vec::new());
                let (mut users, mut user_after) = (Vec::new(), Vec::new());
                for &(topic, after) in watched {
                    match topic {
                        Topic::Question(id) => {
                            questions.push(id);
                            question_after.push(after);
                        }
                        Topic::User(id) => {
                            users.push(id);
                            user_after.push(after);
                        }
                        _ => {
                            let Some(head) = self.topic_head(topic).await? else { continue };
                            let from = after.max(head.seq - max_per_topic);
                            events.extend(self.events_between(topic, from, head.seq, max_per_topic).await?);
                        }
                    }
                }
                const USERS_SQL: &str = concat!(
                    "SELECT ",
                    event_columns!(),
                    " FROM unnest($1::uuid[], $2::bigint[]) AS w(user_id, after_seq) \
                      JOIN users u ON u.id = w.user_id \
                      JOIN events e ON e.topic = 'user:' || w.user_id::text \
                                   AND e.seq > GREATEST(w.after_seq, u.last_seq - $3)",
                    event_joins!(),
                    "ORDER BY e.topic, e.seq"
                );
                if !users.is_empty() {
                    let rows: Vec<EventRow> = sqlx::query_as(USERS_SQL)
                        .bind(&users)
                        .bind(&user_after)
                        .bind(max_per_topic)
                        .fetch_all(pool)
                        .await
                        .map_err(db)?;
                    events.extend(rows.into_iter().filter_map(EventRow::into_event));
                }
                let after = question_after;
                const SQL: &str = concat!(
                    "SELECT ",
                    event_columns!(),
                    " FROM unnest($1::uuid[], $2::bigint[]) AS w(question_id, after_seq) \
                      JOIN questions q ON q.id = w.question_id \
                      JOIN events e ON e.topic = 'question:' || w.question_id::text \
                                   AND e.seq > GREATEST(w.after_seq, q.last_seq - $3)",
                    event_joins!(),
                    "ORDER BY e.topic, e.seq"
                );
                if !questions.is_empty() {
                    let rows: Vec<EventRow> = sqlx::query_as(SQL)
                        .bind(&questions)
                        .bind(&after)
                        .bind(max_per_topic)
                        .fetch_all(pool)
                        .await
                        .map_err(db)?;
                    events.extend(rows.into_iter().filter_map(EventRow::into_event));
                }
                events.sort_by_key(|e| (e.topic, e.seq));
                Ok(events)
            }
            Self::Sqlite { .. } => {
                let mut events = Vec::new();
                for &(topic, after) in watched {
                    events.extend(self.events_of(topic, after, max_per_topic).await?);
                }
                Ok(events)
            }
        }
    }

    /// One topic's events after `after`, but at most its newest `max`.
    async fn events_of(&self, topic: Topic, after: i64, max: i64) -> Result<Vec<Event>, DomainError> {
        let Some(head) = self.topic_head(topic).await? else { return Ok(Vec::new()) };
        self.events_between(topic, after.max(head.seq - max), head.seq, max).await
    }

    /// The events at these `(topic, seq)` places, ordered by topic, then seq, skipping any
    /// that do not exist. One query on Postgres (the broker reads a batch of references).
    pub async fn events_at(&self, places: &[(Topic, i64)]) -> Result<Vec<Event>, DomainError> {
        match self {
            Self::Postgres(pool, _) => {
                let (names, seqs): (Vec<String>, Vec<i64>) =
                    places.iter().map(|(t, s)| (t.to_string(), *s)).unzip();
                const SQL: &str = concat!(
                    "SELECT ",
                    event_columns!(),
                    " FROM unnest($1::text[], $2::bigint[]) AS w(topic, seq) \
                      JOIN events e ON e.topic = w.topic AND e.seq = w.seq",
                    event_joins!(),
                    "ORDER BY e.topic, e.seq"
                );
                let rows: Vec<EventRow> =
                    sqlx::query_as(SQL).bind(&names).bind(&seqs).fetch_all(pool).await.map_err(db)?;
                Ok(rows.into_iter().filter_map(EventRow::into_event).collect())
            }
            // A single node never reads by reference; kept correct, not fast.
            Self::Sqlite { .. } => {
                let mut places = places.to_vec();
                places.sort();
                let mut events = Vec::with_capacity(places.len());
                for (topic, seq) in places {
                    events.extend(self.events_between(topic, seq - 1, seq, 1).await?);
                }
                Ok(events)
            }
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
            group_commit::Failure::BeforeCommit(e) => db(e),
            group_commit::Failure::AtCommit(e) => DomainError::OutcomeUnknown(e.to_string()),
            group_commit::Failure::Revoked => {
                DomainError::invalid_credentials("The token is unknown or revoked.")
            }
        })
    }
}

/// Postgres: locks a question's row, which every writer of its topic locks first (one lock
/// order, so writers cannot deadlock); false when there is no such question.
async fn lock_question(tx: &mut sqlx::PgConnection, id: Uuid) -> Result<bool, DomainError> {
    let found: Option<i32> = sqlx::query_scalar("SELECT 1 FROM questions WHERE id = $1 FOR UPDATE")
        .bind(id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
    Ok(found.is_some())
}

/// Postgres: runs the broker's commit hook for the events the transaction recorded (so other
/// nodes hear of them exactly when they commit), then commits.
async fn commit_recorded(
    mut tx: sqlx::Transaction<'_, sqlx::Postgres>,
    posts: &group_commit::GroupCommit,
    events: &[Event],
) -> Result<(), DomainError> {
    if let (false, Some(hook)) = (events.is_empty(), posts.hook()) {
        hook.before_commit(&mut tx, events).await.map_err(db)?;
    }
    // A failed COMMIT leaves the outcome unknown: the caller must not be told to retry.
    tx.commit().await.map_err(|e| DomainError::OutcomeUnknown(e.to_string()))
}

/// Maps a database failure to the domain's terms: unreachable is worth a retry, a unique key
/// taken is a conflict (callers say which), anything else is internal. The cause travels
/// along for the log.
fn db(e: sqlx::Error) -> DomainError {
    match e {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::WorkerCrashed => DomainError::Unavailable(e.to_string()),
        // The server went away under a statement (before any commit, which maps its own
        // failures to OutcomeUnknown): a restart or failover, nothing written — retry later.
        sqlx::Error::Database(ref d) if d.code().is_some_and(|c| connection_lost(&c)) => {
            DomainError::Unavailable(e.to_string())
        }
        // A deadlock victim or a serialization failure: rolled back, nothing written — retry.
        sqlx::Error::Database(ref d) if d.code().is_some_and(|c| matches!(c.as_ref(), "40P01" | "40001")) => {
            DomainError::Unavailable(e.to_string())
        }
        sqlx::Error::Database(ref d) if d.is_unique_violation() => {
            DomainError::Conflict { code: "conflict", message: "That already exists.".into() }
        }
        other => DomainError::Internal(format!("database: {other}")),
    }
}

/// SQLSTATEs of a server that is going or gone: connection exceptions (class 08), shutdowns
/// and a server not accepting connections yet (57P01–57P03), no connection slot left (53300).
fn connection_lost(code: &str) -> bool {
    code.starts_with("08") || matches!(code, "57P01" | "57P02" | "57P03" | "53300")
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
