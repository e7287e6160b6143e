-- Deleting a question blanks the titles of the inbox entries about it (in the deletion's own
-- transaction), found through this index rather than a scan of every inbox.
CREATE INDEX inbox_by_question ON inbox (question_id);
