//! Inboxes: notifications written as grouped entries on each user's topic `user:{id}`, read
//! marks, and the notifier's positions: in each question's events, and in the list of
//! questions' (tag notifications).
//!
//! Every change to an entry is an event at the user topic's next seq (`users.last_seq`,
//! taken under the user's row lock, as a question's seq is under its row's), whose payload
//! holds the inbox's unread count after the change, counted from `inbox` in the same
//! transaction. A resume replays an entry's events with the entry as it is now, and each
//! with the unread count of its moment, so the last one replayed is the truth.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{Store, engine::Tx, events, now};
use crate::domain::{
    DomainError, Event, EventKind, InboxEntry, Notification, Reason, TagName, TagNotification, Topic,
};

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
    tag: Option<String>,
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
            tag: r.tag.as_deref().and_then(|t| t.parse().ok()),
        }
    }
}

const UNREAD: &str = "SELECT count(*) FROM inbox WHERE user_id = $1 AND read_seq IS NULL";

/// One notification as the inbox writes it: a question's ([`Notification`]) or a tag's
/// ([`TagNotification`]).
struct Note<'a> {
    user_id: Uuid,
    reason: &'static str,
    question_id: Uuid,
    title: &'a str,
    actor: &'a str,
    ref_id: Option<Uuid>,
    /// Folds into the user's unread entry of this tag (any question) rather than of this
    /// reason and question.
    tag: Option<TagName>,
}

impl<'a> Note<'a> {
    fn of_question(question_id: Uuid, title: &'a str, n: &'a Notification) -> Self {
        let (user_id, reason, actor, ref_id) = (n.user_id, n.reason.name(), n.actor.as_str(), n.ref_id);
        Self { user_id, reason, question_id, title, actor, ref_id, tag: None }
    }

    fn of_tag(n: &'a TagNotification) -> Self {
        Self {
            user_id: n.user_id,
            reason: Reason::Tag.name(),
            question_id: n.question_id,
            title: &n.title,
            actor: &n.actor,
            ref_id: None,
            tag: Some(n.tag),
        }
    }
}

/// In `tx`: writes one notification into its user's inbox — folded into their unread entry of
/// the same reason and question (of the same tag, for a tag's), or a new entry — as an `inbox`
/// event at their topic's next seq. `None` when the user does not exist.
async fn write_notification(
    tx: &mut Tx,
    n: &Note<'_>,
    at: DateTime<Utc>,
) -> Result<Option<Event>, DomainError> {
    let Some(seq) = events::next_user_seq(tx, n.user_id).await? else { return Ok(None) };
    let fold = match n.tag {
        None => tx.query(
            "UPDATE inbox SET count = count + 1, actor = $4, ref_id = $5, title = $6, seq = $7, \
             updated_at = $8 WHERE user_id = $1 AND question_id = $2 AND reason = $3 \
             AND read_seq IS NULL RETURNING id, count",
        ),
        // A tag's entry points at its newest question.
        Some(_) => tx.query(
            "UPDATE inbox SET count = count + 1, question_id = $2, actor = $4, ref_id = $5, title = $6, \
             seq = $7, updated_at = $8 WHERE user_id = $1 AND tag = $9 AND reason = $3 \
             AND read_seq IS NULL RETURNING id, count",
        ),
    };
    let fold = fold
        .bind(n.user_id)
        .bind(n.question_id)
        .bind(n.reason)
        .bind(n.actor)
        .bind(n.ref_id)
        .bind(n.title)
        .bind(seq)
        .bind(at);
    let fold = match n.tag {
        None => fold,
        Some(tag) => fold.bind(tag.as_str()),
    };
    let folded: Option<(Uuid, i64)> = fold.fetch_optional().await?;
    let (id, count) = match folded {
        Some(found) => found,
        None => {
            let id = Uuid::now_v7();
            tx.query(
                "INSERT INTO inbox (id, user_id, question_id, reason, title, count, actor, ref_id, \
                 seq, updated_at, tag) VALUES ($1, $2, $3, $4, $5, 1, $6, $7, $8, $9, $10)",
            )
            .bind(id)
            .bind(n.user_id)
            .bind(n.question_id)
            .bind(n.reason)
            .bind(n.title)
            .bind(n.actor)
            .bind(n.ref_id)
            .bind(seq)
            .bind(at)
            .bind(n.tag.as_ref().map(TagName::as_str))
            .execute()
            .await?;
            (id, 1)
        }
    };
    let unread: i64 = tx.query(UNREAD).bind(n.user_id).scalar_one().await?;
    let topic = Topic::User(n.user_id);
    let payload = serde_json::json!({ "unread": unread }).to_string();
    events::insert_event(tx, topic, seq, "inbox", Some(id), Some(&payload), at).await?;
    let entry = InboxEntry {
        id,
        user_id: n.user_id,
        reason: n.reason.to_owned(),
        question_id: n.question_id,
        title: n.title.to_owned(),
        count,
        actor: n.actor.to_owned(),
        ref_id: n.ref_id,
        seq,
        read: false,
        updated_at: at,
        tag: n.tag,
    };
    Ok(Some(Event { topic, seq, kind: EventKind::Inbox { entry, unread } }))
}

/// In `tx`: marks `user`'s unread entries read (all, or the one given) as a `read` event at
/// their topic's next seq; `None`, writing nothing, when none was unread. The caller holds the
/// user's row ([`Tx::lock_user`]).
async fn mark_entries_read(
    tx: &mut Tx,
    user: Uuid,
    entry: Option<Uuid>,
    at: DateTime<Utc>,
) -> Result<Option<Event>, DomainError> {
    let ids: Vec<Uuid> = tx
        .query(
            "SELECT id FROM inbox WHERE user_id = $1 AND read_seq IS NULL AND ($2 IS NULL OR id = $2) \
             ORDER BY seq",
        )
        .bind(user)
        .bind(entry)
        .scalar_all()
        .await?;
    if ids.is_empty() {
        return Ok(None);
    }
    let seq = events::next_user_seq(tx, user).await?.ok_or(sqlx::Error::RowNotFound)?;
    tx.query(
        "UPDATE inbox SET read_seq = $3 WHERE user_id = $1 AND read_seq IS NULL AND ($2 IS NULL OR id = $2)",
    )
    .bind(user)
    .bind(entry)
    .bind(seq)
    .execute()
    .await?;
    let unread: i64 = tx.query(UNREAD).bind(user).scalar_one().await?;
    let topic = Topic::User(user);
    let payload = serde_json::json!({ "entry_ids": ids, "unread": unread }).to_string();
    events::insert_event(tx, topic, seq, "read", None, Some(&payload), at).await?;
    Ok(Some(Event { topic, seq, kind: EventKind::Read { entry_ids: ids, unread } }))
}

impl Store {
    /// How far the notifier has read the question's events (0: not at all).
    pub async fn notify_cursor(&self, question_id: Uuid) -> Result<i64, DomainError> {
        const SQL: &str = "SELECT seq FROM notify_cursor WHERE question_id = $1";
        let seq: Option<i64> = self.read(SQL).bind(question_id).scalar_optional().await?;
        Ok(seq.unwrap_or(0))
    }

    /// Questions with events the notifier has not read yet (a node catching up at start).
    pub async fn unnotified_questions(&self, limit: i64) -> Result<Vec<Uuid>, DomainError> {
        const SQL: &str = "SELECT q.id FROM questions q LEFT JOIN notify_cursor c ON c.question_id = q.id \
                           WHERE q.last_seq > COALESCE(c.seq, 0) AND q.deleted_at IS NULL LIMIT $1";
        Ok(self.read(SQL).bind(limit).scalar_all().await?)
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
        Ok(self.read(SQL).bind(question_id).scalar_all().await?)
    }

    /// Who muted a question: they hear nothing of it, not even as its asker.
    pub async fn muted(&self, question_id: Uuid) -> Result<HashSet<Uuid>, DomainError> {
        const SQL: &str = "SELECT user_id FROM follows WHERE question_id = $1 AND state = 'muted'";
        let ids: Vec<Uuid> = self.read(SQL).bind(question_id).scalar_all().await?;
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
        let mut tx = self.begin().await?;
        let moved: Option<i64> =
            tx.query(CURSOR).bind(question_id).bind(from).bind(to).scalar_optional().await?;
        if moved.is_none() {
            return Ok(None);
        }
        let mut events = Vec::with_capacity(notifications.len());
        for n in &notifications {
            events.extend(write_notification(&mut tx, &Note::of_question(question_id, title, n), at).await?);
        }
        tx.commit(&events).await?;
        Ok(Some(events))
    }

    /// How far the notifier has turned the list of questions' events into tag notifications:
    /// every event up to the seq, and of the next one the watchers up to the user (in id
    /// order; the nil UUID: none yet).
    pub async fn tag_notify_cursor(&self) -> Result<(i64, Uuid), DomainError> {
        const SQL: &str = "SELECT seq, after_user FROM tag_notify_cursor WHERE id = 1";
        let row: Option<(i64, Uuid)> = self.read(SQL).fetch_optional().await?;
        Ok(row.unwrap_or((0, Uuid::nil())))
    }

    /// Writes tag notifications and moves the notifier's position from `from` to `to` in one
    /// transaction, so each (question, watcher) is written exactly once. `None`, writing
    /// nothing, when the position is no longer `from` (another node got there first). The
    /// position's row is taken first: on Postgres a second node's transaction waits on it,
    /// then finds it moved; users are written in id order, as in
    /// [`Store::deliver_notifications`].
    pub async fn deliver_tag_notifications(
        &self,
        from: (i64, Uuid),
        to: (i64, Uuid),
        mut notifications: Vec<TagNotification>,
    ) -> Result<Option<Vec<Event>>, DomainError> {
        notifications.sort_by_key(|n| n.user_id);
        let at = now();
        const CURSOR: &str = "UPDATE tag_notify_cursor SET seq = $3, after_user = $4 \
                              WHERE id = 1 AND seq = $1 AND after_user = $2 RETURNING seq";
        let mut tx = self.begin().await?;
        let moved: Option<i64> =
            tx.query(CURSOR).bind(from.0).bind(from.1).bind(to.0).bind(to.1).scalar_optional().await?;
        if moved.is_none() {
            return Ok(None);
        }
        let mut events = Vec::with_capacity(notifications.len());
        for n in &notifications {
            events.extend(write_notification(&mut tx, &Note::of_tag(n), at).await?);
        }
        tx.commit(&events).await?;
        Ok(Some(events))
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
                           read_seq IS NOT NULL AS read, updated_at, tag FROM inbox \
                           WHERE user_id = $1 AND ($2 IS NULL OR seq < $2) AND ($3 = FALSE OR read_seq IS NULL) \
                           ORDER BY seq DESC LIMIT $4";
        let rows: Vec<EntryRow> =
            self.read(SQL).bind(user).bind(before).bind(unread_only).bind(limit).fetch_all().await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    /// How many of `user`'s entries are unread, and their topic's last seq (read together, so
    /// a client that resumes from that seq misses nothing of what the count leaves out).
    pub async fn unread(&self, user: Uuid) -> Result<(i64, i64), DomainError> {
        const SQL: &str = "SELECT (SELECT count(*) FROM inbox WHERE user_id = $1 AND read_seq IS NULL), \
                           last_seq FROM users WHERE id = $1";
        let row: Option<(i64, i64)> = self.read(SQL).bind(user).fetch_optional().await?;
        Ok(row.unwrap_or((0, 0)))
    }

    /// Marks `user`'s entry `entry` read, or all of their entries (`None`); the `read` event,
    /// or `None` when nothing was unread. An entry of someone else's is not found.
    pub async fn mark_read(&self, user: Uuid, entry: Option<Uuid>) -> Result<Option<Event>, DomainError> {
        let at = now();
        let mut tx = self.begin().await?;
        tx.lock_user(user).await?;
        let event = mark_entries_read(&mut tx, user, entry, at).await?;
        tx.commit(event.as_slice()).await?;
        Ok(event)
    }

    /// The question of `user`'s entry `entry`, read or not; `None` when it is not theirs.
    pub async fn entry_question(&self, user: Uuid, entry: Uuid) -> Result<Option<Uuid>, DomainError> {
        const SQL: &str = "SELECT question_id FROM inbox WHERE id = $1 AND user_id = $2";
        Ok(self.read(SQL).bind(entry).bind(user).scalar_optional().await?)
    }
}
