-- The property rollup's view (migration 1820; docs/insights.md "Property rollups") with no column:
-- the service creates it again over the materialized string columns of `events` whenever they change
-- (materialized/rollup.py). Made here so that it always exists, like every other view on `events`
-- (ingest verify, the ingest bench's list of views and the replay see the same set on every install).
CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.metrics_by_property_mv TO {db}.metrics_by_property AS
SELECT tenant_id, event, toStartOfHour(timestamp) AS hour, p.1 AS property, p.2 AS value, p.3 AS is_set,
       count() AS events, uniqCombinedState(14)(distinct_id) AS users
FROM {db}.events
ARRAY JOIN CAST([], 'Array(Tuple(String, String, UInt8))') AS p
GROUP BY tenant_id, event, hour, property, value, is_set;
