-- The rest of a post's life: edits (every revision kept), soft deletes, comments.
--
-- A post's `revision` is 1 until its first edit. Revision 1 is written to `revisions` only by
-- that first edit (from the post's row), so posting an answer writes no more than before.
-- A deleted post keeps its row (moderators still see it); readers never do, and the delete
-- rewrites the post's events in the log to `redacted`, so a resume cannot replay its text.
ALTER TABLE questions ADD COLUMN revision BIGINT NOT NULL DEFAULT 1;
ALTER TABLE questions ADD COLUMN edited_at TIMESTAMPTZ;
ALTER TABLE questions ADD COLUMN deleted_at TIMESTAMPTZ;
-- Answers deleted: `answer_count` keeps numbering answers (an answer's `seq`), readers see
-- `answer_count - deleted_answers`.
ALTER TABLE questions ADD COLUMN deleted_answers BIGINT NOT NULL DEFAULT 0;
ALTER TABLE answers ADD COLUMN revision BIGINT NOT NULL DEFAULT 1;
ALTER TABLE answers ADD COLUMN edited_at TIMESTAMPTZ;
ALTER TABLE answers ADD COLUMN deleted_at TIMESTAMPTZ;

CREATE TABLE revisions (
    -- An `edit` event's `ref_id`.
    id          UUID PRIMARY KEY NOT NULL,
    post_id     UUID NOT NULL,
    post_kind   TEXT NOT NULL CHECK (post_kind IN ('question', 'answer')),
    question_id UUID NOT NULL REFERENCES questions (id),
    revision    BIGINT NOT NULL,
    -- A question's title at this revision; NULL for answers.
    title       TEXT,
    body        TEXT NOT NULL,
    editor      TEXT NOT NULL,
    editor_id   UUID REFERENCES users (id),
    created_at  TIMESTAMPTZ NOT NULL,
    UNIQUE (post_id, revision)
);

CREATE TABLE comments (
    -- A `comment` or `comment-delete` event's `ref_id`.
    id          UUID PRIMARY KEY NOT NULL,
    question_id UUID NOT NULL REFERENCES questions (id),
    post_id     UUID NOT NULL,
    post_kind   TEXT NOT NULL CHECK (post_kind IN ('question', 'answer')),
    body        TEXT NOT NULL,
    author      TEXT NOT NULL,
    author_id   UUID REFERENCES users (id),
    created_at  TIMESTAMPTZ NOT NULL,
    deleted_at  TIMESTAMPTZ
);
CREATE INDEX comments_by_question ON comments (question_id, id);
