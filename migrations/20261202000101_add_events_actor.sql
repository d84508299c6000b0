-- Every event names who caused it: an API key's name, `open` when the admin
-- API runs without keys, `import:<key name>` for imported rows, `system` for
-- what the system does by itself (visits among them). A constant default
-- makes this a catalog-only change, however many events exist; the drain
-- keeps writing visits without naming an actor.
ALTER TABLE events ADD COLUMN actor TEXT NOT NULL DEFAULT 'system';

-- `GET /events?actor=` for anyone but `system`: nearly every row is a visit
-- by `system`, so those are left out of the index, as `redirect` rows are
-- left out of the event-type index; listing `system`'s events scans the
-- primary key in id order, where nearly every row matches.
CREATE INDEX events_actor_idx ON events (actor, id) WHERE actor <> 'system';
