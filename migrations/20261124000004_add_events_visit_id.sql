-- Visits drained from the streams become `redirect` events. Each carries the
-- id the redirector gave the visit, unique, so that a batch redone after a
-- crash (or a visit pushed twice by a retried XADD) inserts nothing twice.
ALTER TABLE events ADD COLUMN visit_id TEXT CONSTRAINT events_visit_id_key UNIQUE;
