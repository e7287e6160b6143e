//! What differs between SQLite and Postgres, stated once; every query elsewhere in the store
//! is written once, against the types here.
//!
//! Both engines run the same SQL text (sqlx-sqlite accepts `$N` placeholders), so a
//! [`Query`] is a statement and its arguments, bound for whichever engine the [`Store`] runs
//! on: its values must encode on both ([`Value`]), its rows decode from both ([`Row`]).
//! What really differs lives in [`Tx`], a write transaction:
//! - how it begins: SQLite's one writer connection with `BEGIN IMMEDIATE` (the write lock up
//!   front, so another process holding it makes us wait instead of failing on a read-to-write
//!   upgrade); Postgres' pool, where writers of one topic serialise on its owner's row
//!   ([`Tx::lock_question`], [`Tx::lock_user`]: no-ops on SQLite, whose one writer is the lock);
//! - how it commits: on Postgres the broker's [`CommitHook`] (NOTIFY) runs in the transaction
//!   just before COMMIT, so other nodes hear of its events exactly when they commit;
//! - how a read sees one snapshot ([`Store::snapshot`]).
//!
//! The rest of the difference is in the queries that only one engine can run, each beside its
//! twin in a `match` on the [`Store`]: the batched reads ([`Store::events_after_each`],
//! [`Store::events_at`]: `unnest` on Postgres) and the group commit's statements
//! (`group_commit`).

use std::sync::Arc;

use sqlx::{
    Arguments, Database, Encode, Executor, FromRow, IntoArguments, PgPool, Pool, Postgres, Sqlite,
    SqlitePool, Transaction, Type,
    error::BoxDynError,
    postgres::{PgArguments, PgRow},
    sqlite::{SqliteArguments, SqliteRow},
};

use super::{CommitHook, Store};
use crate::domain::{DomainError, Event};

/// A value that binds on both engines.
pub(super) trait Value<'t>:
    Encode<'t, Sqlite> + Type<Sqlite> + Encode<'t, Postgres> + Type<Postgres>
{
}

impl<'t, T> Value<'t> for T where T: Encode<'t, Sqlite> + Type<Sqlite> + Encode<'t, Postgres> + Type<Postgres> {}

/// A row that decodes from both engines (a `#[derive(sqlx::FromRow)]` struct, or a tuple).
pub(super) trait Row:
    for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin
{
}

impl<T> Row for T where T: for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin {}

/// Where a statement runs: a pool (which lends it a connection) or a transaction's connection.
enum Exec<'a, DB: Database> {
    Pool(&'a Pool<DB>),
    Conn(&'a mut DB::Connection),
}

/// One statement, bound for the engine it will run on.
pub(super) struct Query<'a> {
    sql: &'static str,
    on: On<'a>,
    /// The first value that failed to encode: reported when the query runs, as sqlx's `bind`.
    bind_error: Option<BoxDynError>,
}

enum On<'a> {
    Sqlite(Exec<'a, Sqlite>, SqliteArguments),
    Postgres(Exec<'a, Postgres>, PgArguments),
}

impl<'a> Query<'a> {
    fn new(sql: &'static str, on: On<'a>) -> Self {
        Self { sql, on, bind_error: None }
    }

    /// Binds the next `$N`.
    pub(super) fn bind<'t, T: Value<'t>>(mut self, value: T) -> Self {
        let added = match &mut self.on {
            On::Sqlite(_, args) => args.add(value),
            On::Postgres(_, args) => args.add(value),
        };
        if let Err(e) = added {
            self.bind_error.get_or_insert(e);
        }
        self
    }

    /// Runs the statement; the number of rows it changed.
    pub(super) async fn execute(self) -> sqlx::Result<u64> {
        if let Some(e) = self.bind_error {
            return Err(sqlx::Error::Encode(e));
        }
        match self.on {
            On::Sqlite(exec, args) => exec.execute(self.sql, args).await.map(|done| done.rows_affected()),
            On::Postgres(exec, args) => exec.execute(self.sql, args).await.map(|done| done.rows_affected()),
        }
    }

    pub(super) async fn fetch_all<T: Row>(self) -> sqlx::Result<Vec<T>> {
        if let Some(e) = self.bind_error {
            return Err(sqlx::Error::Encode(e));
        }
        match self.on {
            On::Sqlite(exec, args) => exec.fetch_all(self.sql, args).await,
            On::Postgres(exec, args) => exec.fetch_all(self.sql, args).await,
        }
    }

    pub(super) async fn fetch_optional<T: Row>(self) -> sqlx::Result<Option<T>> {
        if let Some(e) = self.bind_error {
            return Err(sqlx::Error::Encode(e));
        }
        match self.on {
            On::Sqlite(exec, args) => exec.fetch_optional(self.sql, args).await,
            On::Postgres(exec, args) => exec.fetch_optional(self.sql, args).await,
        }
    }

    pub(super) async fn fetch_one<T: Row>(self) -> sqlx::Result<T> {
        self.fetch_optional().await?.ok_or(sqlx::Error::RowNotFound)
    }

    /// The first column of every row.
    pub(super) async fn scalar_all<T>(self) -> sqlx::Result<Vec<T>>
    where
        (T,): Row,
    {
        Ok(self.fetch_all::<(T,)>().await?.into_iter().map(|(value,)| value).collect())
    }

    pub(super) async fn scalar_optional<T>(self) -> sqlx::Result<Option<T>>
    where
        (T,): Row,
    {
        Ok(self.fetch_optional::<(T,)>().await?.map(|(value,)| value))
    }

    pub(super) async fn scalar_one<T>(self) -> sqlx::Result<T>
    where
        (T,): Row,
    {
        Ok(self.fetch_one::<(T,)>().await?.0)
    }
}

impl<DB: Database> Exec<'_, DB>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
{
    async fn execute(self, sql: &'static str, args: DB::Arguments) -> sqlx::Result<DB::QueryResult> {
        let query = sqlx::query_with::<DB, _>(sql, args);
        match self {
            Self::Pool(pool) => query.execute(pool).await,
            Self::Conn(conn) => query.execute(conn).await,
        }
    }

    async fn fetch_all<T>(self, sql: &'static str, args: DB::Arguments) -> sqlx::Result<Vec<T>>
    where
        T: for<'r> FromRow<'r, DB::Row> + Send + Unpin,
    {
        let query = sqlx::query_as_with::<DB, T, _>(sql, args);
        match self {
            Self::Pool(pool) => query.fetch_all(pool).await,
            Self::Conn(conn) => query.fetch_all(conn).await,
        }
    }

    async fn fetch_optional<T>(self, sql: &'static str, args: DB::Arguments) -> sqlx::Result<Option<T>>
    where
        T: for<'r> FromRow<'r, DB::Row> + Send + Unpin,
    {
        let query = sqlx::query_as_with::<DB, T, _>(sql, args);
        match self {
            Self::Pool(pool) => query.fetch_optional(pool).await,
            Self::Conn(conn) => query.fetch_optional(conn).await,
        }
    }
}

/// A transaction on either engine. Dropped without [`Tx::commit`], it rolls back.
pub(super) enum Tx {
    Sqlite(Transaction<'static, Sqlite>),
    Postgres(Transaction<'static, Postgres>, Option<Arc<dyn CommitHook>>),
}

impl Tx {
    /// A statement in this transaction.
    pub(super) fn query(&mut self, sql: &'static str) -> Query<'_> {
        match self {
            Self::Sqlite(tx) => {
                Query::new(sql, On::Sqlite(Exec::Conn(&mut **tx), SqliteArguments::default()))
            }
            Self::Postgres(tx, _) => {
                Query::new(sql, On::Postgres(Exec::Conn(&mut **tx), PgArguments::default()))
            }
        }
    }

    /// Postgres: locks a question's row, which every writer of its topic locks first (one lock
    /// order, so writers cannot deadlock); false when there is no such question. SQLite: its
    /// one writer already excludes every other, so this reads nothing and says true.
    pub(super) async fn lock_question(&mut self, id: uuid::Uuid) -> sqlx::Result<bool> {
        match self {
            Self::Sqlite(_) => Ok(true),
            Self::Postgres(..) => {
                let found: Option<i32> = self
                    .query("SELECT 1 FROM questions WHERE id = $1 FOR UPDATE")
                    .bind(id)
                    .scalar_optional()
                    .await?;
                Ok(found.is_some())
            }
        }
    }

    /// Postgres: locks a user's row, as every writer of their topic does first. SQLite: nothing
    /// (see [`Tx::lock_question`]).
    pub(super) async fn lock_user(&mut self, id: uuid::Uuid) -> sqlx::Result<()> {
        match self {
            Self::Sqlite(_) => Ok(()),
            Self::Postgres(..) => {
                self.query("SELECT 1 FROM users WHERE id = $1 FOR UPDATE").bind(id).execute().await.map(drop)
            }
        }
    }

    /// Commits a write that recorded `events`. On Postgres the broker's commit hook announces
    /// them first, in the transaction, so other nodes hear of them exactly when they commit.
    /// A failed COMMIT leaves the outcome unknown: the caller must not be told to retry.
    pub(super) async fn commit(self, events: &[Event]) -> Result<(), DomainError> {
        let committed = match self {
            Self::Sqlite(tx) => tx.commit().await,
            Self::Postgres(mut tx, hook) => {
                if let (false, Some(hook)) = (events.is_empty(), hook) {
                    hook.before_commit(&mut tx, events).await?;
                }
                tx.commit().await
            }
        };
        committed.map_err(super::error::at_commit)
    }

    /// Ends a read-only transaction (see [`Store::snapshot`]).
    pub(super) async fn end_read(self) -> sqlx::Result<()> {
        match self {
            Self::Sqlite(tx) => tx.commit().await,
            Self::Postgres(tx, _) => tx.commit().await,
        }
    }
}

impl Store {
    /// A read, on the readers' pool (SQLite: beside the writer, thanks to WAL).
    pub(super) fn read(&self, sql: &'static str) -> Query<'_> {
        match self {
            Self::Sqlite { reader, .. } => Query::new(sql, sqlite_pool(reader)),
            Self::Postgres(pool, _) => Query::new(sql, postgres_pool(pool)),
        }
    }

    /// A write that records no event, in a transaction of its own; SQLite's one writer takes
    /// it (so it queues behind the other writes instead of failing on the file lock).
    pub(super) fn write(&self, sql: &'static str) -> Query<'_> {
        match self {
            Self::Sqlite { writer, .. } => Query::new(sql, sqlite_pool(writer)),
            Self::Postgres(pool, _) => Query::new(sql, postgres_pool(pool)),
        }
    }

    /// Begins a write transaction: SQLite's one writer with `BEGIN IMMEDIATE`; on Postgres a
    /// connection of the pool, committed through the broker's hook.
    pub(super) async fn begin(&self) -> sqlx::Result<Tx> {
        match self {
            Self::Sqlite { writer, .. } => Ok(Tx::Sqlite(writer.begin_with("BEGIN IMMEDIATE").await?)),
            Self::Postgres(pool, posts) => Ok(Tx::Postgres(pool.begin().await?, posts.hook())),
        }
    }

    /// Begins a read-only transaction whose reads all see one snapshot.
    pub(super) async fn snapshot(&self) -> sqlx::Result<Tx> {
        match self {
            // A read transaction in WAL mode keeps the snapshot of its first read.
            Self::Sqlite { reader, .. } => Ok(Tx::Sqlite(reader.begin().await?)),
            // READ COMMITTED would take one snapshot per statement.
            Self::Postgres(pool, _) => Ok(Tx::Postgres(
                pool.begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY").await?,
                None,
            )),
        }
    }
}

fn sqlite_pool(pool: &SqlitePool) -> On<'_> {
    On::Sqlite(Exec::Pool(pool), SqliteArguments::default())
}

fn postgres_pool(pool: &PgPool) -> On<'_> {
    On::Postgres(Exec::Pool(pool), PgArguments::default())
}
