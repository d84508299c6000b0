-- no-transaction
-- Visit history partitioned by time, step 3 of 4: a BRIN index on time
-- (a few pages however many rows), for reads and deletes by time range.
CREATE INDEX CONCURRENTLY IF NOT EXISTS events_occurred_at_brin ON events USING brin (occurred_at);
