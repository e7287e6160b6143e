-- The answer the asker accepted, if any: at most one per question. Accepting, changing and
-- withdrawing it are events on the question's topic (`accept`, `unaccept`).
ALTER TABLE questions ADD COLUMN accepted_answer_id BLOB REFERENCES answers (id);
