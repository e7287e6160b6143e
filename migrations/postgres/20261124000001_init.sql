-- Questions and their answers. Ids are UUIDv7 (time ordered).
CREATE TABLE questions (
    id           UUID PRIMARY KEY,
    title        TEXT NOT NULL,
    body         TEXT NOT NULL,
    author       TEXT NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    -- Doubles as the per-question seq allocator: a post increments it (taking the row lock,
    -- which also makes commit order equal seq order) and takes the new value.
    answer_count BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE answers (
    id          UUID PRIMARY KEY,
    question_id UUID NOT NULL REFERENCES questions (id),
    seq         BIGINT NOT NULL,
    body        TEXT NOT NULL,
    author      TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    UNIQUE (question_id, seq)
);
