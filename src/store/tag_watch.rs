//! Watched and ignored tags (`tag_watches`): each user's choices, and who watches or ignores
//! the tags of a new question (the notifier's fan-out, in user order).

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{Store, now};
use crate::domain::{DomainError, TagName, TagWatch, TagWatchState};

/// One row of a tag's watchers, as the notifier reads them.
#[derive(Debug, Clone)]
pub struct TagWatcher {
    pub user_id: Uuid,
    pub tag: TagName,
    pub state: TagWatchState,
    pub since: DateTime<Utc>,
}

impl Store {
    /// `user`'s watched and ignored tags, by name.
    pub async fn tag_watches(&self, user: Uuid) -> Result<Vec<TagWatch>, DomainError> {
        const SQL: &str = "SELECT tag, state, created_at FROM tag_watches WHERE user_id = $1 ORDER BY tag";
        let rows: Vec<(String, String, DateTime<Utc>)> = self.read(SQL).bind(user).fetch_all().await?;
        Ok(rows
            .into_iter()
            .filter_map(|(tag, state, since)| {
                Some(TagWatch { tag: tag.parse().ok()?, state: TagWatchState::from_name(&state)?, since })
            })
            .collect())
    }

    /// Records `user`'s choice about `tag` (`None` clears it). A new tag beyond `cap` is
    /// refused (409 `too_many_tags`); changing or clearing one never is. A change of state
    /// restarts `created_at`: a tag watched from now on notifies of questions asked from now on.
    pub async fn set_tag_watch(
        &self,
        user: Uuid,
        tag: TagName,
        state: Option<TagWatchState>,
        cap: i64,
    ) -> Result<(), DomainError> {
        let mut tx = self.begin().await?;
        // Postgres: one writer of a user's list at a time, so two requests cannot both pass
        // the cap (SQLite's one writer already does that).
        tx.lock_user(user).await?;
        let Some(state) = state else {
            tx.query("DELETE FROM tag_watches WHERE user_id = $1 AND tag = $2")
                .bind(user)
                .bind(tag.as_str())
                .execute()
                .await?;
            return tx.commit(&[]).await;
        };
        let current: Option<String> = tx
            .query("SELECT state FROM tag_watches WHERE user_id = $1 AND tag = $2")
            .bind(user)
            .bind(tag.as_str())
            .scalar_optional()
            .await?;
        match current {
            Some(current) if current == state.name() => return Ok(()),
            Some(_) => {
                tx.query(
                    "UPDATE tag_watches SET state = $3, created_at = $4 WHERE user_id = $1 AND tag = $2",
                )
                .bind(user)
                .bind(tag.as_str())
                .bind(state.name())
                .bind(now())
                .execute()
                .await?;
            }
            None => {
                let count: i64 = tx
                    .query("SELECT count(*) FROM tag_watches WHERE user_id = $1")
                    .bind(user)
                    .scalar_one()
                    .await?;
                if count >= cap {
                    return Err(DomainError::Conflict {
                        code: "too_many_tags",
                        message: format!("You watch or ignore {cap} tags already; clear one first."),
                    });
                }
                tx.query("INSERT INTO tag_watches (user_id, tag, state, created_at) VALUES ($1, $2, $3, $4)")
                    .bind(user)
                    .bind(tag.as_str())
                    .bind(state.name())
                    .bind(now())
                    .execute()
                    .await?;
            }
        }
        tx.commit(&[]).await
    }

    /// The watching and ignoring rows of `tags` of users after `after` (in id order), at most
    /// `limit` rows: every row of a user but perhaps the last one's.
    pub async fn tag_watchers(
        &self,
        tags: &[TagName],
        after: Uuid,
        limit: i64,
    ) -> Result<Vec<TagWatcher>, DomainError> {
        // A question has at most five tags: the same SQL text for any number of them, the
        // missing ones repeating the first (the same text on both databases; no arrays).
        const SQL: &str = "SELECT user_id, tag, state, created_at FROM tag_watches \
                           WHERE tag IN ($1, $2, $3, $4, $5) AND user_id > $6 ORDER BY user_id, tag LIMIT $7";
        let Some(first) = tags.first() else { return Ok(Vec::new()) };
        let mut query = self.read(SQL);
        for i in 0..5 {
            query = query.bind(tags.get(i).unwrap_or(first).as_str().to_owned());
        }
        let rows: Vec<(Uuid, String, String, DateTime<Utc>)> =
            query.bind(after).bind(limit).fetch_all().await?;
        Ok(rows
            .into_iter()
            .filter_map(|(user_id, tag, state, since)| {
                Some(TagWatcher {
                    user_id,
                    tag: tag.parse().ok()?,
                    state: TagWatchState::from_name(&state)?,
                    since,
                })
            })
            .collect())
    }
}
