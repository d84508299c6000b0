-- Searching links by code, title and destination (the console's search box,
-- case-insensitive, anywhere in the text) with a trigram index, so that a
-- search stays an index lookup however many links there are. pg_trgm ships
-- with Postgres (contrib) and is a trusted extension: the database owner may
-- create it.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE INDEX urls_search_idx ON urls
    USING gin ((short_code || ' ' || title || ' ' || original_url) gin_trgm_ops)
    WHERE deleted_at IS NULL;
