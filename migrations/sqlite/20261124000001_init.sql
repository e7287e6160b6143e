-- Questions and their answers. Ids are UUIDv7 (time ordered), stored as 16-byte blobs.
CREATE TABLE questions (
    id           BLOB PRIMARY KEY NOT NULL,
    title        TEXT NOT NULL,
    body         TEXT NOT NULL,
    author       TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    -- Doubles as the per-question seq allocator: a post increments it and takes the new value.
    answer_count INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE answers (
    id          BLOB PRIMARY KEY NOT NULL,
    question_id BLOB NOT NULL REFERENCES questions (id),
    seq         INTEGER NOT NULL,
    body        TEXT NOT NULL,
    author      TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    UNIQUE (question_id, seq)
);
