-- API keys as data: each has a role and, for editors (and optionally
-- viewers), the one user whose data it may touch. The secret is never
-- stored: only its SHA-256 digest, found by the key's public prefix. A
-- revoked key keeps its row (events name it as their actor) and its name
-- stays taken, so that an actor name always means one key.
CREATE TABLE api_keys (
    id                    BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name                  TEXT        NOT NULL
                          CONSTRAINT api_keys_name_length CHECK (char_length(name) BETWEEN 1 AND 64),
    role                  TEXT        NOT NULL
                          CONSTRAINT api_keys_role CHECK (role IN ('admin', 'editor', 'viewer')),
    user_id               BIGINT      REFERENCES users (id),
    prefix                TEXT        NOT NULL,
    digest                BYTEA       NOT NULL
                          CONSTRAINT api_keys_digest_length CHECK (octet_length(digest) = 32),
    rate_limit_per_minute INTEGER
                          CONSTRAINT api_keys_rate_positive CHECK (rate_limit_per_minute > 0),
    created_at            TIMESTAMPTZ NOT NULL DEFAULT date_trunc('second', now()),
    last_used_at          TIMESTAMPTZ,
    revoked_at            TIMESTAMPTZ,
    CONSTRAINT api_keys_scope CHECK (
        (role = 'admin' AND user_id IS NULL)
        OR (role = 'editor' AND user_id IS NOT NULL)
        OR role = 'viewer')
);

CREATE UNIQUE INDEX api_keys_prefix_key ON api_keys (prefix);
CREATE UNIQUE INDEX api_keys_name_key ON api_keys (name);
CREATE INDEX api_keys_user_id_idx ON api_keys (user_id) WHERE revoked_at IS NULL;
