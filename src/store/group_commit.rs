//! Group commit for answer posts, on both engines.
//!
//! SQLite has one writer, and sqlx runs every statement on a connection's own thread, so a
//! post costs four cross-thread round trips (BEGIN, UPDATE, INSERT, COMMIT) plus a WAL
//! commit. On Postgres every post's transaction calls `pg_notify`, and a transaction that
//! notifies holds a global lock through its commit, WAL flush included: commits of posts are
//! serialised one flush at a time, whatever the pool size.
//!
//! Under load posts queue for the writer anyway, so this task takes everything queued (up to
//! [`MAX_BATCH`]) and commits it as one transaction: BEGIN, COMMIT, the WAL flush and (on
//! Postgres) the notify lock are paid once per batch. Alone, a post still commits at once:
//! nothing waits to fill a batch. Seq allocation is unchanged (the same statements per post,
//! in queue order), and Postgres delivers a batch's notifications on its commit.
//! docs/benchmarks.md has the before/after figures.

use std::{fmt, sync::Arc};

use chrono::{DateTime, Utc};
use sqlx::{PgPool, SqlitePool};
use tokio::sync::{Mutex, mpsc, oneshot};
use uuid::Uuid;

use super::{ANSWER_CHANNEL, NewAnswer};

/// Most posts committed in one transaction; bounds how long one commit holds the writer.
const MAX_BATCH: usize = 256;

pub(super) struct Job {
    pub id: Uuid,
    pub question_id: Uuid,
    pub new: NewAnswer,
    pub created_at: DateTime<Utc>,
    pub reply: oneshot::Sender<sqlx::Result<Option<i64>>>,
}

/// Where batches are committed.
pub(super) enum Writer {
    /// The one-connection writer pool.
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// A handle to the committing task; cheap to clone. The task ends when every handle is gone.
#[derive(Clone)]
pub struct GroupCommit {
    jobs: mpsc::Sender<Job>,
}

impl fmt::Debug for GroupCommit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GroupCommit").finish_non_exhaustive()
    }
}

impl GroupCommit {
    pub(super) fn start(writer: Writer) -> Self {
        let (jobs, rx) = mpsc::channel(4 * MAX_BATCH);
        // SQLite has one writer. Postgres gets two committers, so that one batch's statements
        // run while the other's commit waits for its WAL flush.
        let committers = match writer {
            Writer::Sqlite(_) => 1,
            Writer::Postgres(_) => 2,
        };
        let (writer, rx) = (Arc::new(writer), Arc::new(Mutex::new(rx)));
        for _ in 0..committers {
            tokio::spawn(run(writer.clone(), rx.clone()));
        }
        Self { jobs }
    }

    /// Stores the answer; `Ok(None)` when the question does not exist.
    pub(super) async fn post(
        &self,
        id: Uuid,
        question_id: Uuid,
        new: NewAnswer,
        created_at: DateTime<Utc>,
    ) -> sqlx::Result<Option<i64>> {
        let (reply, outcome) = oneshot::channel();
        let job = Job { id, question_id, new, created_at, reply };
        self.jobs.send(job).await.map_err(|_| sqlx::Error::PoolClosed)?;
        outcome.await.map_err(|_| sqlx::Error::PoolClosed)?
    }
}

async fn run(writer: Arc<Writer>, rx: Arc<Mutex<mpsc::Receiver<Job>>>) {
    let writer = &*writer;
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while rx.lock().await.recv_many(&mut batch, MAX_BATCH).await > 0 {
        // Concurrent batches lock question rows in one order, so they cannot deadlock; the
        // sort is stable, so posts to one question keep their queue order.
        batch.sort_by_key(|job| job.question_id);
        match commit(writer, &batch).await {
            Ok(seqs) => {
                for (job, seq) in batch.drain(..).zip(seqs) {
                    let _ = job.reply.send(Ok(seq));
                }
            }
            Err(e) if batch.len() == 1 => {
                let _ = batch.pop().expect("one job").reply.send(Err(e));
            }
            // The whole batch rolled back; one bad post must not fail the others, so each
            // gets a transaction of its own.
            Err(_) => {
                for job in batch.drain(..) {
                    let outcome = commit(writer, std::slice::from_ref(&job)).await.map(|seqs| seqs[0]);
                    let _ = job.reply.send(outcome);
                }
            }
        }
    }
}

/// Stores every job's answer in one transaction; per job, its seq or `None` for an unknown
/// question.
async fn commit(writer: &Writer, jobs: &[Job]) -> sqlx::Result<Vec<Option<i64>>> {
    match writer {
        Writer::Sqlite(pool) => commit_sqlite(pool, jobs).await,
        Writer::Postgres(pool) => commit_postgres(pool, jobs).await,
    }
}

async fn commit_postgres(pool: &PgPool, jobs: &[Job]) -> sqlx::Result<Vec<Option<i64>>> {
    let mut tx = pool.begin().await?;
    let mut seqs = Vec::with_capacity(jobs.len());
    for job in jobs {
        // One statement per post: the increment's row lock orders posters of a question, and
        // the NOTIFY goes out on commit, only for answers stored.
        let seq: Option<i64> = sqlx::query_scalar(
            "WITH q AS (UPDATE questions SET answer_count = answer_count + 1 \
                        WHERE id = $2 RETURNING answer_count), \
                  ins AS (INSERT INTO answers (id, question_id, seq, body, author, created_at) \
                          SELECT $1, $2, q.answer_count, $3, $4, $5 FROM q RETURNING seq) \
             SELECT ins.seq FROM ins CROSS JOIN LATERAL ( \
                 SELECT pg_notify($6, json_build_object( \
                     'question_id', $2, 'seq', ins.seq, 'answer_id', $1)::text)) AS n",
        )
        .bind(job.id)
        .bind(job.question_id)
        .bind(&job.new.body)
        .bind(&job.new.author)
        .bind(job.created_at)
        .bind(ANSWER_CHANNEL)
        .fetch_optional(&mut *tx)
        .await?;
        seqs.push(seq);
    }
    tx.commit().await?;
    Ok(seqs)
}

async fn commit_sqlite(writer: &SqlitePool, jobs: &[Job]) -> sqlx::Result<Vec<Option<i64>>> {
    // IMMEDIATE takes the write lock up front, so another process holding it makes us wait
    // (busy_timeout) instead of failing on a read-to-write upgrade.
    let mut tx = writer.begin_with("BEGIN IMMEDIATE").await?;
    let mut seqs = Vec::with_capacity(jobs.len());
    for job in jobs {
        let seq: Option<i64> = sqlx::query_scalar(
            "UPDATE questions SET answer_count = answer_count + 1 WHERE id = $1 RETURNING answer_count",
        )
        .bind(job.question_id)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(seq) = seq {
            sqlx::query(
                "INSERT INTO answers (id, question_id, seq, body, author, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(job.id)
            .bind(job.question_id)
            .bind(seq)
            .bind(&job.new.body)
            .bind(&job.new.author)
            .bind(job.created_at)
            .execute(&mut *tx)
            .await?;
        }
        seqs.push(seq);
    }
    tx.commit().await?;
    Ok(seqs)
}
