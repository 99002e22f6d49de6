-- Pre-aggregation `person_days` (docs/insights.md, "Pre-aggregations"): per tenant, event, UTC day
-- and person, the first and last event time and the count. It answers retention and DAU/WAU/MAU
-- (engagement) exactly without reading events: the local days, weeks or months a person was active
-- on in one UTC day are exactly the buckets of that day's first and last events, because a UTC day
-- touches at most two local days in every zone where no local day lies wholly inside one UTC day
-- (checked per query by insights/preaggregations.py; otherwise raw). Edge hours of a range that does
-- not start or end at UTC midnight are read from `events`, so answers equal raw ones.
--
-- `event = ''` rows hold every event of the person that day (event names are never empty), so "any
-- event" (retention's usual return event, DAU) reads one row per person-day instead of merging all
-- events. Measured on 1M generated events: 1.16M rows (0.52 per event for the any-event rows), 25 MB
-- on disk before merges; a UTC-hour grain was 1.77M rows (0.86 per event for any event) and no faster.
--
-- Fed by the insert into `events` (issue 17): the writer's insert_deduplication_token with
-- deduplicate_blocks_in_dependent_materialized_views=1 makes a replayed batch land exactly once here,
-- which needs the deduplication window below. `ingest verify` compares it with events
-- (ingest/consistency.py DERIVED_CHECKS).
CREATE TABLE IF NOT EXISTS {db}.person_days
(
    tenant_id LowCardinality(String),
    event LowCardinality(String),
    day Date,
    person_key UInt64,
    first_ts SimpleAggregateFunction(min, DateTime64(3, 'UTC')),
    last_ts SimpleAggregateFunction(max, DateTime64(3, 'UTC')),
    events SimpleAggregateFunction(sum, UInt64)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (tenant_id, event, day, person_key)
TTL day + INTERVAL {hot_retention_months} MONTH
SETTINGS non_replicated_deduplication_window = 1000;

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.person_days_mv TO {db}.person_days AS
SELECT tenant_id, name AS event, toDate(timestamp) AS day, cityHash64(distinct_id) AS person_key,
       min(timestamp) AS first_ts, max(timestamp) AS last_ts, count() AS events
FROM {db}.events
ARRAY JOIN [event, ''] AS name
GROUP BY tenant_id, event, day, person_key;

-- Backfill from the events already stored (migrations run before the service accepts events).
INSERT INTO {db}.person_days
SELECT tenant_id, name AS event, toDate(timestamp) AS day, cityHash64(distinct_id) AS person_key,
       min(timestamp) AS first_ts, max(timestamp) AS last_ts, count() AS events
FROM {db}.events
ARRAY JOIN [event, ''] AS name
GROUP BY tenant_id, event, day, person_key;
