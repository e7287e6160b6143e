-- The event log: everything that happens on a topic (`question:<uuid>` today), with the
-- topic's own contiguous seq, written in the transaction of the change it records.
--
-- A topic's seq allocator lives on the row that owns the topic: `questions.last_seq` for
-- `question:<id>` (a `users.last_seq` will serve `user:<id>`). A writer increments it and
-- takes the new value (SQLite has one writer at a time, so seqs are contiguous and in commit
-- order). On the owner's row, the increment dirties no page that the change does not already
-- touch (a new answer updates `answer_count` on the same row).
ALTER TABLE questions ADD COLUMN last_seq INTEGER NOT NULL DEFAULT 0;

CREATE TABLE events (
    topic      TEXT NOT NULL,
    seq        INTEGER NOT NULL,
    -- The wire `type`: `answer`, and later edits, votes, comments…
    kind       TEXT NOT NULL,
    -- The row the event describes (an answer's id), so large bodies are not stored twice;
    -- `payload` (JSON) carries what has no row of its own.
    ref_id     BLOB,
    payload    TEXT,
    created_at TEXT NOT NULL,
    PRIMARY KEY (topic, seq)
) WITHOUT ROWID;

-- Every existing answer, as if it had been recorded from the start. Ids are 16-byte blobs
-- here; topic names spell them the canonical way.
UPDATE questions SET last_seq = answer_count;
INSERT INTO events (topic, seq, kind, ref_id, created_at)
    SELECT 'question:' || lower(substr(hex(question_id), 1, 8) || '-' || substr(hex(question_id), 9, 4) || '-' ||
           substr(hex(question_id), 13, 4) || '-' || substr(hex(question_id), 17, 4) || '-' ||
           substr(hex(question_id), 21)),
           seq, 'answer', id, created_at
    FROM answers;
