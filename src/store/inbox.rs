//! Inboxes: notifications written as grouped entries on each user's topic `user:{id}`, read
//! marks, and the notifier's position in each question's events.
//!
//! Every change to an entry is an event at the user topic's next seq (`users.last_seq`,
//! taken under the user's row lock, as a question's seq is under its row's), whose payload
//! holds the inbox's unread count after the change, counted from `inbox` in the same
//! transaction. A resume replays an entry's events with the entry as it is now, and each
//! with the unread count of its moment, so the last one replayed is the truth.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{Store, commit_recorded, db, now};
use crate::domain::{DomainError, Event, EventKind, InboxEntry, Notification, Topic};

#[derive(sqlx::FromRow)]
struct EntryRow {
    id: Uuid,
    user_id: Uuid,
    reason: String,
    question_id: Uuid,
    title: String,
    count: i64,
    actor: String,
    ref_id: Option<Uuid>,
    seq: i64,
    read: bool,
    updated_at: DateTime<Utc>,
}

impl From<EntryRow> for InboxEntry {
    fn from(r: EntryRow) -> Self {
        Self {
            id: r.id,
            user_id: r.user_id,
            reason: r.reason,
            question_id: r.question_id,
            title: r.title,
            count: r.count,
            actor: r.actor,
            ref_id: r.ref_id,
            seq: r.seq,
            read: r.read,
            updated_at: r.updated_at,
        }
    }
}

/// In the caller's transaction: writes one notification into `user`'s inbox — folded into
/// their unread entry of the same reason and question, or a new entry — as an `inbox` event
/// at their topic's next seq. `None` when the user does not exist.
macro_rules! write_notification {
    ($tx:expr, $question_id:expr, $title:expr, $n:expr, $at:expr) => {{
        let n: &Notification = $n;
        let seq: Option<i64> =
            sqlx::query_scalar("UPDATE users SET last_seq = last_seq + 1 WHERE id = $1 RETURNING last_seq")
                .bind(n.user_id)
                .fetch_optional(&mut *$tx)
                .await
                .map_err(db)?;
        match seq {
            None => None,
            Some(seq) => {
                let folded: Option<(Uuid, i64)> = sqlx::query_as(
                    "UPDATE inbox SET count = count + 1, actor = $4, ref_id = $5, title = $6, seq = $7, \
                     updated_at = $8 WHERE user_id = $1 AND question_id = $2 AND reason = $3 \
                     AND read_seq IS NULL RETURNING id, count",
                )
                .bind(n.user_id)
                .bind($question_id)
                .bind(n.reason.name())
                .bind(&n.actor)
                .bind(n.ref_id)
                .bind($title)
                .bind(seq)
                .bind($at)
                .fetch_optional(&mut *$tx)
                .await
                .map_err(db)?;
                let (id, count) = match folded {
                    Some(found) => found,
                    None => {
                        let id = Uuid::now_v7();
                        sqlx::query(
                            "INSERT INTO inbox (id, user_id, question_id, reason, title, count, actor, ref_id, \
                             seq, updated_at) VALUES ($1, $2, $3, $4, $5, 1, $6, $7, $8, $9)",
                        )
                        .bind(id)
                        .bind(n.user_id)
                        .bind($question_id)
                        .bind(n.reason.name())
                        .bind($title)
                        .bind(&n.actor)
                        .bind(n.ref_id)
                        .bind(seq)
                        .bind($at)
                        .execute(&mut *$tx)
                        .await
                        .map_err(db)?;
                        (id, 1)
                    }
                };
                let unread: i64 =
                    sqlx::query_scalar("SELECT count(*) FROM inbox WHERE user_id = $1 AND read_seq IS NULL")
                        .bind(n.user_id)
                        .fetch_one(&mut *$tx)
                        .await
                        .map_err(db)?;
                let topic = Topic::User(n.user_id);
                sqlx::query(
                    "INSERT INTO events (topic, seq, kind, ref_id, payload, created_at) \
                     VALUES ($1, $2, 'inbox', $3, $4, $5)",
                )
                .bind(topic.to_string())
                .bind(seq)
                .bind(id)
                .bind(serde_json::json!({ "unread": unread }).to_string())
                .bind($at)
                .execute(&mut *$tx)
                .await
                .map_err(db)?;
                let entry = InboxEntry {
                    id,
                    user_id: n.user_id,
                    reason: n.reason.name().to_owned(),
                    question_id: $question_id,
                    title: $title.to_owned(),
                    count,
                    actor: n.actor.clone(),
                    ref_id: n.ref_id,
                    seq,
                    read: false,
                    updated_at: $at,
                };
                Some(Event { topic, seq, kind: EventKind::Inbox { entry, unread } })
            }
        }
    }};
}

/// In the caller's transaction: marks `user`'s unread entries read (all, or the one given) as
/// a `read` event at their topic's next seq; `None`, writing nothing, when none was unread.
/// The caller holds the user's row (SQLite: the one writer; Postgres: `FOR UPDATE`).
macro_rules! mark_read {
    ($tx:expr, $user:expr, $entry:expr, $at:expr) => {{
        let ids: Vec<Uuid> = sqlx::query_scalar(
            "SELECT id FROM inbox WHERE user_id = $1 AND read_seq IS NULL AND ($2 IS NULL OR id = $2) ORDER BY seq",
        )
        .bind($user)
        .bind($entry)
        .fetch_all(&mut *$tx)
        .await
        .map_err(db)?;
        if ids.is_empty() {
            None
        } else {
            let seq: i64 =
                sqlx::query_scalar("UPDATE users SET last_seq = last_seq + 1 WHERE id = $1 RETURNING last_seq")
                    .bind($user)
                    .fetch_one(&mut *$tx)
                    .await
                    .map_err(db)?;
            sqlx::query(
                "UPDATE inbox SET read_seq = $3 WHERE user_id = $1 AND read_seq IS NULL AND ($2 IS NULL OR id = $2)",
            )
            .bind($user)
            .bind($entry)
            .bind(seq)
            .execute(&mut *$tx)
            .await
            .map_err(db)?;
            let unread: i64 =
                sqlx::query_scalar("SELECT count(*) FROM inbox WHERE user_id = $1 AND read_seq IS NULL")
                    .bind($user)
                    .fetch_one(&mut *$tx)
                    .await
                    .map_err(db)?;
            let topic = Topic::User($user);
            sqlx::query(
                "INSERT INTO events (topic, seq, kind, payload, created_at) VALUES ($1, $2, 'read', $3, $4)",
            )
            .bind(topic.to_string())
            .bind(seq)
            .bind(serde_json::json!({ "entry_ids": ids, "unread": unread }).to_string())
            .bind($at)
            .execute(&mut *$tx)
            .await
            .map_err(db)?;
            Some(Event { topic, seq, kind: EventKind::Read { entry_ids: ids, unread } })
        }
    }};
}

impl Store {
    /// How far the notifier has read the question's events (0: not at all).
    pub async fn notify_cursor(&self, question_id: Uuid) -> Result<i64, DomainError> {
        const SQL: &str = "SELECT seq FROM notify_cursor WHERE question_id = $1";
        let seq: Option<i64> =
            with_reader!(self, pool => sqlx::query_scalar(SQL).bind(question_id).fetch_optional(pool).await)
                .map_err(db)?;
        Ok(seq.unwrap_or(0))
    }

    /// Questions with events the notifier has not read yet (a node catching up at start).
    pub async fn unnotified_questions(&self, limit: i64) -> Result<Vec<Uuid>, DomainError> {
        const SQL: &str = "SELECT q.id FROM questions q LEFT JOIN notify_cursor c ON c.question_id = q.id \
                           WHERE q.last_seq > COALESCE(c.seq, 0) AND q.deleted_at IS NULL LIMIT $1";
        with_reader!(self, pool => sqlx::query_scalar(SQL).bind(limit).fetch_all(pool).await).map_err(db)
    }

    /// Who follows a question besides its asker: those who answered or commented on it (what
    /// is not deleted) and those who chose to follow it, less those who unfollowed or muted it.
    pub async fn followers(&self, question_id: Uuid) -> Result<Vec<Uuid>, DomainError> {
        const SQL: &str = "SELECT DISTINCT u FROM ( \
               SELECT author_id AS u FROM answers WHERE question_id = $1 AND deleted_at IS NULL \
               UNION SELECT author_id FROM comments WHERE question_id = $1 AND deleted_at IS NULL \
               UNION SELECT user_id FROM follows WHERE question_id = $1 AND state = 'following') f \
             WHERE u IS NOT NULL AND u NOT IN \
               (SELECT user_id FROM follows WHERE question_id = $1 AND state IN ('unfollowed', 'muted'))";
        with_reader!(self, pool => sqlx::query_scalar(SQL).bind(question_id).fetch_all(pool).await)
            .map_err(db)
    }

    /// Who muted a question: they hear nothing of it, not even as its asker.
    pub async fn muted(&self, question_id: Uuid) -> Result<HashSet<Uuid>, DomainError> {
        const SQL: &str = "SELECT user_id FROM follows WHERE question_id = $1 AND state = 'muted'";
        let ids: Vec<Uuid> =
            with_reader!(self, pool => sqlx::query_scalar(SQL).bind(question_id).fetch_all(pool).await)
                .map_err(db)?;
        Ok(ids.into_iter().collect())
    }

    /// Writes the notifications made of a question's events `from < seq <= to` and moves the
    /// notifier's position there, in one transaction: each event is turned into
    /// notifications exactly once. `None`, writing nothing, when the position is no longer
    /// `from` (another node got there first). Users are written in id order, so two nodes'
    /// transactions cannot wait on each other's users.
    pub async fn deliver_notifications(
        &self,
        question_id: Uuid,
        title: &str,
        from: i64,
        to: i64,
        mut notifications: Vec<Notification>,
    ) -> Result<Option<Vec<Event>>, DomainError> {
        // Stable: one user's notifications keep the order of the events that made them.
        notifications.sort_by_key(|n| n.user_id);
        let at = now();
        const CURSOR: &str = "INSERT INTO notify_cursor (question_id, seq) VALUES ($1, $3) \
                              ON CONFLICT (question_id) DO UPDATE SET seq = excluded.seq \
                              WHERE notify_cursor.seq = $2 RETURNING seq";
        match self {
            Self::Sqlite { writer, .. } => {
                let mut tx = writer.begin_with("BEGIN IMMEDIATE").await.map_err(db)?;
                let moved: Option<i64> = sqlx::query_scalar(CURSOR)
                    .bind(question_id)
                    .bind(from)
                    .bind(to)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(db)?;
                if moved.is_none() {
                    return Ok(None);
                }
                let mut events = Vec::with_capacity(notifications.len());
                for n in &notifications {
                    events.extend(write_notification!(tx, question_id, title, n, at));
                }
                tx.commit().await.map_err(|e| DomainError::OutcomeUnknown(e.to_string()))?;
                Ok(Some(events))
            }
            Self::Postgres(pool, posts) => {
                let mut tx = pool.begin().await.map_err(db)?;
                let moved: Option<i64> = sqlx::query_scalar(CURSOR)
                    .bind(question_id)
                    .bind(from)
                    .bind(to)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(db)?;
                if moved.is_none() {
                    return Ok(None);
                }
                let mut events = Vec::with_capacity(notifications.len());
                for n in &notifications {
                    events.extend(write_notification!(tx, question_id, title, n, at));
                }
                commit_recorded(tx, posts, &events).await?;
                Ok(Some(events))
            }
        }
    }

    /// `user`'s inbox entries, most recently changed first: those changed before `before`
    /// (a seq), only unread ones if asked.
    pub async fn inbox(
        &self,
        user: Uuid,
        before: Option<i64>,
        unread_only: bool,
        limit: i64,
    ) -> Result<Vec<InboxEntry>, DomainError> {
        const SQL: &str = "SELECT id, user_id, reason, question_id, title, count, actor, ref_id, seq, \
                           read_seq IS NOT NULL AS read, updated_at FROM inbox \
                           WHERE user_id = $1 AND ($2 IS NULL OR seq < $2) AND ($3 = FALSE OR read_seq IS NULL) \
                           ORDER BY seq DESC LIMIT $4";
        let rows: Vec<EntryRow> = with_reader!(self, pool => sqlx::query_as(SQL)
            .bind(user)
            .bind(before)
            .bind(unread_only)
            .bind(limit)
            .fetch_all(pool)
            .await)
        .map_err(db)?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    /// How many of `user`'s entries are unread, and their topic's last seq (read together, so
    /// a client that resumes from that seq misses nothing of what the count leaves out).
    pub async fn unread(&self, user: Uuid) -> Result<(i64, i64), DomainError> {
        const SQL: &str = "SELECT (SELECT count(*) FROM inbox WHERE user_id = $1 AND read_seq IS NULL), \
                           last_seq FROM users WHERE id = $1";
        let row: Option<(i64, i64)> =
            with_reader!(self, pool => sqlx::query_as(SQL).bind(user).fetch_optional(pool).await)
                .map_err(db)?;
        Ok(row.unwrap_or((0, 0)))
    }

    /// Marks `user`'s entry `entry` read, or all of their entries (`None`); the `read` event,
    /// or `None` when nothing was unread. An entry of someone else's is not found.
    pub async fn mark_read(&self, user: Uuid, entry: Option<Uuid>) -> Result<Option<Event>, DomainError> {
        let at = now();
        match self {
            Self::Sqlite { writer, .. } => {
                let mut tx = writer.begin_with("BEGIN IMMEDIATE").await.map_err(db)?;
                let event = mark_read!(tx, user, entry, at);
                tx.commit().await.map_err(|e| DomainError::OutcomeUnknown(e.to_string()))?;
                Ok(event)
            }
            Self::Postgres(pool, posts) => {
                let mut tx = pool.begin().await.map_err(db)?;
                sqlx::query("SELECT 1 FROM users WHERE id = $1 FOR UPDATE")
                    .bind(user)
                    .execute(&mut *tx)
                    .await
                    .map_err(db)?;
                let event = mark_read!(tx, user, entry, at);
                commit_recorded(tx, posts, event.as_slice()).await?;
                Ok(event)
            }
        }
    }

    /// The question of `user`'s entry `entry`, read or not; `None` when it is not theirs.
    pub async fn entry_question(&self, user: Uuid, entry: Uuid) -> Result<Option<Uuid>, DomainError> {
        const SQL: &str = "SELECT question_id FROM inbox WHERE id = $1 AND user_id = $2";
        with_reader!(self, pool => sqlx::query_scalar(SQL).bind(entry).bind(user).fetch_optional(pool).await)
            .map_err(db)
    }
}
