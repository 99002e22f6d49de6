-- The taxonomy's property keys (issue 25, docs/taxonomy.md): per tenant, event, property path and the
-- type ClickHouse's JSON column stored it with, how many events carried it and when first and last.
-- Kept by a materialized view on every insert into `events` (one row per (event, path) of each event),
-- so `GET /v1/taxonomy` reads a few thousand rows instead of scanning events. Exactly once across
-- crashes like every derived table: the deduplication window below, and a check in
-- ingest/consistency.py (DERIVED_CHECKS).
CREATE TABLE IF NOT EXISTS {db}.taxonomy_properties
(
    tenant_id LowCardinality(String),
    event LowCardinality(String),
    key String,
    type LowCardinality(String),
    events SimpleAggregateFunction(sum, UInt64),
    first_seen SimpleAggregateFunction(min, DateTime64(3, 'UTC')),
    last_seen SimpleAggregateFunction(max, DateTime64(3, 'UTC'))
)
ENGINE = AggregatingMergeTree
ORDER BY (tenant_id, event, key, type)
SETTINGS non_replicated_deduplication_window = 1000;

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.taxonomy_properties_mv TO {db}.taxonomy_properties AS
SELECT tenant_id, event, kv.1 AS key, kv.2 AS type, count() AS events, min(timestamp) AS first_seen,
    max(timestamp) AS last_seen
FROM {db}.events
ARRAY JOIN JSONAllPathsWithTypes(properties) AS kv
GROUP BY tenant_id, event, key, type;

-- Backfill from the events already stored (migrations run before the service accepts events).
INSERT INTO {db}.taxonomy_properties
SELECT tenant_id, event, kv.1 AS key, kv.2 AS type, count(), min(timestamp), max(timestamp)
FROM {db}.events
ARRAY JOIN JSONAllPathsWithTypes(properties) AS kv
GROUP BY tenant_id, event, key, type;
