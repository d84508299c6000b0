-- The blocklist (hosts and domains no link may point at) and the mark it
-- leaves on the links it catches. A disabled link does not redirect (the
-- record's `active` is false) until someone enables it again; removing the
-- entry does not. Adding a nullable column rewrites nothing.
CREATE TABLE blocklist (
    id         bigserial PRIMARY KEY,
    pattern    text NOT NULL UNIQUE,
    reason     text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT date_trunc('second', now())
);

ALTER TABLE urls ADD COLUMN disabled_reason text;
