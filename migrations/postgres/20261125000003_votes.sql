-- Votes: one per user and post, up (+1) or down (-1). A post's score is the sum of its
-- standing votes, kept on the post's row by the transaction that changes a vote (which also
-- records the new score as an event on the question's topic).
ALTER TABLE questions ADD COLUMN score BIGINT NOT NULL DEFAULT 0;
ALTER TABLE answers ADD COLUMN score BIGINT NOT NULL DEFAULT 0;

CREATE TABLE votes (
    user_id     UUID NOT NULL REFERENCES users (id),
    -- A question's or an answer's id (UUIDv7: never both).
    post_id     UUID NOT NULL,
    question_id UUID NOT NULL REFERENCES questions (id),
    value       SMALLINT NOT NULL CHECK (value IN (-1, 1)),
    created_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (user_id, post_id)
);
