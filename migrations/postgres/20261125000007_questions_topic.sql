-- The list of questions is live: the topic `questions` records each new question
-- (`question`, a summary in `payload`, `ref_id` the question) and each deleted one
-- (`question-delete`), with its own contiguous seq.
--
-- A topic with no owner row keeps its seq allocator here. Only asking and deleting a question
-- take this row (never an answer, a vote or an edit), so it is no global lock on the
-- answer path. It starts at 0: the list's earlier history is the list as a page renders it.
CREATE TABLE topics (
    name     TEXT PRIMARY KEY NOT NULL,
    last_seq BIGINT NOT NULL DEFAULT 0
);
INSERT INTO topics (name, last_seq) VALUES ('questions', 0);

-- Deleting a question redacts its `question` event: found by the question's id without
-- reading the whole list's log. Only the list's events are in it.
CREATE INDEX events_questions_by_ref ON events (ref_id) WHERE topic = 'questions';
