-- Routing rules: per-link rules that send visitors elsewhere by device or
-- country, first match wins (API form, e.g. [{"when": {"device": "ios"},
-- "url": "https://…"}]). A constant default rewrites nothing.
ALTER TABLE urls ADD COLUMN routes jsonb NOT NULL DEFAULT '[]';
