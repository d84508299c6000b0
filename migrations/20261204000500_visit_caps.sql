-- Visit caps: at most this many GET redirects are served, across all
-- redirectors (a Valkey counter per capped link), then the link answers as
-- expired. A nullable column rewrites nothing.
ALTER TABLE urls ADD COLUMN max_visits bigint CONSTRAINT urls_max_visits_check CHECK (max_visits > 0);
