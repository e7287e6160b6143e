-- A user's inbox: the topic `user:<id>`, its seq kept on the user's row like a question's.
ALTER TABLE users ADD COLUMN last_seq BIGINT NOT NULL DEFAULT 0;

-- One entry groups the notifications of one reason about one question while it is unread;
-- a notification after it was read starts a new entry. `seq` is the user topic's seq of its
-- latest change, `read_seq` that of the read mark (NULL: unread). The unread count is
-- counted from this table, never kept beside it.
CREATE TABLE inbox (
    id          UUID PRIMARY KEY NOT NULL,
    user_id     UUID NOT NULL REFERENCES users (id),
    question_id UUID NOT NULL REFERENCES questions (id),
    reason      TEXT NOT NULL,
    title       TEXT NOT NULL,
    count       BIGINT NOT NULL,
    actor       TEXT NOT NULL,
    ref_id      UUID,
    seq         BIGINT NOT NULL,
    read_seq    BIGINT,
    updated_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX inbox_by_user ON inbox (user_id, seq);
CREATE INDEX inbox_unread ON inbox (user_id, question_id, reason) WHERE read_seq IS NULL;

-- How far the notifier has turned each question's events into notifications. A separate row,
-- not a column of `questions`: the notifier's transaction must not hold the row answers lock.
CREATE TABLE notify_cursor (
    question_id UUID PRIMARY KEY NOT NULL REFERENCES questions (id),
    seq         BIGINT NOT NULL
);
-- What happened before the inbox existed is not news.
INSERT INTO notify_cursor (question_id, seq) SELECT id, last_seq FROM questions;
