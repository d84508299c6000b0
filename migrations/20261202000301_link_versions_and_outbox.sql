-- Link records in Valkey are versioned so that the newest write wins there,
-- whatever order write-throughs arrive in: every change of a link row
-- (deletes included, which are updates of deleted_at) bumps its version.
-- Triggers own the rule so that no writer (handlers, imports, user deletes)
-- can forget it.
ALTER TABLE urls ADD COLUMN version BIGINT NOT NULL DEFAULT 1;

CREATE FUNCTION urls_bump_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.version := OLD.version + 1;
    RETURN NEW;
END $$;

CREATE TRIGGER urls_bump_version BEFORE UPDATE ON urls
    FOR EACH ROW WHEN (OLD IS DISTINCT FROM NEW) EXECUTE FUNCTION urls_bump_version();

-- The outbox of write-throughs: a row per changed link, written in the
-- transaction of the change, removed once Valkey holds that version. What a
-- crashed admin API did not write through is found here by the next one.
CREATE TABLE link_outbox (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    short_code TEXT        NOT NULL,
    version    BIGINT      NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE FUNCTION urls_enqueue_write_through() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO link_outbox (short_code, version) VALUES (NEW.short_code, NEW.version);
    RETURN NULL;
END $$;

CREATE TRIGGER urls_outbox_on_insert AFTER INSERT ON urls
    FOR EACH ROW EXECUTE FUNCTION urls_enqueue_write_through();
CREATE TRIGGER urls_outbox_on_update AFTER UPDATE ON urls
    FOR EACH ROW WHEN (OLD IS DISTINCT FROM NEW) EXECUTE FUNCTION urls_enqueue_write_through();
