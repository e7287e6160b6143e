//! Watched and ignored tags: each user's choices, and the notifier's half that turns a new
//! question into `tag` inbox entries for those who watch one of its tags.
//!
//! The notifier reads the list of questions' events (topic `questions`: each `question`
//! event's summary carries the tags) after a position of its own, and writes the entries in
//! transactions of at most [`NOTES_PER_PASS`] watchers that also move that position, so every
//! (question, watcher) is written exactly once, across crashes and nodes, and an ask into a
//! tag with 10,000 watchers is a few short transactions after its commit, not a long one in
//! it.

use std::collections::BTreeMap;

use uuid::Uuid;

use super::Services;
use crate::{
    domain::{
        DomainError, EventKind, Identity, MAX_TAG_WATCHES_PER_USER, QuestionSummary, TagName,
        TagNotification, TagWatch, TagWatchState, Topic,
    },
    store::TagWatcher,
};

/// Events of the list read per pass.
const EVENTS_PER_PASS: i64 = 100;

/// Watchers written per notifier transaction: short enough that SQLite's one writer is not
/// held for long, long enough that 10,000 watchers take a handful of transactions.
const NOTES_PER_PASS: usize = 1000;

impl Services {
    /// `who`'s watched and ignored tags, by name.
    pub async fn tag_watches(&self, who: &Identity) -> Result<Vec<TagWatch>, DomainError> {
        self.store.tag_watches(who.user_id).await
    }

    /// Watches or ignores `tag` for `who`, or clears their choice (`None`); at most
    /// [`MAX_TAG_WATCHES_PER_USER`] tags (409 `too_many_tags` past it).
    pub async fn set_tag_watch(
        &self,
        who: &Identity,
        tag: TagName,
        state: Option<TagWatchState>,
    ) -> Result<(), DomainError> {
        self.store.set_tag_watch(who.user_id, tag, state, MAX_TAG_WATCHES_PER_USER).await
    }

    /// The tags `user` ignores (the home page hides their questions).
    pub async fn ignored_tags(&self, user: Uuid) -> Result<Vec<TagName>, DomainError> {
        let watches = self.store.tag_watches(user).await?;
        Ok(watches.into_iter().filter(|w| w.state == TagWatchState::Ignored).map(|w| w.tag).collect())
    }

    pub(super) async fn notify_tags_logged(&self) {
        if let Err(e) = self.notify_tags().await {
            tracing::warn!(error = %e, "notifier: tag notifications");
        }
    }

    /// Turns the list of questions' unread events into tag notifications, until none is left.
    pub async fn notify_tags(&self) -> Result<(), DomainError> {
        loop {
            let from = self.store.tag_notify_cursor().await?;
            let events =
                self.store.events_between(Topic::Questions, from.0, i64::MAX, EVENTS_PER_PASS).await?;
            if events.is_empty() {
                return Ok(());
            }
            let mut notes = Vec::new();
            let mut to = from;
            let mut finished = true;
            for event in &events {
                // Only the first event can have been begun by an earlier pass.
                let after = if event.seq == from.0 + 1 { from.1 } else { Uuid::nil() };
                if let EventKind::Question(q) = &event.kind {
                    let budget = NOTES_PER_PASS - notes.len();
                    let (more, last) = self.tag_notifications(q, after, budget).await?;
                    notes.extend(more);
                    if let Some(last) = last {
                        // Not all of its watchers yet: this pass ends inside the event.
                        to = (to.0, last);
                        finished = false;
                        break;
                    }
                }
                to = (event.seq, Uuid::nil());
                if notes.len() >= NOTES_PER_PASS {
                    finished = false;
                    break;
                }
            }
            match self.store.deliver_tag_notifications(from, to, notes).await? {
                Some(events) => self.broker.publish(&events),
                // Another node moved the position first: read again from where it is now.
                None => continue,
            }
            if finished && (events.len() as i64) < EVENTS_PER_PASS {
                return Ok(());
            }
        }
    }

    /// Who hears of a new question through its tags, among the users after `after` (in id
    /// order), at most about `budget` of them: one notification per user, in the first of the
    /// question's tags they watch, and none for its asker, for a user who ignores any of its
    /// tags, or for a watch newer than the question. With it, the last user read when some
    /// are left (where the next pass starts).
    async fn tag_notifications(
        &self,
        q: &QuestionSummary,
        after: Uuid,
        budget: usize,
    ) -> Result<(Vec<TagNotification>, Option<Uuid>), DomainError> {
        if q.tags.is_empty() {
            return Ok((Vec::new(), None));
        }
        // A user has at most one row per tag: `limit` rows hold `budget` whole users or more.
        let limit = budget.max(1) * q.tags.len();
        let mut rows = self.store.tag_watchers(&q.tags, after, limit as i64).await?;
        let mut last = None;
        if rows.len() >= limit {
            let cut = rows.last().map(|r| r.user_id).expect("limit is at least 1");
            // The last user's rows may go on past the limit: leave that user to the next pass,
            // unless they are the only one read (then all of their rows are here).
            if rows.iter().any(|r| r.user_id != cut) {
                rows.retain(|r| r.user_id != cut);
            }
            last = rows.last().map(|r| r.user_id);
        }
        let mut by_user: BTreeMap<Uuid, Vec<TagWatcher>> = BTreeMap::new();
        for row in rows {
            by_user.entry(row.user_id).or_default().push(row);
        }
        let mut notes = Vec::new();
        for (user, rows) in by_user {
            if Some(user) == q.author_id || rows.iter().any(|r| r.state == TagWatchState::Ignored) {
                continue;
            }
            let watched = |tag: &TagName| {
                rows.iter()
                    .any(|r| r.tag == *tag && r.state == TagWatchState::Watching && r.since <= q.created_at)
            };
            if let Some(tag) = q.tags.iter().find(|t| watched(t)) {
                notes.push(TagNotification {
                    user_id: user,
                    tag: *tag,
                    question_id: q.id,
                    title: q.title.clone(),
                    actor: q.author.clone(),
                });
            }
        }
        Ok((notes, last))
    }
}
