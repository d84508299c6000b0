-- no-transaction
-- The tag filter (`tags @> ARRAY[tag]`) as an index lookup however many
-- links there are, built without blocking writes.
CREATE INDEX CONCURRENTLY IF NOT EXISTS urls_tags_idx ON urls USING gin (tags)
    WHERE deleted_at IS NULL;
