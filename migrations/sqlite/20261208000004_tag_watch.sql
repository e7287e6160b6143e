-- Watched and ignored tags: a user's choice per tag (at most 200 rows per user, checked by the
-- service). A new question in a watched tag notifies (reason `tag`); a question carrying an
-- ignored tag never notifies, and is hidden from that user's home page.
CREATE TABLE tag_watches (
    user_id    BLOB NOT NULL REFERENCES users (id),
    tag        TEXT NOT NULL,
    state      TEXT NOT NULL, -- 'watching' or 'ignored'
    created_at TEXT NOT NULL,
    PRIMARY KEY (user_id, tag)
);
-- The notifier's fan-out: who watches or ignores a tag, in user order.
CREATE INDEX tag_watches_by_tag ON tag_watches (tag, user_id);

-- A tag entry groups the new questions in one tag while unread ("3 new questions in [rust]");
-- its question_id, title and actor are those of the newest. NULL for every other reason.
ALTER TABLE inbox ADD COLUMN tag TEXT;
CREATE INDEX inbox_unread_by_tag ON inbox (user_id, tag) WHERE read_seq IS NULL AND tag IS NOT NULL;

-- How far the notifier has turned the list of questions' events (topic `questions`) into tag
-- notifications: every event up to `seq` is done, and of the next one the watchers up to
-- `after_user` (in id order; the nil UUID: none yet), so a question with 10,000 watchers is
-- written in several transactions and still exactly once. One row; what was asked before
-- watching existed is not news.
CREATE TABLE tag_notify_cursor (
    id         INTEGER PRIMARY KEY NOT NULL,
    seq        INTEGER NOT NULL,
    after_user BLOB NOT NULL
);
INSERT INTO tag_notify_cursor (id, seq, after_user)
    SELECT 1, last_seq, X'00000000000000000000000000000000' FROM topics WHERE name = 'questions';
