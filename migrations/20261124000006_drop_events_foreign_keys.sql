-- Events are an append-only log of links and users that are never hard-deleted
-- (deletes are soft). Every writer checks that the link and the user exist:
-- POST /events and the import before inserting, the drain in its INSERT
-- statement, link writes in the same transaction. The foreign keys only
-- repeated those checks, at the price of a row lock on `urls` and on `users`
-- (each with its WAL record) per inserted event: the largest part of the
-- drain's Postgres work per visit.
ALTER TABLE events
    DROP CONSTRAINT events_url_id_fkey,
    DROP CONSTRAINT events_user_id_fkey;
