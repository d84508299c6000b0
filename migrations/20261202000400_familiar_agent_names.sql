-- The drain now names operating systems and browsers as people do (`iOS`,
-- `macOS`, `Windows`; see admin-api/src/agents.rs). Fold the rollup rows
-- written under the parser's internal names (`iPhone`, `Mac OSX`,
-- `Windows 10`, ...) into the familiar ones, so that stats show one row per
-- system. Raw visit events keep the names they were recorded with (they are
-- the record of what was parsed then; rewriting every event is not worth a
-- long lock on the largest table).
CREATE TEMPORARY TABLE familiar_names (dimension TEXT, internal TEXT, familiar TEXT);
INSERT INTO familiar_names (dimension, internal, familiar)
SELECT 'os', value, CASE
        WHEN value IN ('iPhone', 'iPad', 'iPod') THEN 'iOS'
        WHEN value IN ('Mac OSX', 'Mac OS Classic') THEN 'macOS'
        WHEN value = 'Windows Phone OS' THEN 'Windows Phone'
        WHEN value = 'BlackBerry 10' THEN 'BlackBerry'
        WHEN value = 'UNKNOWN' THEN 'unknown'
        ELSE 'Windows'
    END
FROM (SELECT DISTINCT value FROM url_dimension_visits WHERE dimension = 'os') AS os
WHERE value IN ('iPhone', 'iPad', 'iPod', 'Mac OSX', 'Mac OS Classic',
                'Windows Phone OS', 'BlackBerry 10', 'UNKNOWN')
   OR (value LIKE 'Windows %' AND value <> 'Windows Phone')
UNION ALL
SELECT 'browser', value, CASE
        WHEN value = 'SamsungBrowser' THEN 'Samsung Internet'
        WHEN value = 'Webview' THEN 'WebView'
        ELSE 'unknown'
    END
FROM (SELECT DISTINCT value FROM url_dimension_visits WHERE dimension = 'browser') AS browser
WHERE value IN ('SamsungBrowser', 'Webview', 'UNKNOWN');

INSERT INTO url_dimension_visits (url_id, dimension, value, visits)
SELECT v.url_id, v.dimension, n.familiar, sum(v.visits)
FROM url_dimension_visits v
JOIN familiar_names n ON n.dimension = v.dimension AND n.internal = v.value
GROUP BY v.url_id, v.dimension, n.familiar
ORDER BY v.url_id, v.dimension, n.familiar
ON CONFLICT (url_id, dimension, value)
    DO UPDATE SET visits = url_dimension_visits.visits + EXCLUDED.visits;

DELETE FROM url_dimension_visits v
USING familiar_names n
WHERE n.dimension = v.dimension AND n.internal = v.value;

DROP TABLE familiar_names;
