-- Who follows a question. Following is mostly derived, not stored: a user follows a question
-- they asked, answered or commented on (read from those rows when needed, so posting an
-- answer writes nothing more). A row here records only a choice that overrides that:
-- `following` (a question they did not write on), `unfollowed` or `muted` (nothing at all
-- about it, not even as its asker).
CREATE TABLE follows (
    user_id     UUID NOT NULL REFERENCES users (id),
    question_id UUID NOT NULL REFERENCES questions (id),
    state       TEXT NOT NULL CHECK (state IN ('following', 'unfollowed', 'muted')),
    updated_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (user_id, question_id)
);
-- A question's followers (the inbox's fan-out reads this).
CREATE INDEX follows_by_question ON follows (question_id, state);
-- Whether a user commented on a question. (Answers get no such index: it would cost every
-- answer a write; their (question_id, seq) key already narrows the search to one question.)
CREATE INDEX comments_by_author ON comments (question_id, author_id);
