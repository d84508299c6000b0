-- no-transaction
-- Visit history partitioned by time (issue 14), step 1 of 4: the unique
-- key of a visit in its partition, (visit_id, occurred_at), built on the
-- existing table without blocking writes (CONCURRENTLY: one statement per
-- migration), so that step 4 attaches the table as a partition without
-- building it under a lock.
CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS events_visit_key ON events (visit_id, occurred_at);
