//! Editing and deleting posts, and commenting on them. Who may do what is decided here: the
//! author or a moderator edits and deletes a post (a question with answers only a moderator),
//! anyone signed in comments, the comment's author or a moderator deletes it.

use uuid::Uuid;

use super::{Posted, Services};
use crate::{
    domain::{
        Comment, DomainError, Edit, Event, EventKind, Idempotency, Identity, NewComment, PostRef, Revision,
    },
    store::{PostOwner, Store},
};

fn not_author(action: &str) -> DomainError {
    DomainError::Forbidden {
        code: "not_author",
        message: format!("Only the author or a moderator can {action} this."),
    }
}

impl Services {
    /// The post's owner record, refusing a post that does not exist (404) or was deleted (410).
    pub(super) async fn live_post(&self, post: PostRef) -> Result<PostOwner, DomainError> {
        let owner = self.store.post_owner(post).await?.ok_or_else(|| post.not_found())?;
        if owner.deleted {
            return Err(post.deleted());
        }
        Ok(owner)
    }

    /// Commits a write and publishes its events (and tells the notifier), even if the client
    /// hangs up mid-request ([`commit_then`](super::commit_then)).
    pub(super) async fn commit_and_publish<T, F>(
        &self,
        write: impl FnOnce(Store) -> F + Send + 'static,
    ) -> Result<T, DomainError>
    where
        F: Future<Output = Result<(T, Vec<Event>), DomainError>> + Send + 'static,
        T: Send + 'static,
    {
        let (store, broker, notifier) = (self.store.clone(), self.broker.clone(), self.notifier.clone());
        super::commit_then(write(store), move |events: Vec<Event>| {
            broker.publish(&events);
            notifier.saw(&events);
        })
        .await
    }

    /// Edits a post: its author or a moderator may. Returns the new revision, or `None` when
    /// the edit changed nothing (nothing is written or announced then).
    pub async fn edit(
        &self,
        editor: &Identity,
        post: PostRef,
        edit: Edit,
    ) -> Result<Option<Revision>, DomainError> {
        edit.check(post)?;
        let owner = self.live_post(post).await?;
        if owner.author_id != Some(editor.user_id) && !editor.moderates() {
            return Err(not_author("edit"));
        }
        self.commit_and_publish(move |store| async move {
            let events = store.edit_post(post, owner.question_id, edit).await?.unwrap_or_default();
            let revision = events.first().and_then(|e| match &e.kind {
                EventKind::Edit(r) => Some(r.clone()),
                _ => None,
            });
            Ok((revision, events))
        })
        .await
    }

    /// Every revision of a post, oldest first (revision 1 is the post as written). A deleted
    /// post's revisions are shown to moderators only.
    pub async fn revisions(
        &self,
        viewer: Option<&Identity>,
        post: PostRef,
    ) -> Result<Vec<Revision>, DomainError> {
        let owner = self.store.post_owner(post).await?.ok_or_else(|| post.not_found())?;
        if owner.deleted && !viewer.is_some_and(Identity::moderates) {
            return Err(post.deleted());
        }
        let revisions = self.store.revisions(post).await?;
        if !revisions.is_empty() {
            return Ok(revisions);
        }
        // Never edited: its one revision is the post itself.
        let first = self.store.first_revision(post, owner.question_id).await?;
        Ok(first.into_iter().collect())
    }

    /// Deletes a post: its author or a moderator may, but a question with answers only a
    /// moderator. Readers stop seeing it; subscribers get a `delete` tombstone (and, for a
    /// question, the list's subscribers a `question-delete`).
    pub async fn delete(&self, who: &Identity, post: PostRef) -> Result<(), DomainError> {
        let owner = self.live_post(post).await?;
        let moderator = who.moderates();
        if owner.author_id != Some(who.user_id) && !moderator {
            return Err(not_author("delete"));
        }
        self.commit_and_publish(move |store| async move {
            let events = store.delete_post(post, owner.question_id, !moderator).await?;
            Ok(((), events))
        })
        .await
    }

    /// Comments on a post; anyone signed in may. With an Idempotency-Key that already stored
    /// a comment, returns that one instead (announced once).
    pub async fn comment(
        &self,
        post: PostRef,
        new: NewComment,
        idempotency: Option<Idempotency>,
    ) -> Result<Posted<Comment>, DomainError> {
        if let Some(key) = &idempotency
            && let Some(id) = self.earlier_post(key).await?
        {
            return self.stored_comment(id).await.map(Posted::replay);
        }
        let owner = self.live_post(post).await?;
        let key = idempotency.clone();
        let posted = self
            .commit_and_publish(move |store| async move {
                let event = store.add_comment(owner.question_id, post, new, key.as_ref()).await?;
                let EventKind::Comment(comment) = &event.kind else {
                    return Err(DomainError::internal(format!(
                        "commenting recorded a {} event",
                        event.kind.name()
                    )));
                };
                Ok((comment.clone(), vec![event]))
            })
            .await;
        match posted {
            Ok(comment) => Ok(Posted::new(comment)),
            Err(DomainError::Conflict { .. }) if idempotency.is_some() => {
                let id = self.concurrent_post(idempotency.as_ref().expect("checked")).await?;
                self.stored_comment(id).await.map(Posted::replay)
            }
            Err(e) => Err(e),
        }
    }

    async fn stored_comment(&self, id: Uuid) -> Result<Comment, DomainError> {
        match self.store.comment(id).await? {
            Some((comment, false)) => Ok(comment),
            Some((_, true)) => Err(DomainError::comment_deleted()),
            None => Err(DomainError::internal(format!("comment {id} not found"))),
        }
    }

    /// Deletes a comment: its author or a moderator may.
    pub async fn delete_comment(&self, who: &Identity, comment_id: Uuid) -> Result<(), DomainError> {
        let (comment, deleted) =
            self.store.comment(comment_id).await?.ok_or_else(DomainError::comment_not_found)?;
        if deleted {
            return Err(DomainError::comment_deleted());
        }
        if comment.author_id != Some(who.user_id) && !who.moderates() {
            return Err(not_author("delete"));
        }
        self.commit_and_publish(move |store| async move {
            let event = store.delete_comment(comment.question_id, comment_id).await?;
            Ok(((), vec![event]))
        })
        .await
    }

    /// The standing comments on a question and its answers, oldest first.
    pub async fn comments(&self, question_id: Uuid) -> Result<Vec<Comment>, DomainError> {
        self.store.question(question_id).await?.ok_or_else(DomainError::question_not_found)?;
        self.store.comments_of(question_id).await
    }
}
