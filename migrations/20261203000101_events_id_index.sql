-- no-transaction
-- Visit history partitioned by time, step 2 of 4: a plain index on id (the
-- partitions' id index cannot be unique: a unique index on a partitioned
-- table must hold its partition key), built without blocking writes.
CREATE INDEX CONCURRENTLY IF NOT EXISTS events_id_idx ON events (id);
