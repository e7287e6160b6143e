//! The rest of a post's life: edits with every revision kept, soft deletes that redact the
//! log, and comments. Each change is recorded as an event on the question's topic in the
//! transaction that makes it (`Tx::lock_question` first), like answers and votes.
//!
//! A delete rewrites the deleted post's earlier events (its answer, edits, comments, scores)
//! to `redacted`: they keep their seqs, so resuming clients still count them, but their text
//! can never be replayed. The rows stay for moderators. A deleted question's `question`
//! event on the list of questions is redacted the same way.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{
    Store,
    events::{self, OnTag},
    now,
    questions::{retag_question, summary_payload},
    rows::rendered,
};
use crate::domain::{
    Comment, DomainError, Edit, Event, EventKind, Idempotency, NewComment, PostKind, PostRef,
    QuestionSummary, Revision, TagName, Tags, Topic, markdown,
};

/// A post's current text and state, read inside the transaction that changes it.
#[derive(sqlx::FromRow)]
struct Current {
    title: Option<String>,
    body: String,
    body_html: Option<String>,
    author: String,
    author_id: Option<Uuid>,
    created_at: DateTime<Utc>,
    revision: i64,
    deleted: bool,
    /// A question's tags (the `tags` column); `None` for an answer.
    tags: Option<String>,
}

impl Current {
    fn tags(&self) -> Option<Vec<TagName>> {
        self.tags.as_deref().map(Tags::from_column)
    }
}

fn current_sql(kind: PostKind) -> &'static str {
    match kind {
        PostKind::Question => {
            "SELECT title, body, body_html, author, author_id, created_at, revision, deleted_at IS NOT NULL AS deleted, \
             tags FROM questions WHERE id = $1"
        }
        PostKind::Answer => {
            "SELECT CAST(NULL AS TEXT) AS title, body, body_html, author, author_id, created_at, revision, \
             deleted_at IS NOT NULL AS deleted, CAST(NULL AS TEXT) AS tags FROM answers WHERE id = $1"
        }
    }
}

const INSERT_REVISION: &str = "INSERT INTO revisions \
     (id, post_id, post_kind, question_id, revision, title, body, editor, editor_id, created_at, body_html, tags) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)";

#[derive(sqlx::FromRow)]
struct CommentRow {
    id: Uuid,
    question_id: Uuid,
    post_id: Uuid,
    post_kind: String,
    body: String,
    body_html: Option<String>,
    author: String,
    author_id: Option<Uuid>,
    created_at: DateTime<Utc>,
}

impl CommentRow {
    fn into_comment(self) -> Option<Comment> {
        Some(Comment {
            id: self.id,
            question_id: self.question_id,
            post: PostRef { kind: PostKind::parse(&self.post_kind)?, id: self.post_id },
            body_html: rendered(self.body_html, &self.body, markdown::inline),
            body: self.body,
            author: self.author,
            author_id: self.author_id,
            created_at: self.created_at,
        })
    }
}

#[derive(sqlx::FromRow)]
struct RevisionRow {
    post_id: Uuid,
    post_kind: String,
    question_id: Uuid,
    revision: i64,
    title: Option<String>,
    body: String,
    body_html: Option<String>,
    editor: String,
    editor_id: Option<Uuid>,
    created_at: DateTime<Utc>,
    tags: Option<String>,
}

impl Store {
    /// Edits `post` (of `question_id`): keeps the text it had as a revision (revision 1 is
    /// written by the first edit), stores the new one as the next revision and records an
    /// `edit` event. An edit that changes nothing writes nothing (`None`).
    ///
    /// A question's edit that changes its tags also moves it between tags (`question_tags`,
    /// the counts), puts the new tags in the `edit` event, and records a `question` event (its
    /// summary as it is now) on each added tag's topic and a `question-delete` on each removed
    /// one's. Returns the events recorded: the `edit` first, then the tags' in name order.
    pub async fn edit_post(
        &self,
        post: PostRef,
        question_id: Uuid,
        edit: Edit,
    ) -> Result<Option<Vec<Event>>, DomainError> {
        let at = now();
        // Rendered before the question's lock is taken: no writer waits on it.
        let new_html = edit.body.as_ref().map(|b| markdown::full(b.as_str()));
        let mut tx = self.begin().await?;
        tx.lock_question(question_id).await?;
        let current: Option<Current> =
            tx.query(current_sql(post.kind)).bind(post.id).fetch_optional().await?;
        let current = current.ok_or_else(|| post.not_found())?;
        if current.deleted {
            return Err(post.deleted());
        }
        let current_html = rendered(current.body_html.clone(), &current.body, markdown::full);
        let title = edit.title.map(|t| t.into_inner()).or(current.title.clone());
        let (body, body_html) = match (edit.body, new_html) {
            (Some(body), Some(html)) => (body.into_inner(), html),
            _ => (current.body.clone(), current_html.clone()),
        };
        let old_tags = current.tags();
        // Only a question has tags (`Edit::check` refuses them for an answer).
        let tags =
            edit.tags.filter(|_| post.kind == PostKind::Question).map(Tags::into_vec).or(old_tags.clone());
        if title == current.title && body == current.body && tags == old_tags {
            tx.commit(&[]).await?;
            return Ok(None);
        }
        let tags_changed = tags != old_tags;
        if current.revision == 1 {
            tx.query(INSERT_REVISION)
                .bind(Uuid::now_v7())
                .bind(post.id)
                .bind(post.kind.name())
                .bind(question_id)
                .bind(1_i64)
                .bind(&current.title)
                .bind(&current.body)
                .bind(&current.author)
                .bind(current.author_id)
                .bind(current.created_at)
                .bind(&current_html)
                .bind(&current.tags)
                .execute()
                .await?;
        }
        let revision = Revision {
            post,
            question_id,
            revision: current.revision + 1,
            title,
            body,
            body_html,
            tags: tags_changed.then(|| tags.clone()).flatten(),
            editor: edit.editor.into_inner(),
            editor_id: Some(edit.editor_id),
            created_at: at,
        };
        let id = Uuid::now_v7();
        tx.query(INSERT_REVISION)
            .bind(id)
            .bind(post.id)
            .bind(post.kind.name())
            .bind(question_id)
            .bind(revision.revision)
            .bind(&revision.title)
            .bind(&revision.body)
            .bind(&revision.editor)
            .bind(revision.editor_id)
            .bind(at)
            .bind(&revision.body_html)
            .bind(tags.as_deref().map(Tags::to_column))
            .execute()
            .await?;
        let update = match post.kind {
            PostKind::Question => {
                "UPDATE questions SET title = $2, body = $3, revision = $4, edited_at = $5, body_html = $6, tags = $7 \
                 WHERE id = $1"
            }
            // $2 and $7 are bound for both; an answer has no title and no tags to set.
            PostKind::Answer => {
                "UPDATE answers SET body = $3, revision = $4, edited_at = $5, body_html = $6 \
                 WHERE id = $1 AND $2 IS NULL AND $7 IS NULL"
            }
        };
        tx.query(update)
            .bind(post.id)
            .bind(&revision.title)
            .bind(&revision.body)
            .bind(revision.revision)
            .bind(at)
            .bind(&revision.body_html)
            .bind(tags.as_deref().map(Tags::to_column))
            .execute()
            .await?;
        // The new tags travel in the edit's payload, which a resume reads back.
        let payload = revision.tags.as_ref().map(|tags| serde_json::json!({ "tags": tags }).to_string());
        let seq =
            events::record_question_event(&mut tx, question_id, "edit", id, payload.as_deref(), at).await?;
        let mut recorded =
            vec![Event { topic: Topic::Question(question_id), seq, kind: EventKind::Edit(revision.clone()) }];
        if let (true, Some(old), Some(new)) = (tags_changed, old_tags, revision.tags.as_ref()) {
            // The question's row is locked (first); then the `tags` rows and the tags' topics'
            // rows, each in name order.
            retag_question(&mut tx, question_id, &old, new).await?;
            let summary = QuestionSummary {
                id: question_id,
                title: revision.title.clone().unwrap_or_default(),
                author: current.author.clone(),
                author_id: current.author_id,
                created_at: current.created_at,
                tags: new.clone(),
            };
            let payload = summary_payload(&summary);
            let added = new.iter().filter(|t| !old.contains(t));
            let added = added.map(|&tag| OnTag { tag, kind: "question", payload: Some(&payload) });
            let removed = old.iter().filter(|t| !new.contains(t));
            let removed = removed.map(|&tag| OnTag { tag, kind: "question-delete", payload: None });
            let on = events::record_on_tags(&mut tx, added.chain(removed).collect(), question_id, at).await?;
            recorded.extend(on.into_iter().map(|(e, topic, seq)| Event {
                topic,
                seq,
                kind: match e.kind {
                    "question" => EventKind::Question(summary.clone()),
                    _ => EventKind::QuestionDelete { question_id },
                },
            }));
        }
        tx.commit(&recorded).await?;
        Ok(Some(recorded))
    }

    /// Every revision of `post`, oldest first; empty when it was never edited (its only
    /// revision is then the post itself).
    pub async fn revisions(&self, post: PostRef) -> Result<Vec<Revision>, DomainError> {
        const SQL: &str = "SELECT post_id, post_kind, question_id, revision, title, body, body_html, editor, editor_id, \
                           created_at, tags FROM revisions WHERE post_id = $1 ORDER BY revision";
        let rows: Vec<RevisionRow> = self.read(SQL).bind(post.id).fetch_all().await?;
        Ok(rows
            .into_iter()
            .filter_map(|r| {
                let kind = PostKind::parse(&r.post_kind)?;
                // A question's revision written before tags existed had none.
                let tags =
                    (kind == PostKind::Question).then(|| Tags::from_column(r.tags.as_deref().unwrap_or("")));
                Some(Revision {
                    post: PostRef { kind, id: r.post_id },
                    tags,
                    question_id: r.question_id,
                    revision: r.revision,
                    title: r.title,
                    body_html: rendered(r.body_html, &r.body, markdown::full),
                    body: r.body,
                    editor: r.editor,
                    editor_id: r.editor_id,
                    created_at: r.created_at,
                })
            })
            .collect())
    }

    /// A never-edited post's one revision: the post as written, deleted or not (moderators
    /// see deleted posts' revisions).
    pub async fn first_revision(
        &self,
        post: PostRef,
        question_id: Uuid,
    ) -> Result<Option<Revision>, DomainError> {
        let current: Option<Current> =
            self.read(current_sql(post.kind)).bind(post.id).fetch_optional().await?;
        Ok(current.map(|c| Revision {
            post,
            question_id,
            revision: 1,
            tags: c.tags(),
            title: c.title,
            body_html: rendered(c.body_html, &c.body, markdown::full),
            body: c.body,
            editor: c.author,
            editor_id: c.author_id,
            created_at: c.created_at,
        }))
    }

    /// Soft-deletes `post` (of `question_id`): the row stays, readers stop seeing it, its
    /// earlier events become `redacted`, and a `delete` event is recorded. Deleting an answer
    /// deletes its comments and, if it was accepted, withdraws the acceptance (the tombstone
    /// says enough: no separate `unaccept`). Deleting a question redacts its whole topic.
    /// With `only_unanswered`, a question that has answers (not deleted) is refused
    /// (`has_answers`), checked in the transaction so an answer cannot slip in between.
    ///
    /// A deleted question also leaves the list of questions and its tags: its `question`
    /// events there become `redacted` and a `question-delete` event follows on each of those
    /// topics. Returns the events recorded: the `delete`, then (for a question) the tags'
    /// `question-delete`s in name order, then the list's.
    pub async fn delete_post(
        &self,
        post: PostRef,
        question_id: Uuid,
        only_unanswered: bool,
    ) -> Result<Vec<Event>, DomainError> {
        let at = now();
        let topic = Topic::Question(question_id);
        let mut tx = self.begin().await?;
        tx.lock_question(question_id).await?;
        let sql = match post.kind {
            PostKind::Question => {
                "UPDATE questions SET deleted_at = $2 WHERE id = $1 AND deleted_at IS NULL RETURNING id"
            }
            PostKind::Answer => {
                "UPDATE answers SET deleted_at = $2 WHERE id = $1 AND deleted_at IS NULL RETURNING id"
            }
        };
        if only_unanswered && post.kind == PostKind::Question {
            let answers: i64 = tx
                .query("SELECT COUNT(*) FROM answers WHERE question_id = $1 AND deleted_at IS NULL")
                .bind(question_id)
                .scalar_one()
                .await?;
            if answers > 0 {
                return Err(DomainError::Forbidden {
                    code: "has_answers",
                    message: "A question with answers can only be deleted by a moderator.".into(),
                });
            }
        }
        let changed: Option<Uuid> = tx.query(sql).bind(post.id).bind(at).scalar_optional().await?;
        if changed.is_none() {
            // Not there, or deleted already: say which.
            let exists: Option<Current> =
                tx.query(current_sql(post.kind)).bind(post.id).fetch_optional().await?;
            return Err(if exists.is_some() { post.deleted() } else { post.not_found() });
        }
        match post.kind {
            PostKind::Question => {
                tx.query("UPDATE events SET kind = 'redacted', payload = NULL WHERE topic = $1")
                    .bind(topic.to_string())
                    .execute()
                    .await?;
                // Nobody is notified of a deleted question any more: the notifier's
                // position moves to the question's end. That row is also what the
                // notifier takes first when it writes entries, so an entry written
                // meanwhile has either committed (and is blanked below) or finds its
                // position moved and writes nothing.
                tx.query(
                    "INSERT INTO notify_cursor (question_id, seq) \
                         SELECT id, last_seq FROM questions WHERE id = $1 \
                         ON CONFLICT (question_id) DO UPDATE SET seq = excluded.seq",
                )
                .bind(question_id)
                .execute()
                .await?;
                // Inbox entries about it keep their place and count but lose its
                // title: the inbox, its page, a resume of `user:…` and a webhook
                // replay all read the entry as it is now.
                tx.query("UPDATE inbox SET title = '' WHERE question_id = $1 AND title <> ''")
                    .bind(question_id)
                    .execute()
                    .await?;
            }
            PostKind::Answer => {
                tx.query("UPDATE comments SET deleted_at = $2 WHERE post_id = $1 AND deleted_at IS NULL")
                    .bind(post.id)
                    .bind(at)
                    .execute()
                    .await?;
                tx.query(
                    "UPDATE events SET kind = 'redacted', payload = NULL WHERE topic = $1 AND (ref_id = $2 \
                     OR ref_id IN (SELECT id FROM revisions WHERE post_id = $2) \
                     OR ref_id IN (SELECT id FROM comments WHERE post_id = $2))",
                )
                .bind(topic.to_string())
                .bind(post.id)
                .execute()
                .await?;
                tx.query(
                    "UPDATE questions SET deleted_answers = deleted_answers + 1, accepted_answer_id = \
                     CASE WHEN accepted_answer_id = $2 THEN NULL ELSE accepted_answer_id END WHERE id = $1",
                )
                .bind(question_id)
                .bind(post.id)
                .execute()
                .await?;
            }
        }
        let payload = serde_json::json!({"post_kind": post.kind.name()}).to_string();
        let seq = events::record_question_event(&mut tx, question_id, "delete", post.id, Some(&payload), at)
            .await?;
        let mut events = vec![Event { topic, seq, kind: EventKind::Delete { post } }];
        if post.kind == PostKind::Question {
            // It leaves its tags: out of `question_tags` and the counts (the `tags` rows in name
            // order), its `question` events on every tag's topic it was ever on redacted (the
            // partial index `events_tags_by_ref` finds them; the literal pattern lets the
            // planner use it), and a `question-delete` on each tag it carries.
            let column: String =
                tx.query("SELECT tags FROM questions WHERE id = $1").bind(question_id).scalar_one().await?;
            let tags = Tags::from_column(&column);
            retag_question(&mut tx, question_id, &tags, &[]).await?;
            tx.query(
                "UPDATE events SET kind = 'redacted', payload = NULL \
                     WHERE topic LIKE 'tag:%' AND ref_id = $1 AND kind = 'question'",
            )
            .bind(question_id)
            .execute()
            .await?;
            let leaving = tags.iter().map(|&tag| OnTag { tag, kind: "question-delete", payload: None });
            let on = events::record_on_tags(&mut tx, leaving.collect(), question_id, at).await?;
            events.extend(on.into_iter().map(|(_, topic, seq)| Event {
                topic,
                seq,
                kind: EventKind::QuestionDelete { question_id },
            }));
            // The index `events_questions_by_ref` finds it; the literal topic lets
            // the planner use that partial index.
            tx.query(
                "UPDATE events SET kind = 'redacted', payload = NULL \
                     WHERE topic = 'questions' AND ref_id = $1 AND kind = 'question'",
            )
            .bind(question_id)
            .execute()
            .await?;
            // Last, after the question's row (locked first): the
            // one lock order every writer of the list follows.
            let seq = events::record_topic_event(
                &mut tx,
                Topic::Questions,
                "question-delete",
                question_id,
                None,
                at,
            )
            .await?;
            events.push(Event {
                topic: Topic::Questions,
                seq,
                kind: EventKind::QuestionDelete { question_id },
            });
        }
        tx.commit(events.as_slice()).await?;
        Ok(events)
    }

    /// Adds a comment to `post` (of `question_id`) and records a `comment` event; with an
    /// Idempotency-Key, its record is written in the same transaction.
    pub async fn add_comment(
        &self,
        question_id: Uuid,
        post: PostRef,
        new: NewComment,
        idempotency: Option<&Idempotency>,
    ) -> Result<Event, DomainError> {
        let at = now();
        let body = new.body.into_inner();
        let comment = Comment {
            id: Uuid::now_v7(),
            question_id,
            post,
            body_html: markdown::inline(&body),
            body,
            author: new.author.into_inner(),
            author_id: Some(new.author_id),
            created_at: at,
        };
        let mut tx = self.begin().await?;
        tx.lock_question(question_id).await?;
        let current: Option<Current> =
            tx.query(current_sql(post.kind)).bind(post.id).fetch_optional().await?;
        match current {
            None => return Err(post.not_found()),
            Some(c) if c.deleted => return Err(post.deleted()),
            Some(_) => {}
        }
        tx.query(
            "INSERT INTO comments (id, question_id, post_id, post_kind, body, author, author_id, created_at, body_html) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(comment.id)
        .bind(question_id)
        .bind(post.id)
        .bind(post.kind.name())
        .bind(&comment.body)
        .bind(&comment.author)
        .bind(comment.author_id)
        .bind(at)
        .bind(&comment.body_html)
        .execute()
        .await?;
        if let Some(key) = idempotency {
            events::remember_key(&mut tx, key, comment.id, at).await?;
        }
        let seq =
            events::record_question_event(&mut tx, question_id, "comment", comment.id, None, at).await?;
        let event = Event { topic: Topic::Question(question_id), seq, kind: EventKind::Comment(comment) };
        tx.commit(std::slice::from_ref(&event)).await?;
        Ok(event)
    }

    /// A comment by id, and whether it was deleted; `None` when there is no such comment.
    pub async fn comment(&self, id: Uuid) -> Result<Option<(Comment, bool)>, DomainError> {
        const SQL: &str = "SELECT id, question_id, post_id, post_kind, body, body_html, author, author_id, created_at, \
                           deleted_at IS NOT NULL AS deleted FROM comments WHERE id = $1";
        #[derive(sqlx::FromRow)]
        struct Row {
            #[sqlx(flatten)]
            comment: CommentRow,
            deleted: bool,
        }
        let row: Option<Row> = self.read(SQL).bind(id).fetch_optional().await?;
        Ok(row.and_then(|r| Some((r.comment.into_comment()?, r.deleted))))
    }

    /// The standing comments on a question and its answers, oldest first.
    pub async fn comments_of(&self, question_id: Uuid) -> Result<Vec<Comment>, DomainError> {
        const SQL: &str = "SELECT id, question_id, post_id, post_kind, body, body_html, author, author_id, created_at \
                           FROM comments WHERE question_id = $1 AND deleted_at IS NULL ORDER BY id";
        let rows: Vec<CommentRow> = self.read(SQL).bind(question_id).fetch_all().await?;
        Ok(rows.into_iter().filter_map(CommentRow::into_comment).collect())
    }

    /// Deletes a comment of `question_id` and records a `comment-delete` event; its `comment`
    /// event becomes `redacted`. A comment deleted already is `Gone`.
    pub async fn delete_comment(&self, question_id: Uuid, comment_id: Uuid) -> Result<Event, DomainError> {
        let at = now();
        let topic = Topic::Question(question_id);
        let mut tx = self.begin().await?;
        tx.lock_question(question_id).await?;
        let post: Option<(Uuid, String)> = tx.query(
            "UPDATE comments SET deleted_at = $2 WHERE id = $1 AND deleted_at IS NULL RETURNING post_id, post_kind",
        )
        .bind(comment_id)
        .bind(at)
        .fetch_optional()
        .await?;
        let (post_id, kind) = post.ok_or_else(DomainError::comment_deleted)?;
        let post = PostRef { kind: PostKind::parse(&kind).unwrap_or(PostKind::Answer), id: post_id };
        tx.query("UPDATE events SET kind = 'redacted', payload = NULL WHERE topic = $1 AND ref_id = $2")
            .bind(topic.to_string())
            .bind(comment_id)
            .execute()
            .await?;
        let seq = events::record_question_event(&mut tx, question_id, "comment-delete", comment_id, None, at)
            .await?;
        let event = Event { topic, seq, kind: EventKind::CommentDelete { comment_id, post } };
        tx.commit(std::slice::from_ref(&event)).await?;
        Ok(event)
    }
}
