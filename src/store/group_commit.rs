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
//! nothing waits to fill a batch. Each post takes two numbers in its transaction, both from
//! its question's row: the answer's number in its question (`answer_count`) and the event's
//! seq in the question's topic (`last_seq`); the row lock of the increment serialises writers
//! of one question until commit, so both are contiguous and in commit order. A [`CommitHook`] (the Postgres
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

use crate::domain::{Answer, Event, EventKind, Idempotency, NewAnswer, Topic, markdown};

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

/// Why a post was not stored, as far as is known. Cloned for each of a batch's posts: the
/// error is shared, not copied into a string.
#[derive(Debug, Clone)]
pub(super) enum Failure {
    /// Nothing was written.
    BeforeCommit(Arc<sqlx::Error>),
    /// COMMIT itself failed: the batch may or may not have been stored, so it is neither
    /// retried here nor reported as safe to retry.
    AtCommit(Arc<sqlx::Error>),
    /// The post's service token was revoked since its request was authenticated.
    Revoked,
}

impl From<sqlx::Error> for Failure {
    fn from(e: sqlx::Error) -> Self {
        Self::BeforeCommit(Arc::new(e))
    }
}

impl Failure {
    fn at_commit(e: sqlx::Error) -> Self {
        Self::AtCommit(Arc::new(e))
    }
}

type Outcome = Result<Option<Event>, Failure>;

pub(super) struct Job {
    id: Uuid,
    question_id: Uuid,
    new: NewAnswer,
    /// The body rendered ([`markdown::full`]) by the poster's task, before the job is queued:
    /// the committer, which every poster waits on, never renders.
    body_html: String,
    idempotency: Option<Idempotency>,
    /// The SHA-256 of the service token the post was made with, when the service layer
    /// authenticated it from its cache: checked again, with the batch's other tokens, in one
    /// query before the batch is written.
    recheck: Option<Vec<u8>>,
    created_at: DateTime<Utc>,
    reply: oneshot::Sender<Outcome>,
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
                body_html: self.body_html.clone(),
                author: self.new.author.as_str().to_owned(),
                author_id: self.new.author_id,
                created_at: self.created_at,
                score: 0,
                revision: 1,
                edited_at: None,
            }),
        }
    }
}

/// Where batches are committed.
pub(super) enum Writer {
    /// The one-connection writer pool, and a reader pool.
    Sqlite(SqlitePool, SqlitePool),
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
    /// `reader` serves the batch's token re-check, which has no reason to take the one writer.
    pub(super) fn sqlite(pool: SqlitePool, reader: SqlitePool) -> Self {
        Self::start(Writer::Sqlite(pool, reader))
    }

    pub(super) fn postgres(pool: PgPool) -> Self {
        Self::start(Writer::Postgres(pool, Arc::default()))
    }

    fn start(writer: Writer) -> Self {
        let (jobs, rx) = mpsc::channel(4 * MAX_BATCH);
        // SQLite has one writer. Postgres gets two committers, so that one batch's statements
        // run while the other's commit waits for its WAL flush.
        let (committers, hook) = match &writer {
            Writer::Sqlite(..) => (1, None),
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

    /// The hook set for Postgres transactions, for writes that record events outside a batch.
    pub(super) fn hook(&self) -> Option<Arc<dyn CommitHook>> {
        self.hook.as_ref().and_then(|slot| slot.get().cloned())
    }

    /// Stores the answer and its event; `Ok(None)` when the question does not exist.
    pub(super) async fn post(
        &self,
        id: Uuid,
        question_id: Uuid,
        new: NewAnswer,
        idempotency: Option<Idempotency>,
        recheck: Option<Vec<u8>>,
        created_at: DateTime<Utc>,
    ) -> Outcome {
        let (reply, outcome) = oneshot::channel();
        let body_html = markdown::full(new.body.as_str());
        let job = Job { id, question_id, new, body_html, idempotency, recheck, created_at, reply };
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
        if let Err(e) = drop_revoked(writer, &mut batch).await {
            let failure = Failure::from(e);
            for job in batch.drain(..) {
                let _ = job.reply.send(Err(failure.clone()));
            }
            continue;
        }
        if batch.is_empty() {
            continue;
        }
        match commit(writer, &batch).await {
            Ok(events) => {
                for (job, event) in batch.drain(..).zip(events) {
                    let _ = job.reply.send(Ok(event));
                }
            }
            Err(e) if batch.len() == 1 => {
                let _ = batch.pop().expect("one job").reply.send(Err(e));
            }
            // The batch may have been stored: retrying its posts could store them twice.
            Err(e @ Failure::AtCommit(_)) => {
                for job in batch.drain(..) {
                    let _ = job.reply.send(Err(e.clone()));
                }
            }
            // The whole batch rolled back; one bad post (a reused Idempotency-Key) must not
            // fail the others, so each gets a transaction of its own. (`Revoked` is never a
            // batch's outcome: revoked posts leave the batch before it is written.)
            Err(Failure::BeforeCommit(_) | Failure::Revoked) => {
                for job in batch.drain(..) {
                    let outcome = commit(writer, std::slice::from_ref(&job)).await.map(|mut e| e.remove(0));
                    let _ = job.reply.send(outcome);
                }
            }
        }
    }
}

/// Answers the batch's posts whose service token is no longer valid (revoked since the
/// cached authentication) with [`Failure::Revoked`] and takes them out of the batch: one
/// query for the whole batch, so a revocation holds for every post that has not yet been
/// written, on every node, without a database read per request.
async fn drop_revoked(writer: &Writer, batch: &mut Vec<Job>) -> sqlx::Result<()> {
    let mut hashes: Vec<Vec<u8>> = batch.iter().filter_map(|j| j.recheck.clone()).collect();
    if hashes.is_empty() {
        return Ok(());
    }
    hashes.sort();
    hashes.dedup();
    const SQL: &str = "SELECT token_hash FROM service_tokens WHERE revoked_at IS NULL AND token_hash IN ";
    let valid: std::collections::HashSet<Vec<u8>> = match writer {
        Writer::Sqlite(_, pool) => {
            let mut qb = sqlx::QueryBuilder::<sqlx::Sqlite>::new(SQL);
            qb.push_tuples(&hashes, |mut row, hash| {
                row.push_bind(hash.as_slice());
            });
            qb.build_query_scalar::<Vec<u8>>().fetch_all(pool).await?.into_iter().collect()
        }
        Writer::Postgres(pool, _) => sqlx::query_scalar(
            "SELECT token_hash FROM service_tokens WHERE revoked_at IS NULL AND token_hash = ANY($1)",
        )
        .bind(&hashes)
        .fetch_all(pool)
        .await?
        .into_iter()
        .collect(),
    };
    let (kept, revoked): (Vec<Job>, Vec<Job>) =
        batch.drain(..).partition(|j| j.recheck.as_ref().is_none_or(|h| valid.contains(h)));
    *batch = kept;
    for job in revoked {
        let _ = job.reply.send(Err(Failure::Revoked));
    }
    Ok(())
}

/// Stores every job's answer and event in one transaction; per job, its event or `None` for
/// an unknown question.
async fn commit(writer: &Writer, jobs: &[Job]) -> Result<Vec<Option<Event>>, Failure> {
    match writer {
        Writer::Sqlite(pool, _) => commit_sqlite(pool, jobs).await,
        Writer::Postgres(pool, hook) => commit_postgres(pool, hook.get(), jobs).await,
    }
}

/// One batch, three round trips whatever its size: lock the batch's question rows in id order
/// (so concurrent batches, on this node or another, cannot deadlock), then one statement that
/// numbers and writes every post, then the commit hook (NOTIFY). The numbers follow from the
/// counters' new values, as on SQLite: a question with `k` posts in the batch and answer count
/// `c` after the UPDATE gave them `c-k+1 ..= c`, in queue order (`ord`); the same for its
/// topic's `last_seq`.
async fn commit_postgres(
    pool: &PgPool,
    hook: Option<&Arc<dyn CommitHook>>,
    jobs: &[Job],
) -> Result<Vec<Option<Event>>, Failure> {
    let mut question_ids: Vec<Uuid> = jobs.iter().map(|j| j.question_id).collect();
    question_ids.dedup(); // the batch is sorted by question
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT 1 FROM questions WHERE id = ANY($1) ORDER BY id FOR UPDATE")
        .bind(&question_ids)
        .fetch_all(&mut *tx)
        .await?;
    let numbered: Vec<(i64, i64, i64)> = sqlx::query_as(
        "WITH input AS ( \
                 SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::uuid[], $6::timestamptz[], $7::text[]) \
                 WITH ORDINALITY AS i(id, question_id, body, author, author_id, created_at, body_html, ord)), \
         counts AS (SELECT question_id, count(*) AS k FROM input GROUP BY question_id), \
         q AS (UPDATE questions SET answer_count = answer_count + counts.k, last_seq = last_seq + counts.k \
               FROM counts WHERE questions.id = counts.question_id AND questions.deleted_at IS NULL \
               RETURNING questions.id, questions.answer_count, questions.last_seq), \
         numbered AS ( \
             SELECT i.*, \
                    q.answer_count - c.k + row_number() OVER w AS answer_seq, \
                    q.last_seq - c.k + row_number() OVER w AS event_seq \
             FROM input i JOIN counts c USING (question_id) JOIN q ON q.id = i.question_id \
             WINDOW w AS (PARTITION BY i.question_id ORDER BY i.ord)), \
         a AS (INSERT INTO answers (id, question_id, seq, body, author, author_id, created_at, body_html) \
               SELECT id, question_id, answer_seq, body, author, author_id, created_at, body_html FROM numbered), \
         e AS (INSERT INTO events (topic, seq, kind, ref_id, created_at) \
               SELECT 'question:' || question_id::text, event_seq, 'answer', id, created_at FROM numbered) \
         SELECT ord, answer_seq, event_seq FROM numbered",
    )
    .bind(jobs.iter().map(|j| j.id).collect::<Vec<_>>())
    .bind(jobs.iter().map(|j| j.question_id).collect::<Vec<_>>())
    .bind(jobs.iter().map(|j| j.new.body.as_str()).collect::<Vec<_>>())
    .bind(jobs.iter().map(|j| j.new.author.as_str()).collect::<Vec<_>>())
    .bind(jobs.iter().map(|j| j.new.author_id).collect::<Vec<_>>())
    .bind(jobs.iter().map(|j| j.created_at).collect::<Vec<_>>())
    .bind(jobs.iter().map(|j| j.body_html.as_str()).collect::<Vec<_>>())
    .fetch_all(&mut *tx)
    .await?;
    let mut events: Vec<Option<Event>> = jobs.iter().map(|_| None).collect();
    for (ord, answer_seq, event_seq) in numbered {
        let i =
            usize::try_from(ord - 1).map_err(|_| sqlx::Error::Protocol("ordinality out of range".into()))?;
        let job = jobs.get(i).ok_or_else(|| sqlx::Error::Protocol("ordinality out of range".into()))?;
        events[i] = Some(job.event(answer_seq, event_seq));
    }
    let keyed: Vec<&Job> = jobs
        .iter()
        .zip(&events)
        .filter(|(j, e)| j.idempotency.is_some() && e.is_some())
        .map(|(j, _)| j)
        .collect();
    if !keyed.is_empty() {
        fn key<'j>(j: &&'j Job) -> &'j Idempotency {
            j.idempotency.as_ref().expect("keyed")
        }
        sqlx::query(
            "INSERT INTO idempotency_keys (owner, key, fingerprint, resource_id, created_at) \
             SELECT * FROM unnest($1::text[], $2::text[], $3::bytea[], $4::uuid[], $5::timestamptz[])",
        )
        .bind(keyed.iter().map(|j| key(j).owner.as_str()).collect::<Vec<_>>())
        .bind(keyed.iter().map(|j| key(j).key.as_str()).collect::<Vec<_>>())
        .bind(keyed.iter().map(|j| key(j).fingerprint.to_vec()).collect::<Vec<_>>())
        .bind(keyed.iter().map(|j| j.id).collect::<Vec<_>>())
        .bind(keyed.iter().map(|j| j.created_at).collect::<Vec<_>>())
        .execute(&mut *tx)
        .await?;
    }
    if let Some(hook) = hook {
        // In commit order: by topic, then seq (the batch is sorted by question).
        let recorded: Vec<Event> = events.iter().flatten().cloned().collect();
        if !recorded.is_empty() {
            hook.before_commit(&mut tx, &recorded).await?;
        }
    }
    tx.commit().await.map_err(Failure::at_commit)?;
    Ok(events)
}

/// SQLite runs each statement on its connection's own thread, so every statement is a
/// cross-thread round trip: a batch is written in three statements whatever its size (one
/// UPDATE of the questions' counters, one INSERT per row table), not three per post. SQLite
/// has one writer, so the numbers each post gets follow from the counters' new values: a
/// question with `k` posts in the batch and answer count `c` after the UPDATE gave them
/// `c-k+1 ..= c`, in queue order (and the same for the topic's seq).
async fn commit_sqlite(writer: &SqlitePool, jobs: &[Job]) -> Result<Vec<Option<Event>>, Failure> {
    use std::collections::HashMap;

    use sqlx::{QueryBuilder, Sqlite};

    // Posts per question, in the batch's (sorted) order.
    let mut counts: Vec<(Uuid, i64)> = Vec::new();
    for job in jobs {
        match counts.last_mut() {
            Some((q, k)) if *q == job.question_id => *k += 1,
            _ => counts.push((job.question_id, 1)),
        }
    }
    // IMMEDIATE takes the write lock up front, so another process holding it makes us wait
    // (busy_timeout) instead of failing on a read-to-write upgrade.
    let mut tx = writer.begin_with("BEGIN IMMEDIATE").await?;
    let mut qb = QueryBuilder::<Sqlite>::new("WITH c(id, k) AS (");
    qb.push_values(&counts, |mut row, (q, k)| {
        row.push_bind(*q).push_bind(*k);
    });
    qb.push(
        ") UPDATE questions SET answer_count = answer_count + c.k, last_seq = last_seq + c.k \
         FROM c WHERE questions.id = c.id AND questions.deleted_at IS NULL RETURNING questions.id, questions.answer_count, questions.last_seq",
    );
    // Unknown questions are simply absent: their posts write nothing.
    let counters: HashMap<Uuid, (i64, i64)> = qb
        .build_query_as::<(Uuid, i64, i64)>()
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .map(|(q, answers, events)| (q, (answers, events)))
        .collect();
    if counters.is_empty() {
        tx.commit().await.map_err(Failure::at_commit)?;
        return Ok(jobs.iter().map(|_| None).collect());
    }

    // Hand out the numbers: walking the batch in order, each post of a question takes the
    // next one of the ranges its question's UPDATE made room for.
    let mut next: HashMap<Uuid, (i64, i64)> = counts
        .iter()
        .filter_map(|(q, k)| {
            let (answers, events) = counters.get(q)?;
            Some((*q, (answers - k + 1, events - k + 1)))
        })
        .collect();
    let events: Vec<Option<Event>> = jobs
        .iter()
        .map(|job| {
            let (answer_seq, event_seq) = next.get_mut(&job.question_id)?;
            let event = job.event(*answer_seq, *event_seq);
            *answer_seq += 1;
            *event_seq += 1;
            Some(event)
        })
        .collect();
    let stored: Vec<(&Job, i64, i64)> = jobs
        .iter()
        .zip(&events)
        .filter_map(|(job, event)| match event {
            Some(Event { seq, kind: EventKind::Answer(answer), .. }) => Some((job, answer.seq, *seq)),
            _ => None,
        })
        .collect();
    let mut qb = QueryBuilder::<Sqlite>::new(
        "INSERT INTO answers (id, question_id, seq, body, author, author_id, created_at, body_html) ",
    );
    qb.push_values(&stored, |mut row, (job, answer_seq, _)| {
        row.push_bind(job.id)
            .push_bind(job.question_id)
            .push_bind(*answer_seq)
            .push_bind(job.new.body.as_str())
            .push_bind(job.new.author.as_str())
            .push_bind(job.new.author_id)
            .push_bind(job.created_at)
            .push_bind(job.body_html.as_str());
    });
    qb.build().execute(&mut *tx).await?;
    let mut qb = QueryBuilder::<Sqlite>::new("INSERT INTO events (topic, seq, kind, ref_id, created_at) ");
    qb.push_values(&stored, |mut row, (job, _, event_seq)| {
        row.push_bind(Topic::Question(job.question_id).to_string())
            .push_bind(*event_seq)
            .push_bind("answer")
            .push_bind(job.id)
            .push_bind(job.created_at);
    });
    qb.build().execute(&mut *tx).await?;
    let keyed: Vec<&(&Job, i64, i64)> = stored.iter().filter(|(j, _, _)| j.idempotency.is_some()).collect();
    if !keyed.is_empty() {
        let mut qb = QueryBuilder::<Sqlite>::new(
            "INSERT INTO idempotency_keys (owner, key, fingerprint, resource_id, created_at) ",
        );
        qb.push_values(keyed, |mut row, (job, _, _)| {
            let key = job.idempotency.as_ref().expect("keyed");
            row.push_bind(key.owner.as_str())
                .push_bind(key.key.as_str())
                .push_bind(&key.fingerprint[..])
                .push_bind(job.id)
                .push_bind(job.created_at);
        });
        qb.build().execute(&mut *tx).await?;
    }
    tx.commit().await.map_err(Failure::at_commit)?;
    Ok(events)
}
