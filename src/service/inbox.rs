//! The inbox: who is told of what happens to a question (the notifier), and each user's
//! entries and read marks.
//!
//! Notifications are fanned out on write, but not in the writer's transaction: a post commits
//! as before and wakes the notifier, which turns the question's new events into inbox entries
//! in a transaction of its own and moves its position in that question's events in the same
//! transaction — so each event notifies exactly once, also across a crash (a node starting
//! up catches up on every question whose events it has not read), and an answer to a question
//! with 10,000 followers does not wait for 10,000 writes.

use std::{
    collections::HashSet,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
};

use tokio::sync::Notify;
use uuid::Uuid;

use super::Services;
use crate::domain::{
    DomainError, Event, EventKind, Identity, InboxEntry, Notification, PostKind, PostRef, Question, Reason,
    Topic,
};

fn entry_not_found() -> DomainError {
    DomainError::NotFound { code: "entry_not_found", message: "No inbox entry of yours has that id.".into() }
}

/// Events read per notifier transaction.
const EVENTS_PER_PASS: i64 = 100;

/// Questions with events the notifier has yet to read; cheap to clone.
#[derive(Clone, Default)]
pub struct Notifier {
    inner: Arc<NotifierInner>,
}

#[derive(Default)]
struct NotifierInner {
    dirty: Mutex<HashSet<Uuid>>,
    /// A question was asked here: the list of questions has events to turn into tag
    /// notifications.
    asked: AtomicBool,
    wake: Notify,
}

impl Notifier {
    /// Notes committed events; those that can notify someone wake the notifier.
    pub fn saw(&self, events: &[Event]) {
        let mut woke = false;
        for event in events {
            let notifies = matches!(
                event.kind,
                EventKind::Answer(_) | EventKind::Comment(_) | EventKind::Accept { .. } | EventKind::Edit(_)
            );
            if let (true, Some(question)) = (notifies, event.topic.question_id()) {
                self.inner.dirty.lock().expect("notifier lock").insert(question);
                woke = true;
            }
            if let EventKind::Question(q) = &event.kind
                && !q.tags.is_empty()
            {
                self.inner.asked.store(true, Ordering::Relaxed);
                woke = true;
            }
        }
        if woke {
            self.inner.wake.notify_one();
        }
    }

    fn take(&self) -> Vec<Uuid> {
        self.inner.dirty.lock().expect("notifier lock").drain().collect()
    }

    fn take_asked(&self) -> bool {
        self.inner.asked.swap(false, Ordering::Relaxed)
    }
}

impl Services {
    /// Runs the notifier for as long as the services live: first every question whose events
    /// were never read (a crash, another node's commits while this one was down) and the list
    /// of questions' events (tag notifications), then each question as its events commit here
    /// (and the list when a tagged question is asked here) — and once a minute all of it again,
    /// for the commits of a node that died before it notified (a scan of `questions`). One
    /// task: a tag's large fan-out delays the questions' notifications until it is written.
    pub fn start_notifier(&self) {
        let services = self.clone();
        tokio::spawn(async move {
            let mut sweep = tokio::time::interval(std::time::Duration::from_secs(60));
            loop {
                tokio::select! {
                    _ = sweep.tick() => services.catch_up_notifications().await,
                    () = services.notifier.inner.wake.notified() => {
                        for id in services.notifier.take() {
                            services.notify_logged(id).await;
                        }
                        if services.notifier.take_asked() {
                            services.notify_tags_logged().await;
                        }
                    }
                }
            }
        });
    }

    /// Notifies every question with events the notifier has not read (in bounded rounds: a
    /// question that keeps failing must not keep the notifier from the others).
    async fn catch_up_notifications(&self) {
        self.notify_tags_logged().await;
        for _ in 0..100 {
            match self.store.unnotified_questions(1000).await {
                Ok(ids) if ids.is_empty() => return,
                Ok(ids) => {
                    for id in ids {
                        self.notify_logged(id).await;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "notifier: reading the questions to catch up on");
                    return;
                }
            }
        }
    }

    async fn notify_logged(&self, question_id: Uuid) {
        if let Err(e) = self.notify(question_id).await {
            tracing::warn!(error = %e, %question_id, "notifier: a question's notifications");
        }
    }

    /// Turns a question's unread events into notifications, until none is left.
    pub async fn notify(&self, question_id: Uuid) -> Result<(), DomainError> {
        loop {
            let Some(question) = self.store.question(question_id).await? else {
                return Ok(()); // deleted: nobody is told of it any more
            };
            let from = self.store.notify_cursor(question_id).await?;
            let topic = Topic::Question(question_id);
            let events = self.store.events_between(topic, from, i64::MAX, EVENTS_PER_PASS).await?;
            let Some(to) = events.last().map(|e| e.seq) else { return Ok(()) };
            let mut notifications = Vec::new();
            for event in &events {
                notifications.extend(self.notifications_of(&question, event).await?);
            }
            match self
                .store
                .deliver_notifications(question_id, &question.title, from, to, notifications)
                .await?
            {
                Some(events) => {
                    self.broker.publish(&events);
                }
                // Another node moved the position first: read again from where it is now, so
                // events committed since it read are not left for the next sweep.
                None => continue,
            }
            if (events.len() as i64) < EVENTS_PER_PASS {
                return Ok(());
            }
        }
    }

    /// Who hears of one event, and why. Nobody hears of what they did themselves; someone
    /// who muted the question hears nothing of it.
    async fn notifications_of(
        &self,
        question: &Question,
        event: &Event,
    ) -> Result<Vec<Notification>, DomainError> {
        let asker = question.author_id;
        let mut out = Vec::new();
        let mut tell = |user: Option<Uuid>, actor_id: Option<Uuid>, reason, actor: &str, ref_id| {
            if let Some(user) = user
                && Some(user) != actor_id
            {
                out.push(Notification { user_id: user, reason, actor: actor.to_owned(), ref_id });
            }
        };
        match &event.kind {
            EventKind::Answer(a) => {
                tell(asker, a.author_id, Reason::Answer, &a.author, Some(a.id));
                for follower in self.store.followers(question.id).await? {
                    if Some(follower) != asker {
                        tell(Some(follower), a.author_id, Reason::FollowedAnswer, &a.author, Some(a.id));
                    }
                }
            }
            EventKind::Comment(c) => {
                let author = self.author_of(question, c.post).await?;
                tell(author, c.author_id, Reason::Comment, &c.author, Some(c.id));
            }
            EventKind::Accept { answer_id } => {
                let author = self.author_of(question, PostRef::answer(*answer_id)).await?;
                tell(author, asker, Reason::Accepted, &question.author, Some(*answer_id));
            }
            EventKind::Edit(r) => {
                let author = self.author_of(question, r.post).await?;
                let ref_id = (r.post.kind == PostKind::Answer).then_some(r.post.id);
                tell(author, r.editor_id, Reason::Edit, &r.editor, ref_id);
            }
            _ => {}
        }
        if !out.is_empty() {
            let muted = self.store.muted(question.id).await?;
            out.retain(|n| !muted.contains(&n.user_id));
        }
        Ok(out)
    }

    async fn author_of(&self, question: &Question, post: PostRef) -> Result<Option<Uuid>, DomainError> {
        Ok(match post.kind {
            PostKind::Question => question.author_id,
            PostKind::Answer => self.store.post_owner(post).await?.and_then(|o| o.author_id),
        })
    }

    /// `who`'s inbox, most recently changed first.
    pub async fn inbox(
        &self,
        who: &Identity,
        before: Option<i64>,
        unread_only: bool,
        limit: i64,
    ) -> Result<Vec<InboxEntry>, DomainError> {
        self.store.inbox(who.user_id, before, unread_only, limit).await
    }

    /// `who`'s unread count and their inbox topic's last seq.
    pub async fn unread(&self, who: &Identity) -> Result<(i64, i64), DomainError> {
        self.store.unread(who.user_id).await
    }

    /// Opens one of `who`'s entries: marks it read and returns its question (404 for an entry
    /// that is not theirs).
    pub async fn open_entry(&self, who: &Identity, entry: Uuid) -> Result<Uuid, DomainError> {
        let question = self.store.entry_question(who.user_id, entry).await?.ok_or_else(entry_not_found)?;
        self.mark_read(who, Some(entry)).await?;
        Ok(question)
    }

    /// Marks one of `who`'s entries read (404 for an entry that is not theirs), or all of
    /// them; every tab and device of theirs hears of it as a `read` event. Returns the unread
    /// count after it.
    pub async fn mark_read(&self, who: &Identity, entry: Option<Uuid>) -> Result<i64, DomainError> {
        if let Some(entry) = entry
            && self.store.entry_question(who.user_id, entry).await?.is_none()
        {
            return Err(entry_not_found());
        }
        let (store, broker, user) = (self.store.clone(), self.broker.clone(), who.user_id);
        // Its own task, like every write: a hung-up client must not leave a commit unannounced.
        tokio::spawn(async move {
            if let Some(event) = store.mark_read(user, entry).await? {
                broker.publish(std::slice::from_ref(&event));
            }
            Ok(store.unread(user).await?.0)
        })
        .await
        .map_err(|e| DomainError::internal(format!("read task failed: {e}")))?
    }
}
