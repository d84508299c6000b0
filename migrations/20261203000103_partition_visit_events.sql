-- Visit history partitioned by time, step 4 of 4: `events` becomes a table
-- partitioned by kind: audit events (every type but `redirect`) in
-- `events_audit`, kept for ever; visits in `events_visits`, partitioned by
-- day (UTC) of `occurred_at`, which the admin API creates ahead of need and
-- drops whole past `EVENTS_RETENTION`. The existing table becomes the one
-- partition of the visits before the cutover (this moment, or just after
-- the newest event if one lies ahead), once its audit rows have moved:
-- nothing is copied but the audit trail, and the existing indexes are
-- reused. New visits go to a partition of their own from the cutover on. The lock is held while
-- the audit rows move and the old rows are checked against their bounds
-- (two sequential reads; the README gives the time for 10M rows).
LOCK TABLE events IN ACCESS EXCLUSIVE MODE;
ALTER TABLE events RENAME TO events_visits_before;

-- Ids: a sequence of its own (the old one belongs to the old table, which
-- retention will drop one day), going on where the old one stopped.
CREATE SEQUENCE event_ids AS BIGINT;
SELECT setval('event_ids', (SELECT last_value FROM events_id_seq), (SELECT is_called FROM events_id_seq));
ALTER TABLE events_visits_before ALTER COLUMN id DROP IDENTITY;
ALTER SEQUENCE event_ids RENAME TO events_id_seq;

CREATE TABLE events (
    id          BIGINT      NOT NULL DEFAULT nextval('events_id_seq'),
    url_id      BIGINT,
    user_id     BIGINT,
    event_type  TEXT        NOT NULL
                CONSTRAINT events_event_type_length CHECK (char_length(event_type) BETWEEN 1 AND 64),
    occurred_at TIMESTAMPTZ NOT NULL DEFAULT date_trunc('second', now()),
    details     JSONB       NOT NULL DEFAULT '{}'::jsonb
                CONSTRAINT events_details_object CHECK (jsonb_typeof(details) = 'object'),
    visit_id    TEXT        COLLATE "C",
    actor       TEXT        NOT NULL DEFAULT 'system'
) PARTITION BY LIST (event_type);
ALTER SEQUENCE events_id_seq OWNED BY events.id;

-- The audit trail: never dropped.
CREATE TABLE events_audit PARTITION OF events DEFAULT;
ALTER TABLE events_audit ADD PRIMARY KEY (id);
CREATE INDEX events_audit_url_id_idx ON events_audit (url_id, id);
CREATE INDEX events_audit_user_id_idx ON events_audit (user_id, id);
CREATE INDEX events_audit_event_type_idx ON events_audit (event_type, id);
CREATE INDEX events_audit_actor_idx ON events_audit (actor, id);
INSERT INTO events_audit SELECT id, url_id, user_id, event_type, occurred_at, details, visit_id, actor
    FROM events_visits_before WHERE event_type <> 'redirect';
DELETE FROM events_visits_before WHERE event_type <> 'redirect';

-- Visits, by day. Each partition gets the indexes reads need and no more:
-- id order (GET /events), a link's and a user's visits in id order, the
-- visit's unique key (exactly once: a redelivered visit keeps its time, so
-- it meets its first copy in the same partition), BRIN on time.
CREATE TABLE events_visits PARTITION OF events FOR VALUES IN ('redirect')
    PARTITION BY RANGE (occurred_at);
CREATE INDEX events_visits_id_idx ON events_visits (id);
CREATE INDEX events_visits_url_id_idx ON events_visits (url_id, id);
CREATE INDEX events_visits_user_id_idx ON events_visits (user_id, id);
CREATE UNIQUE INDEX events_visits_visit_key ON events_visits (visit_id, occurred_at);
CREATE INDEX events_visits_occurred_at_brin ON events_visits USING brin (occurred_at);
-- Visits of a day without a partition (one past retention, arriving late,
-- or far ahead): kept, never refused.
CREATE TABLE events_visits_default PARTITION OF events_visits DEFAULT;

DO $$
DECLARE
    cutover TIMESTAMPTZ := greatest(
        now(),
        (SELECT max(occurred_at) + interval '1 microsecond' FROM events_visits_before));
    day_end TIMESTAMPTZ := date_trunc('day', cutover AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' + interval '1 day';
BEGIN
    EXECUTE format(
        'ALTER TABLE events_visits ATTACH PARTITION events_visits_before FOR VALUES FROM (MINVALUE) TO (%L)',
        cutover);
    -- The rest of the cutover's day; the admin API adds the days after it.
    EXECUTE format(
        'CREATE TABLE %I PARTITION OF events_visits FOR VALUES FROM (%L) TO (%L)',
        'events_visits_p' || to_char(cutover AT TIME ZONE 'UTC', 'YYYYMMDD'), cutover, day_end);
END $$;
