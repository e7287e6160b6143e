//! Group commit for answer posts, on both engines, and where each post's event is recorded.
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
//! nothing waits to fill a batch. Each post takes two numbers in its transaction: the
//! answer's number in its question (`questions.answer_count`) and the event's seq in its topic
//! (`topics.last_seq`); the row locks of both increments serialise writers of one question
//! until commit, so both are contiguous and in commit order. A [`CommitHook`] (the Postgres
//! broker's NOTIFY) runs in the same transaction, so it is delivered exactly when the batch
//! commits.
//! docs/benchmarks.md has the before/after figures.

use std::{
    fmt,
    sync::{Arc, OnceLock},
};

use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;
use sqlx::{PgConnection, PgPool, SqlitePool};
use tokio::sync::{Mutex, mpsc, oneshot};
use uuid::Uuid;

use crate::domain::{Answer, Event, EventKind, NewAnswer, Topic};

/// Most posts committed in one transaction; bounds how long one commit holds the writer.
const MAX_BATCH: usize = 256;

/// Work done inside a Postgres transaction that recorded `events`, just before it commits:
/// whatever it does takes effect exactly when, and only if, the events do.
pub trait CommitHook: Send + Sync + 'static {
    fn before_commit<'a>(
        &'a self,
        tx: &'a mut PgConnection,
        events: &'a [Event],
    ) -> BoxFuture<'a, sqlx::Result<()>>;
}

pub(super) struct Job {
    id: Uuid,
    question_id: Uuid,
    new: NewAnswer,
    created_at: DateTime<Utc>,
    reply: oneshot::Sender<sqlx::Result<Option<Event>>>,
}

impl Job {
    /// The event this job records once its question's numbers are known.
    fn event(&self, answer_seq: i64, event_seq: i64) -> Event {
        Event {
            topic: Topic::Question(self.question_id),
            seq: event_seq,
            kind: EventKind::Answer(Answer {
                id: self.id,
                question_id: self.question_id,
                seq: answer_seq,
                body: self.new.body.as_str().to_owned(),
                author: self.new.author.as_str().to_owned(),
                created_at: self.created_at,
            }),
        }
    }
}

/// Where batches are committed.
pub(super) enum Writer {
    /// The one-connection writer pool.
    Sqlite(SqlitePool),
    Postgres(PgPool, Arc<OnceLock<Arc<dyn CommitHook>>>),
}

/// A handle to the committing task; cheap to clone. The task ends when every handle is gone.
#[derive(Clone)]
pub struct GroupCommit {
    jobs: mpsc::Sender<Job>,
    hook: Option<Arc<OnceLock<Arc<dyn CommitHook>>>>,
}

impl fmt::Debug for GroupCommit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GroupCommit").finish_non_exhaustive()
    }
}

impl GroupCommit {
    pub(super) fn sqlite(pool: SqlitePool) -> Self {
        Self::start(Writer::Sqlite(pool))
    }

    pub(super) fn postgres(pool: PgPool) -> Self {
        Self::start(Writer::Postgres(pool, Arc::default()))
    }

    fn start(writer: Writer) -> Self {
        let (jobs, rx) = mpsc::channel(4 * MAX_BATCH);
        // SQLite has one writer. Postgres gets two committers, so that one batch's statements
        // run while the other's commit waits for its WAL flush.
        let (committers, hook) = match &writer {
            Writer::Sqlite(_) => (1, None),
            Writer::Postgres(_, hook) => (2, Some(hook.clone())),
        };
        let (writer, rx) = (Arc::new(writer), Arc::new(Mutex::new(rx)));
        for _ in 0..committers {
            tokio::spawn(run(writer.clone(), rx.clone()));
        }
        Self { jobs, hook }
    }

    /// Sets the hook every later Postgres batch runs before it commits; the first one set stays.
    pub(super) fn set_hook(&self, hook: Arc<dyn CommitHook>) {
        if let Some(slot) = &self.hook {
            let _ = slot.set(hook);
        }
    }

    /// Stores the answer and its event; `Ok(None)` when the question does not exist.
    pub(super) async fn post(
        &self,
        id: Uuid,
        question_id: Uuid,
        new: NewAnswer,
        created_at: DateTime<Utc>,
    ) -> sqlx::Result<Option<Event>> {
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
        // Concurrent batches lock question and topic rows in one order, so they cannot
        // deadlock; the sort is stable, so posts to one question keep their queue order.
        batch.sort_by_key(|job| job.question_id);
        match commit(writer, &batch).await {
            Ok(events) => {
                for (job, event) in batch.drain(..).zip(events) {
                    let _ = job.reply.send(Ok(event));
                }
            }
            Err(e) if batch.len() == 1 => {
                let _ = batch.pop().expect("one job").reply.send(Err(e));
            }
            // The whole batch rolled back; one bad post must not fail the others, so each
            // gets a transaction of its own.
            Err(_) => {
                for job in batch.drain(..) {
                    let outcome = commit(writer, std::slice::from_ref(&job)).await.map(|mut e| e.remove(0));
                    let _ = job.reply.send(outcome);
                }
            }
        }
    }
}

/// Stores every job's answer and event in one transaction; per job, its event or `None` for
/// an unknown question.
async fn commit(writer: &Writer, jobs: &[Job]) -> sqlx::Result<Vec<Option<Event>>> {
    match writer {
        Writer::Sqlite(pool) => commit_sqlite(pool, jobs).await,
        Writer::Postgres(pool, hook) => commit_postgres(pool, hook.get(), jobs).await,
    }
}

async fn commit_postgres(
    pool: &PgPool,
    hook: Option<&Arc<dyn CommitHook>>,
    jobs: &[Job],
) -> sqlx::Result<Vec<Option<Event>>> {
    let mut tx = pool.begin().await?;
    let mut events = Vec::with_capacity(jobs.len());
    for job in jobs {
        // One statement per post. `t` reads `q`, so the question's row lock is taken first
        // (the order every writer follows); nothing is written for an unknown question.
        let seqs: Option<(i64, i64)> = sqlx::query_as(
            "WITH q AS (UPDATE questions SET answer_count = answer_count + 1 \
                        WHERE id = $2 RETURNING answer_count), \
                  t AS (UPDATE topics SET last_seq = last_seq + 1 \
                        WHERE name = $6 AND EXISTS (SELECT 1 FROM q) RETURNING last_seq), \
                  a AS (INSERT INTO answers (id, question_id, seq, body, author, created_at) \
                        SELECT $1, $2, q.answer_count, $3, $4, $5 FROM q RETURNING seq), \
                  e AS (INSERT INTO events (topic, seq, kind, ref_id, created_at) \
                        SELECT $6, t.last_seq, 'answer', $1, $5 FROM t RETURNING seq) \
             SELECT a.seq, e.seq FROM a CROSS JOIN e",
        )
        .bind(job.id)
        .bind(job.question_id)
        .bind(job.new.body.as_str())
        .bind(job.new.author.as_str())
        .bind(job.created_at)
        .bind(Topic::Question(job.question_id).to_string())
        .fetch_optional(&mut *tx)
        .await?;
        events.push(seqs.map(|(answer_seq, event_seq)| job.event(answer_seq, event_seq)));
    }
    if let Some(hook) = hook {
        let recorded: Vec<Event> = events.iter().flatten().cloned().collect();
        if !recorded.is_empty() {
            hook.before_commit(&mut tx, &recorded).await?;
        }
    }
    tx.commit().await?;
    Ok(events)
}

async fn commit_sqlite(writer: &SqlitePool, jobs: &[Job]) -> sqlx::Result<Vec<Option<Event>>> {
    // IMMEDIATE takes the write lock up front, so another process holding it makes us wait
    // (busy_timeout) instead of failing on a read-to-write upgrade.
    let mut tx = writer.begin_with("BEGIN IMMEDIATE").await?;
    let mut events = Vec::with_capacity(jobs.len());
    for job in jobs {
        let answer_seq: Option<i64> = sqlx::query_scalar(
            "UPDATE questions SET answer_count = answer_count + 1 WHERE id = $1 RETURNING answer_count",
        )
        .bind(job.question_id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(answer_seq) = answer_seq else {
            events.push(None);
            continue;
        };
        let topic = Topic::Question(job.question_id).to_string();
        let event_seq: i64 = sqlx::query_scalar(
            "UPDATE topics SET last_seq = last_seq + 1 WHERE name = $1 RETURNING last_seq",
        )
        .bind(&topic)
        .fetch_one(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO answers (id, question_id, seq, body, author, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(job.id)
        .bind(job.question_id)
        .bind(answer_seq)
        .bind(job.new.body.as_str())
        .bind(job.new.author.as_str())
        .bind(job.created_at)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO events (topic, seq, kind, ref_id, created_at) VALUES ($1, $2, 'answer', $3, $4)",
        )
        .bind(&topic)
        .bind(event_seq)
        .bind(job.id)
        .bind(job.created_at)
        .execute(&mut *tx)
        .await?;
        events.push(Some(job.event(answer_seq, event_seq)));
    }
    tx.commit().await?;
    Ok(events)
}
