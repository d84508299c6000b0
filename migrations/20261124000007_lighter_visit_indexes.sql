-- Visits are almost every event, and each index is written once per visit.
-- The event-type index now leaves out `redirect` events: listing those by
-- type scans the primary key in id order instead, as nearly every row
-- matches. Visit ids are compared bytewise (COLLATE "C"), not by the
-- database's locale: they only need to be unique.
DROP INDEX events_event_type_idx;
CREATE INDEX events_event_type_idx ON events (event_type, id) WHERE event_type <> 'redirect';
ALTER TABLE events ALTER COLUMN visit_id TYPE TEXT COLLATE "C";
