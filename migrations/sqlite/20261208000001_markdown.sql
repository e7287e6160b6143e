-- Each post's and comment's Markdown rendered to safe HTML (src/domain/markdown.rs), beside the
-- source it was rendered from: written with every new post, revision and comment, so reads and
-- live events never render. Rows written before this migration start NULL; `Store::migrate`
-- fills them right after the migrations run (one pass, in batches; see store/markdown.rs).
ALTER TABLE questions ADD COLUMN body_html TEXT;
ALTER TABLE answers ADD COLUMN body_html TEXT;
ALTER TABLE revisions ADD COLUMN body_html TEXT;
ALTER TABLE comments ADD COLUMN body_html TEXT;
