-- A user's inbox: the topic `user:<id>`, its seq kept on the user's row like a question's.
ALTER TABLE users ADD COLUMN last_seq INTEGER NOT NULL DEFAULT 0;

-- One entry groups the notifications of one reason about one question while it is unread;
-- a notification after it was read starts a new entry. `seq` is the user topic's seq of its
-- latest change, `read_seq` that of the read mark (NULL: unread). The unread count is
-- counted from this table, never kept beside it.
CREATE TABLE inbox (
    id          BLOB PRIMARY KEY NOT NULL,
    user_id     BLOB NOT NULL REFERENCES users (id),
    question_id BLOB NOT NULL REFERENCES questions (id),
    reason      TEXT NOT NULL,
    title       TEXT NOT NULL,
    count       INTEGER NOT NULL,
    actor       TEXT NOT NULL,
    ref_id      BLOB,
    seq         INTEGER NOT NULL,
    read_seq    INTEGER,
    updated_at  TEXT NOT NULL
);
CREATE INDEX inbox_by_user ON inbox (user_id, seq);
CREATE INDEX inbox_unread ON inbox (user_id, question_id, reason) WHERE read_seq IS NULL;

-- How far the notifier has turned each question's events into notifications. A separate row,
-- not a column of `questions`: the notifier's transaction must not hold the row answers lock.
CREATE TABLE notify_cursor (
    question_id BLOB PRIMARY KEY NOT NULL REFERENCES questions (id),
    seq         INTEGER NOT NULL
);
-- What happened before the inbox existed is not news.
INSERT INTO notify_cursor (question_id, seq) SELECT id, last_seq FROM questions;
