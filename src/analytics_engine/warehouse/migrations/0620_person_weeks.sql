-- Pre-aggregation `person_weeks` (docs/insights.md, "Pre-aggregations"): per tenant, event, UTC week
-- (Monday) and person (`person_key`), the UTC hours of the week the person did the event (a 168-bit
-- mask in three UInt64: h0 = hours 0-63, h1 = 64-127, h2 = 128-167), the first event time and the
-- count. Retention and DAU/WAU/MAU (engagement) read it instead of `events`: in a time zone whose
-- local days start on whole UTC hours, every local day, week or month is a set of whole UTC hours,
-- so a row's local buckets are those of its set hours (insights/preaggregations.py checks the zone
-- and the range per query and reads raw events otherwise).
--
-- Rows with `event = ''` hold every event of the person that week (event names are never empty), so
-- "any event" (retention's usual return event, DAU) reads one row per person-week.
--
-- Why weeks of hour masks (measured on 1M generated events, docs/insights.md): 0.16 person-weeks per
-- event against 0.52 person-days and 0.86 person-hours for the any-event rows; retention 12 weeks
-- read ~2x faster than raw from it, while a per-person-day table (first/last time per UTC day) was
-- no faster than raw.
--
-- Fed by the insert into `events` (issue 17): the writer's insert_deduplication_token with
-- deduplicate_blocks_in_dependent_materialized_views=1 makes a replayed batch land exactly once here,
-- which needs the deduplication window below. `ingest verify` compares it with events
-- (ingest/consistency.py DERIVED_CHECKS).
CREATE TABLE IF NOT EXISTS {db}.person_weeks
(
    tenant_id LowCardinality(String),
    event LowCardinality(String),
    week Date,
    person_key UInt64,
    h0 SimpleAggregateFunction(groupBitOr, UInt64),
    h1 SimpleAggregateFunction(groupBitOr, UInt64),
    h2 SimpleAggregateFunction(groupBitOr, UInt64),
    first_ts SimpleAggregateFunction(min, DateTime64(3, 'UTC')),
    events SimpleAggregateFunction(sum, UInt64)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(week)
ORDER BY (tenant_id, event, week, person_key)
TTL week + INTERVAL {hot_retention_months} MONTH
SETTINGS non_replicated_deduplication_window = 1000;

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.person_weeks_mv TO {db}.person_weeks AS
WITH toUInt8(intDiv(toUnixTimestamp(timestamp) - toUnixTimestamp(toDateTime(toMonday(timestamp), 'UTC')), 3600)) AS hw
SELECT tenant_id, name AS event, toMonday(timestamp) AS week, cityHash64(distinct_id) AS person_key,
       groupBitOr(bitShiftLeft(toUInt64(hw < 64), hw % 64)) AS h0,
       groupBitOr(bitShiftLeft(toUInt64(hw >= 64 AND hw < 128), hw % 64)) AS h1,
       groupBitOr(bitShiftLeft(toUInt64(hw >= 128), hw % 64)) AS h2,
       min(timestamp) AS first_ts, count() AS events
FROM {db}.events
ARRAY JOIN [event, ''] AS name
GROUP BY tenant_id, event, week, person_key;

-- Backfill from the events already stored (migrations run before the service accepts events).
INSERT INTO {db}.person_weeks
WITH toUInt8(intDiv(toUnixTimestamp(timestamp) - toUnixTimestamp(toDateTime(toMonday(timestamp), 'UTC')), 3600)) AS hw
SELECT tenant_id, name AS event, toMonday(timestamp) AS week, cityHash64(distinct_id) AS person_key,
       groupBitOr(bitShiftLeft(toUInt64(hw < 64), hw % 64)) AS h0,
       groupBitOr(bitShiftLeft(toUInt64(hw >= 64 AND hw < 128), hw % 64)) AS h1,
       groupBitOr(bitShiftLeft(toUInt64(hw >= 128), hw % 64)) AS h2,
       min(timestamp) AS first_ts, count() AS events
FROM {db}.events
ARRAY JOIN [event, ''] AS name
GROUP BY tenant_id, event, week, person_key;
