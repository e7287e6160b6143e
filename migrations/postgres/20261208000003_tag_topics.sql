-- A tag's live stream, `tag:{name}`, keeps its seq in `topics` (a row named `tag:{name}`,
-- created by the tag's first event) and records `question` (asked with the tag, or retagged
-- to it; the summary in `payload`, `ref_id` the question) and `question-delete` (it left the
-- tag: retagged away or deleted).
--
-- Deleting a question redacts its `question` events on every tag's topic it was ever on: found
-- by the question's id without reading any tag's whole log. Only the tags' events are in it.
CREATE INDEX events_tags_by_ref ON events (ref_id) WHERE topic LIKE 'tag:%';
