-- Rollups that the visit drain keeps current in the same transaction as the
-- `redirect` events, so that stats never scan raw events. Breakdowns and
-- unique visitors count human visits; bots are counted apart.
CREATE TABLE url_visit_totals (
    url_id          BIGINT PRIMARY KEY REFERENCES urls (id),
    total_visits    BIGINT NOT NULL DEFAULT 0,
    bot_visits      BIGINT NOT NULL DEFAULT 0,
    unique_visitors BIGINT NOT NULL DEFAULT 0,
    last_visit_at   TIMESTAMPTZ
);

CREATE TABLE url_daily_visits (
    url_id BIGINT NOT NULL REFERENCES urls (id),
    day    DATE   NOT NULL,
    visits BIGINT NOT NULL,
    PRIMARY KEY (url_id, day)
);

-- One row per link, breakdown and value: referrer host, browser, os, device.
CREATE TABLE url_dimension_visits (
    url_id    BIGINT NOT NULL REFERENCES urls (id),
    dimension TEXT   NOT NULL
              CONSTRAINT url_dimension_visits_dimension_check
              CHECK (dimension IN ('referrer', 'browser', 'os', 'device')),
    value     TEXT   NOT NULL,
    visits    BIGINT NOT NULL,
    PRIMARY KEY (url_id, dimension, value)
);

-- Distinct visitors per link: a 64-bit FNV-1a hash of (ip prefix, user agent).
CREATE TABLE url_visitors (
    url_id  BIGINT NOT NULL REFERENCES urls (id),
    visitor BIGINT NOT NULL,
    PRIMARY KEY (url_id, visitor)
);
