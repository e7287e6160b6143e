//! The event log: recording an event under its topic's next seq, in the writer's transaction,
//! and reading topics back (one topic, or a batch of them for the brokers' catch-up).
//!
//! A topic's seq is kept in its owner's row: `questions.last_seq` for `question:{id}`,
//! `users.last_seq` for `user:{id}`, and a `topics` row for a topic without an owner: the list
//! of questions (`questions`) and each tag (`tag:{name}`). Taking the next one increments it, which locks that row until commit: writers
//! of one topic are serialised and its seqs follow commit order.

use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{Store, engine::Tx, rows::EventRow};
use crate::domain::{DomainError, Event, Idempotency, TagName, Topic, TopicHead};

/// The columns every event read selects: the event, and the row it refers to by `ref_id`, if
/// any (an answer, a revision, a comment or an inbox entry: see [`EVENT_JOINS`]).
const EVENT_COLUMNS: &str = "e.topic, e.seq, e.kind, e.payload, e.ref_id, a.id AS answer_id, a.question_id, \
     a.seq AS answer_seq, a.body, a.body_html, a.author, a.author_id, a.created_at, a.score, a.revision, a.edited_at, \
     r.post_id AS r_post_id, r.post_kind AS r_post_kind, r.question_id AS r_question_id, \
     r.revision AS r_revision, r.title AS r_title, r.body AS r_body, r.body_html AS r_body_html, r.editor AS r_editor, \
     r.editor_id AS r_editor_id, r.created_at AS r_created_at, \
     c.question_id AS c_question_id, c.post_id AS c_post_id, c.post_kind AS c_post_kind, \
     c.body AS c_body, c.body_html AS c_body_html, c.author AS c_author, c.author_id AS c_author_id, c.created_at AS c_created_at, \
     i.user_id AS i_user_id, i.reason AS i_reason, i.question_id AS i_question_id, i.title AS i_title, \
     i.count AS i_count, i.actor AS i_actor, i.ref_id AS i_ref_id, i.seq AS i_seq, \
     i.read_seq IS NOT NULL AS i_read, i.updated_at AS i_updated_at, i.tag AS i_tag";

/// The joins [`EVENT_COLUMNS`] reads from, after `events e`: each is a primary-key probe, and
/// at most one of them finds a row.
const EVENT_JOINS: &str = "LEFT JOIN answers a ON a.id = e.ref_id LEFT JOIN revisions r ON r.id = e.ref_id \
     LEFT JOIN comments c ON c.id = e.ref_id LEFT JOIN inbox i ON i.id = e.ref_id";

/// An event read: `from` names `e` (and whatever it is joined to), `rest` filters and orders.
/// Built once, on first use, so each query is still one `&'static str`.
fn event_query(from: &str, rest: &str) -> String {
    format!("SELECT {EVENT_COLUMNS} FROM {from} {EVENT_JOINS} {rest}")
}

static EVENTS_BETWEEN: LazyLock<String> = LazyLock::new(|| {
    event_query("events e", "WHERE e.topic = $1 AND e.seq > $2 AND e.seq <= $3 ORDER BY e.seq LIMIT $4")
});

/// Postgres: the newest events of many user topics after their positions, in one query.
static USERS_AFTER: LazyLock<String> = LazyLock::new(|| {
    event_query(
        "unnest($1::uuid[], $2::bigint[]) AS w(owner, after_seq) JOIN users o ON o.id = w.owner \
         JOIN events e ON e.topic = 'user:' || w.owner::text AND e.seq > GREATEST(w.after_seq, o.last_seq - $3)",
        "ORDER BY e.topic, e.seq",
    )
});

/// Postgres: the same for question topics.
static QUESTIONS_AFTER: LazyLock<String> = LazyLock::new(|| {
    event_query(
        "unnest($1::uuid[], $2::bigint[]) AS w(owner, after_seq) JOIN questions o ON o.id = w.owner \
         JOIN events e ON e.topic = 'question:' || w.owner::text AND e.seq > GREATEST(w.after_seq, o.last_seq - $3)",
        "ORDER BY e.topic, e.seq",
    )
});

/// Postgres: the events at many `(topic, seq)` places, in one query.
static EVENTS_AT: LazyLock<String> = LazyLock::new(|| {
    event_query(
        "unnest($1::text[], $2::bigint[]) AS w(topic, seq) JOIN events e ON e.topic = w.topic AND e.seq = w.seq",
        "ORDER BY e.topic, e.seq",
    )
});

const INSERT_EVENT: &str =
    "INSERT INTO events (topic, seq, kind, ref_id, payload, created_at) VALUES ($1, $2, $3, $4, $5, $6)";

/// In `tx`: records an event at `seq`, which the caller took from its topic's owner row.
pub(super) async fn insert_event(
    tx: &mut Tx,
    topic: Topic,
    seq: i64,
    kind: &str,
    ref_id: Option<Uuid>,
    payload: Option<&str>,
    at: DateTime<Utc>,
) -> sqlx::Result<()> {
    let query = tx.query(INSERT_EVENT).bind(topic.to_string()).bind(seq).bind(kind);
    query.bind(ref_id).bind(payload).bind(at).execute().await.map(drop)
}

/// In `tx`: takes the question topic's next seq from its row and records an event under it.
pub(super) async fn record_question_event(
    tx: &mut Tx,
    question_id: Uuid,
    kind: &str,
    ref_id: Uuid,
    payload: Option<&str>,
    at: DateTime<Utc>,
) -> sqlx::Result<i64> {
    let seq: i64 = tx
        .query("UPDATE questions SET last_seq = last_seq + 1 WHERE id = $1 RETURNING last_seq")
        .bind(question_id)
        .scalar_one()
        .await?;
    insert_event(tx, Topic::Question(question_id), seq, kind, Some(ref_id), payload, at).await?;
    Ok(seq)
}

/// In `tx`: takes the next seq of a topic without an owner row (the list of questions, a
/// tag's topic), kept in its `topics` row, and records an event under it. A tag's row is
/// created by its first event (seq 1). On Postgres the row lock it takes is held until commit:
/// callers take these rows after any question row, tag topics in name order
/// ([`record_on_tags`]), the list's (`questions`) last, so that writers meet one lock order
/// and hold the one global row as briefly as they can.
pub(super) async fn record_topic_event(
    tx: &mut Tx,
    topic: Topic,
    kind: &str,
    ref_id: Uuid,
    payload: Option<&str>,
    at: DateTime<Utc>,
) -> sqlx::Result<i64> {
    let seq: i64 = tx
        .query(
            "INSERT INTO topics (name, last_seq) VALUES ($1, 1) \
             ON CONFLICT (name) DO UPDATE SET last_seq = topics.last_seq + 1 RETURNING last_seq",
        )
        .bind(topic.to_string())
        .scalar_one()
        .await?;
    insert_event(tx, topic, seq, kind, Some(ref_id), payload, at).await?;
    Ok(seq)
}

/// An event to record on a tag's topic: its kind and payload (`ref_id` is the question's).
#[derive(Debug, Clone, Copy)]
pub(super) struct OnTag<'a> {
    pub tag: TagName,
    pub kind: &'a str,
    pub payload: Option<&'a str>,
}

/// In `tx`: records each event on its tag's topic, taking the topics' rows in name order (two
/// writers with overlapping tags then cannot deadlock). Returns each with its topic and seq,
/// in that order.
pub(super) async fn record_on_tags<'a>(
    tx: &mut Tx,
    mut on: Vec<OnTag<'a>>,
    ref_id: Uuid,
    at: DateTime<Utc>,
) -> sqlx::Result<Vec<(OnTag<'a>, Topic, i64)>> {
    on.sort_by(|a, b| a.tag.as_str().cmp(b.tag.as_str()));
    on.dedup_by_key(|e| e.tag);
    let mut recorded = Vec::with_capacity(on.len());
    for e in on {
        let topic = Topic::Tag(e.tag);
        recorded.push((e, topic, record_topic_event(tx, topic, e.kind, ref_id, e.payload, at).await?));
    }
    Ok(recorded)
}

/// In `tx`: takes `user`'s topic's next seq (and their row's lock, as every write to an inbox
/// does first); `None` when there is no such user.
pub(super) async fn next_user_seq(tx: &mut Tx, user: Uuid) -> sqlx::Result<Option<i64>> {
    tx.query("UPDATE users SET last_seq = last_seq + 1 WHERE id = $1 RETURNING last_seq")
        .bind(user)
        .scalar_optional()
        .await
}

/// In `tx`: records an Idempotency-Key as having stored `resource_id` (a key already recorded,
/// by a concurrent retry, fails as a unique violation: `Conflict`).
pub(super) async fn remember_key(
    tx: &mut Tx,
    key: &Idempotency,
    resource_id: Uuid,
    at: DateTime<Utc>,
) -> sqlx::Result<()> {
    tx.query(
        "INSERT INTO idempotency_keys (owner, key, fingerprint, resource_id, created_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&key.owner)
    .bind(&key.key)
    .bind(&key.fingerprint[..])
    .bind(resource_id)
    .bind(at)
    .execute()
    .await
    .map(drop)
}

/// Topics with an owner row (questions, users) of a batched read: their owners' ids, and the
/// seq each is read after.
#[derive(Default)]
struct Owners {
    ids: Vec<Uuid>,
    after: Vec<i64>,
}

fn into_events(rows: Vec<EventRow>) -> impl Iterator<Item = Event> {
    rows.into_iter().filter_map(EventRow::into_event)
}

impl Store {
    /// Where a topic stands; `None` when it does not exist.
    pub async fn topic_head(&self, topic: Topic) -> Result<Option<TopicHead>, DomainError> {
        let row: Option<(i64, Option<i64>)> = match topic {
            Topic::Question(id) => {
                self.read(
                    "SELECT last_seq, answer_count - deleted_answers FROM questions \
                     WHERE id = $1 AND deleted_at IS NULL",
                )
                .bind(id)
                .fetch_optional()
                .await?
            }
            // A topic without an owner row: its seq is kept in `topics`. A tag's topic exists
            // before its first event (anyone may watch a tag nobody has used yet): at 0.
            Topic::Questions | Topic::Tag(_) => {
                let seq: Option<i64> = self
                    .read("SELECT last_seq FROM topics WHERE name = $1")
                    .bind(topic.to_string())
                    .scalar_optional()
                    .await?;
                let seq = if let Topic::Tag(_) = topic { Some(seq.unwrap_or(0)) } else { seq };
                seq.map(|seq| (seq, None))
            }
            Topic::User(id) => {
                self.read("SELECT last_seq, CAST(NULL AS BIGINT) FROM users WHERE id = $1")
                    .bind(id)
                    .fetch_optional()
                    .await?
            }
            _ => None,
        };
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
        let query = self.read(&EVENTS_BETWEEN).bind(topic.to_string()).bind(after_seq);
        let rows = query.bind(up_to_seq).bind(limit).fetch_all().await?;
        Ok(into_events(rows).collect())
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
        let mut events = Vec::new();
        let pool = match self {
            Self::Postgres(pool, _) => pool,
            Self::Sqlite { .. } => {
                for &(topic, after) in watched {
                    events.extend(self.events_of(topic, after, max_per_topic).await?);
                }
                return Ok(events);
            }
        };
        // Question and inbox topics in one query each that joins their owner rows for the
        // head; the topics without an owner row (the list of questions, tags) one by one.
        let (mut questions, mut users) = (Owners::default(), Owners::default());
        for &(topic, after) in watched {
            let (owners, id) = match topic {
                Topic::Question(id) => (&mut questions, id),
                Topic::User(id) => (&mut users, id),
                _ => {
                    events.extend(self.events_of(topic, after, max_per_topic).await?);
                    continue;
                }
            };
            owners.ids.push(id);
            owners.after.push(after);
        }
        for (sql, owners) in [(USERS_AFTER.as_str(), users), (QUESTIONS_AFTER.as_str(), questions)] {
            if !owners.ids.is_empty() {
                let query = sqlx::query_as(sql).bind(&owners.ids).bind(&owners.after).bind(max_per_topic);
                let rows: Vec<EventRow> = query.fetch_all(pool).await?;
                events.extend(into_events(rows));
            }
        }
        events.sort_by_key(|e| (e.topic, e.seq));
        Ok(events)
    }

    /// One topic's events after `after`, but at most its newest `max`.
    async fn events_of(&self, topic: Topic, after: i64, max: i64) -> Result<Vec<Event>, DomainError> {
        let Some(head) = self.topic_head(topic).await? else { return Ok(Vec::new()) };
        self.events_between(topic, after.max(head.seq - max), head.seq, max).await
    }

    /// The events at these `(topic, seq)` places, ordered by topic, then seq, skipping any
    /// that do not exist. One query on Postgres (the broker reads a batch of references).
    pub async fn events_at(&self, places: &[(Topic, i64)]) -> Result<Vec<Event>, DomainError> {
        let pool = match self {
            Self::Postgres(pool, _) => pool,
            // A single node never reads by reference; kept correct, not fast.
            Self::Sqlite { .. } => {
                let mut places = places.to_vec();
                places.sort();
                let mut events = Vec::with_capacity(places.len());
                for (topic, seq) in places {
                    events.extend(self.events_between(topic, seq - 1, seq, 1).await?);
                }
                return Ok(events);
            }
        };
        let (names, seqs): (Vec<String>, Vec<i64>) = places.iter().map(|(t, s)| (t.to_string(), *s)).unzip();
        let rows: Vec<EventRow> =
            sqlx::query_as(EVENTS_AT.as_str()).bind(&names).bind(&seqs).fetch_all(pool).await?;
        Ok(into_events(rows).collect())
    }
}
