-- The event log: everything that happens on a topic (`question:<uuid>` today), with the
-- topic's own contiguous seq, written in the transaction of the change it records.
CREATE TABLE topics (
    name     TEXT PRIMARY KEY,
    -- The seq allocator: a writer increments it and takes the new value. The row lock it
    -- holds until commit makes seqs contiguous and commit order equal seq order.
    last_seq BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE events (
    topic      TEXT NOT NULL,
    seq        BIGINT NOT NULL,
    -- The wire `type`: `answer`, and later edits, votes, comments…
    kind       TEXT NOT NULL,
    -- The row the event describes (an answer's id), so large bodies are not stored twice;
    -- `payload` (JSON) carries what has no row of its own.
    ref_id     UUID,
    payload    TEXT,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (topic, seq)
);

-- Every existing question and answer, as if they had been recorded from the start.
INSERT INTO topics (name, last_seq) SELECT 'question:' || id::text, answer_count FROM questions;
INSERT INTO events (topic, seq, kind, ref_id, created_at)
    SELECT 'question:' || question_id::text, seq, 'answer', id, created_at FROM answers;
