-- Tags: one to five per question (none for questions asked before tags, or through the API
-- without `tags`). A question's row keeps its tags in order as names separated by one space
-- (no name holds a space), so every read of a question has them without a join;
-- `question_tags` finds the questions of a tag, newest first (ids are UUIDv7), and `tags`
-- counts them. Deleting a question takes it out of both (its row keeps its `tags`).
ALTER TABLE questions ADD COLUMN tags TEXT NOT NULL DEFAULT '';

CREATE TABLE question_tags (
    tag         TEXT NOT NULL,
    question_id UUID NOT NULL REFERENCES questions (id),
    PRIMARY KEY (tag, question_id)
);
CREATE INDEX question_tags_by_question ON question_tags (question_id);

CREATE TABLE tags (
    name           TEXT PRIMARY KEY NOT NULL,
    -- Live (not deleted) questions carrying the tag.
    question_count BIGINT NOT NULL DEFAULT 0
);
-- The list of tags by popularity, then name.
CREATE INDEX tags_by_count ON tags (question_count DESC, name);

-- A question's tags at each revision (names separated by one space); NULL for answers.
ALTER TABLE revisions ADD COLUMN tags TEXT;
