//! Group commit for SQLite answer posts.
//!
//! SQLite has one writer, and sqlx runs every statement on a connection's own thread, so a
//! post costs four cross-thread round trips (BEGIN, UPDATE, INSERT, COMMIT) plus a WAL
//! commit. Under load, posts queue for the writer anyway; this task takes everything queued
//! (up to [`MAX_BATCH`]) and commits it as one transaction, so BEGIN, COMMIT and the WAL write
//! are paid once per batch. Alone, a post still commits at once: nothing waits to fill a
//! batch. Seq allocation is unchanged (the same UPDATE … RETURNING per post, in queue order).
//! docs/benchmarks.md has the before/after figures.

use std::fmt;

use chrono::{DateTime, Utc};
use sqlx::SqlitePool;
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use super::NewAnswer;

/// Most posts committed in one transaction; bounds how long one commit holds the writer.
const MAX_BATCH: usize = 256;

pub(super) struct Job {
    pub id: Uuid,
    pub question_id: Uuid,
    pub new: NewAnswer,
    pub created_at: DateTime<Utc>,
    pub reply: oneshot::Sender<sqlx::Result<Option<i64>>>,
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
    pub fn start(writer: SqlitePool) -> Self {
        let (jobs, rx) = mpsc::channel(4 * MAX_BATCH);
        tokio::spawn(run(writer, rx));
        Self { jobs }
    }

    /// Stores the answer; `Ok(None)` when the question does not exist.
    pub async fn post(
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

async fn run(writer: SqlitePool, mut rx: mpsc::Receiver<Job>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        match commit(&writer, &batch).await {
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
                    let outcome = commit(&writer, std::slice::from_ref(&job)).await.map(|seqs| seqs[0]);
                    let _ = job.reply.send(outcome);
                }
            }
        }
    }
}

/// Stores every job's answer in one transaction; per job, its seq or `None` for an unknown
/// question.
async fn commit(writer: &SqlitePool, jobs: &[Job]) -> sqlx::Result<Vec<Option<i64>>> {
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
