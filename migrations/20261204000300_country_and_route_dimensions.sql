-- The stats' breakdowns gain visit countries and the routing rule that
-- served each visit. The new check is added NOT VALID (no scan under the
-- ALTER's lock) and then validated, which lets the drain keep writing.
ALTER TABLE url_dimension_visits DROP CONSTRAINT url_dimension_visits_dimension_check;
ALTER TABLE url_dimension_visits ADD CONSTRAINT url_dimension_visits_dimension_check
    CHECK (dimension IN ('referrer', 'browser', 'os', 'device', 'country', 'route')) NOT VALID;
ALTER TABLE url_dimension_visits VALIDATE CONSTRAINT url_dimension_visits_dimension_check;
