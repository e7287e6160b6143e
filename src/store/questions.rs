//! Questions and answers as read by pages and the API, and asking a question (answers are
//! posted through `group_commit`).

use uuid::Uuid;

use super::{
    Store,
    engine::Tx,
    events,
    events::OnTag,
    now,
    rows::{AnswerRow, QuestionRow},
};
use crate::domain::{
    Answer, DomainError, Event, EventKind, Idempotency, NewQuestion, Page, Question, QuestionSummary,
    TagCount, TagName, Tags, Topic, markdown,
};

impl Store {
    /// Stores a question, and its Idempotency-Key record if it has one, in one transaction
    /// that also records its `question` event on the list's topic (`questions`) and on each
    /// of its tags' topics (`tag:{name}`); its own topic starts with no events (`last_seq` 0).
    /// Returns the question and those events (the list's first, then the tags' in name order).
    pub async fn create_question(
        &self,
        new: NewQuestion,
        idempotency: Option<&Idempotency>,
    ) -> Result<(Question, Vec<Event>), DomainError> {
        let body = new.body.into_inner();
        let question = Question {
            id: Uuid::now_v7(),
            title: new.title.into_inner(),
            body_html: markdown::full(&body),
            body,
            author: new.author.into_inner(),
            author_id: new.author_id,
            created_at: now(),
            answer_count: 0,
            score: 0,
            accepted_answer_id: None,
            last_seq: 0,
            revision: 1,
            edited_at: None,
            tags: new.tags.map(Tags::into_vec).unwrap_or_default(),
        };
        let summary = QuestionSummary {
            id: question.id,
            title: question.title.clone(),
            author: question.author.clone(),
            author_id: question.author_id,
            created_at: question.created_at,
            tags: question.tags.clone(),
        };
        let payload = summary_payload(&summary);
        let mut tx = self.begin().await?;
        tx.query(
            "INSERT INTO questions (id, title, body, author, author_id, created_at, answer_count, tags, body_html) \
             VALUES ($1, $2, $3, $4, $5, $6, 0, $7, $8)",
        )
        .bind(question.id)
        .bind(&question.title)
        .bind(&question.body)
        .bind(&question.author)
        .bind(question.author_id)
        .bind(question.created_at)
        .bind(Tags::to_column(&question.tags))
        .bind(&question.body_html)
        .execute()
        .await?;
        // The key first: a concurrent retry waits on its unique index holding no shared row.
        if let Some(key) = idempotency {
            events::remember_key(&mut tx, key, question.id, question.created_at).await?;
        }
        retag_question(&mut tx, question.id, &[], &question.tags).await?;
        // Then the tags' topics, in name order (`record_on_tags`), and last the list's: on
        // Postgres each row is locked from here to COMMIT, and the one global row, the list's,
        // is held the shortest.
        let at = question.created_at;
        let on = question.tags.iter().map(|&tag| OnTag { tag, kind: "question", payload: Some(&payload) });
        let tagged = events::record_on_tags(&mut tx, on.collect(), question.id, at).await?;
        let seq = events::record_topic_event(
            &mut tx,
            Topic::Questions,
            "question",
            question.id,
            Some(&payload),
            at,
        )
        .await?;
        let mut recorded =
            vec![Event { topic: Topic::Questions, seq, kind: EventKind::Question(summary.clone()) }];
        recorded.extend(tagged.into_iter().map(|(_, topic, seq)| Event {
            topic,
            seq,
            kind: EventKind::Question(summary.clone()),
        }));
        tx.commit(&recorded).await?;
        Ok((question, recorded))
    }

    pub async fn question(&self, id: Uuid) -> Result<Option<Question>, DomainError> {
        const SQL: &str = "SELECT id, title, body, body_html, author, author_id, created_at, answer_count - deleted_answers AS answer_count, score, accepted_answer_id, last_seq, revision, edited_at, tags \
                           FROM questions WHERE id = $1 AND deleted_at IS NULL";
        let row: Option<QuestionRow> = self.read(SQL).bind(id).fetch_optional().await?;
        Ok(row.map(Into::into))
    }

    /// A page of questions, newest first; `before` is an exclusive cursor (ids are UUIDv7, so
    /// id order is time order) and `next` continues the listing.
    pub async fn question_page(
        &self,
        before: Option<Uuid>,
        limit: i64,
    ) -> Result<Page<Question, Uuid>, DomainError> {
        const SQL: &str = "SELECT id, title, body, body_html, author, author_id, created_at, answer_count - deleted_answers AS answer_count, score, accepted_answer_id, last_seq, revision, edited_at, tags FROM questions \
                           WHERE ($1 IS NULL OR id < $1) AND deleted_at IS NULL ORDER BY id DESC LIMIT $2";
        let rows: Vec<QuestionRow> = self.read(SQL).bind(before).bind(limit + 1).fetch_all().await?;
        Ok(Page::of(rows.into_iter().map(Into::into).collect(), limit, |q: &Question| q.id))
    }

    /// The newest page of questions and the list topic's seq it reflects, read in one
    /// snapshot: a page that shows them and then subscribes to `questions` after that seq
    /// sees every later change exactly once, none of the earlier ones again.
    pub async fn question_page_and_list_seq(
        &self,
        limit: i64,
    ) -> Result<(Page<Question, Uuid>, i64), DomainError> {
        const SEQ: &str = "SELECT last_seq FROM topics WHERE name = 'questions'";
        const PAGE: &str = "SELECT id, title, body, body_html, author, author_id, created_at, answer_count - deleted_answers AS answer_count, score, accepted_answer_id, last_seq, revision, edited_at, tags FROM questions \
                            WHERE deleted_at IS NULL ORDER BY id DESC LIMIT $1";
        let mut tx = self.snapshot().await?;
        let seq: i64 = tx.query(SEQ).scalar_one().await?;
        let rows: Vec<QuestionRow> = tx.query(PAGE).bind(limit + 1).fetch_all().await?;
        tx.end_read().await?;
        Ok((Page::of(rows.into_iter().map(Into::into).collect(), limit, |q: &Question| q.id), seq))
    }

    /// A page of the questions carrying `tag`, newest first (through `question_tags`, whose key
    /// is `(tag, question_id)`); `before` is an exclusive cursor as in [`Self::question_page`].
    pub async fn tagged_question_page(
        &self,
        tag: TagName,
        before: Option<Uuid>,
        limit: i64,
    ) -> Result<Page<Question, Uuid>, DomainError> {
        let rows: Vec<QuestionRow> =
            self.read(TAGGED_PAGE).bind(tag.as_str()).bind(before).bind(limit + 1).fetch_all().await?;
        Ok(Page::of(rows.into_iter().map(Into::into).collect(), limit, |q: &Question| q.id))
    }

    /// The newest page of `tag`'s questions and the seq of its topic (`tag:{name}`, 0 before
    /// its first event) that page reflects, read in one snapshot: a page that shows them and
    /// then subscribes to the tag after that seq sees every later change exactly once.
    pub async fn tagged_question_page_and_seq(
        &self,
        tag: TagName,
        limit: i64,
    ) -> Result<(Page<Question, Uuid>, i64), DomainError> {
        let mut tx = self.snapshot().await?;
        let seq: Option<i64> = tx
            .query("SELECT last_seq FROM topics WHERE name = $1")
            .bind(Topic::Tag(tag).to_string())
            .scalar_optional()
            .await?;
        let no_cursor: Option<Uuid> = None;
        let rows: Vec<QuestionRow> =
            tx.query(TAGGED_PAGE).bind(tag.as_str()).bind(no_cursor).bind(limit + 1).fetch_all().await?;
        tx.end_read().await?;
        let page = Page::of(rows.into_iter().map(Into::into).collect(), limit, |q: &Question| q.id);
        Ok((page, seq.unwrap_or(0)))
    }

    /// Tags carried by at least one live question, most used first, then by name; `offset` of
    /// them skipped, at most `limit`, `next` the offset of the next page.
    pub async fn tag_page(&self, offset: i64, limit: i64) -> Result<Page<TagCount, i64>, DomainError> {
        const SQL: &str = "SELECT name, question_count FROM tags WHERE question_count > 0 \
                           ORDER BY question_count DESC, name LIMIT $1 OFFSET $2";
        let rows: Vec<(String, i64)> = self.read(SQL).bind(limit + 1).bind(offset).fetch_all().await?;
        let tags = rows
            .into_iter()
            .filter_map(|(name, question_count)| Some(TagCount { name: name.parse().ok()?, question_count }))
            .collect();
        let mut page = Page::of(tags, limit, |_| 0);
        page.next = page.next.map(|_| offset + limit);
        Ok(page)
    }

    /// One tag's live question count and its topic's last seq; `None` for a tag no question
    /// ever carried.
    pub async fn tag(&self, tag: TagName) -> Result<Option<(TagCount, i64)>, DomainError> {
        const SQL: &str = "SELECT t.question_count, COALESCE((SELECT last_seq FROM topics WHERE name = $2), 0) \
                           FROM tags t WHERE t.name = $1";
        let row: Option<(i64, i64)> =
            self.read(SQL).bind(tag.as_str()).bind(Topic::Tag(tag).to_string()).fetch_optional().await?;
        Ok(row.map(|(question_count, seq)| (TagCount { name: tag, question_count }, seq)))
    }

    /// A page of a question's answers with `seq > after_seq`, ascending; `next` is the
    /// `after_seq` that continues it.
    pub async fn answer_page(
        &self,
        question_id: Uuid,
        after_seq: i64,
        limit: i64,
    ) -> Result<Page<Answer, i64>, DomainError> {
        Ok(Page::of(self.answers_after(question_id, after_seq, limit + 1).await?, limit, |a| a.seq))
    }

    /// Answers with `seq > after_seq`, ascending, at most `limit` of them.
    pub async fn answers_after(
        &self,
        question_id: Uuid,
        after_seq: i64,
        limit: i64,
    ) -> Result<Vec<Answer>, DomainError> {
        const SQL: &str = "SELECT id, question_id, seq, body, body_html, author, author_id, created_at, score, revision, edited_at \
                           FROM answers WHERE question_id = $1 AND seq > $2 AND deleted_at IS NULL ORDER BY seq LIMIT $3";
        let rows: Vec<AnswerRow> =
            self.read(SQL).bind(question_id).bind(after_seq).bind(limit).fetch_all().await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    /// A question's live answers in reading order, as on Stack Overflow: the accepted answer
    /// first, then by score (highest first), then oldest first (by seq); `offset` of them
    /// skipped, at most `limit`. One statement, so the order and the accepted answer agree.
    pub async fn answers_ranked(
        &self,
        question_id: Uuid,
        offset: i64,
        limit: i64,
    ) -> Result<Vec<Answer>, DomainError> {
        const SQL: &str = "SELECT a.id, a.question_id, a.seq, a.body, a.body_html, a.author, a.author_id, a.created_at, a.score, a.revision, a.edited_at \
                           FROM answers a JOIN questions q ON q.id = a.question_id \
                           WHERE a.question_id = $1 AND a.deleted_at IS NULL \
                           ORDER BY CASE WHEN a.id = q.accepted_answer_id THEN 0 ELSE 1 END, a.score DESC, a.seq \
                           LIMIT $2 OFFSET $3";
        let rows: Vec<AnswerRow> =
            self.read(SQL).bind(question_id).bind(limit).bind(offset).fetch_all().await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    /// How many live answers come before answer `seq` in the order of [`Self::answers_ranked`];
    /// `None` when the question has no live answer `seq`.
    pub async fn answer_rank(&self, question_id: Uuid, seq: i64) -> Result<Option<i64>, DomainError> {
        const SQL: &str = "SELECT (SELECT count(*) FROM answers o WHERE o.question_id = a.question_id AND o.deleted_at IS NULL \
                             AND (CASE WHEN o.id = q.accepted_answer_id THEN 0 ELSE 1 END, -o.score, o.seq) \
                               < (CASE WHEN a.id = q.accepted_answer_id THEN 0 ELSE 1 END, -a.score, a.seq)) \
                           FROM answers a JOIN questions q ON q.id = a.question_id \
                           WHERE a.question_id = $1 AND a.seq = $2 AND a.deleted_at IS NULL";
        Ok(self.read(SQL).bind(question_id).bind(seq).scalar_optional().await?)
    }

    /// One answer by its id (what an Idempotency-Key replay returns).
    pub async fn answer(&self, id: Uuid) -> Result<Option<Answer>, DomainError> {
        const SQL: &str = "SELECT id, question_id, seq, body, body_html, author, author_id, created_at, score, revision, edited_at \
                           FROM answers WHERE id = $1 AND deleted_at IS NULL";
        let row: Option<AnswerRow> = self.read(SQL).bind(id).fetch_optional().await?;
        Ok(row.map(Into::into))
    }
}

/// A page of one tag's live questions, newest first: `$1` the tag, `$2` the exclusive cursor
/// (or NULL), `$3` the rows to read.
const TAGGED_PAGE: &str = "SELECT q.id, q.title, q.body, q.body_html, q.author, q.author_id, q.created_at, \
     q.answer_count - q.deleted_answers AS answer_count, q.score, q.accepted_answer_id, q.last_seq, q.revision, \
     q.edited_at, q.tags FROM question_tags qt JOIN questions q ON q.id = qt.question_id \
     WHERE qt.tag = $1 AND ($2 IS NULL OR qt.question_id < $2) AND q.deleted_at IS NULL \
     ORDER BY qt.question_id DESC LIMIT $3";

/// A `question` event's payload: the summary travels in it (a title is short), so the list's
/// and the tags' events are read without a join, and a delete that empties the payload leaves
/// nothing behind.
pub(super) fn summary_payload(summary: &QuestionSummary) -> String {
    serde_json::json!({
        "title": summary.title,
        "author": summary.author,
        "author_id": summary.author_id,
        "created_at": summary.created_at,
        "tags": summary.tags,
    })
    .to_string()
}

/// Moves a question from tags `old` to tags `new` (`old` empty: asking; `new` empty: deleting):
/// a live question is in `question_tags` and in its tags' `question_count` exactly while it
/// carries them. The `tags` rows are taken in one pass, in name order, so two writers with
/// overlapping tags cannot deadlock.
pub(super) async fn retag_question(
    tx: &mut Tx,
    question_id: Uuid,
    old: &[TagName],
    new: &[TagName],
) -> Result<(), DomainError> {
    let both: Vec<TagName> = old.iter().chain(new).copied().collect();
    for tag in sorted(&both) {
        match (old.contains(&tag), new.contains(&tag)) {
            (false, true) => tag_question(tx, question_id, tag).await?,
            (true, false) => untag_question(tx, question_id, tag).await?,
            _ => {}
        }
    }
    Ok(())
}

/// Files a question under `tag` and counts it there.
async fn tag_question(tx: &mut Tx, question_id: Uuid, tag: TagName) -> Result<(), DomainError> {
    {
        tx.query("INSERT INTO question_tags (tag, question_id) VALUES ($1, $2)")
            .bind(tag.as_str())
            .bind(question_id)
            .execute()
            .await?;
        tx.query(
            "INSERT INTO tags (name, question_count) VALUES ($1, 1) \
             ON CONFLICT (name) DO UPDATE SET question_count = tags.question_count + 1",
        )
        .bind(tag.as_str())
        .execute()
        .await?;
    }
    Ok(())
}

/// Takes a question out of `tag` (which it no longer carries, or it was deleted).
async fn untag_question(tx: &mut Tx, question_id: Uuid, tag: TagName) -> Result<(), DomainError> {
    {
        let removed = tx
            .query("DELETE FROM question_tags WHERE tag = $1 AND question_id = $2")
            .bind(tag.as_str())
            .bind(question_id)
            .execute()
            .await?;
        // Counted down only for a row that was there: the count stays the number of rows.
        if removed > 0 {
            tx.query("UPDATE tags SET question_count = question_count - 1 WHERE name = $1")
                .bind(tag.as_str())
                .execute()
                .await?;
        }
    }
    Ok(())
}

/// Tags in name order: the order their rows are locked in.
fn sorted(tags: &[TagName]) -> Vec<TagName> {
    let mut tags = tags.to_vec();
    tags.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    tags.dedup();
    tags
}
