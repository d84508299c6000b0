-- Per-link fallbacks: where an inactive, expired or disabled link sends
-- visitors instead of a 404 (302), and visits to a fallback counted apart.
-- `disabled_entry` names the blocklist entry that disabled a link (NULL when
-- disabled by hand): a link the blocklist disabled never uses its fallback,
-- which the entry may block too. Nullable columns and a constant default
-- rewrite nothing.
ALTER TABLE urls ADD COLUMN fallback_url text, ADD COLUMN disabled_entry bigint;
ALTER TABLE url_visit_totals ADD COLUMN fallback_visits bigint NOT NULL DEFAULT 0;
