-- Analytics Engine warehouse DDL, single node
CREATE DATABASE IF NOT EXISTS `analytics`;

CREATE TABLE IF NOT EXISTS `analytics`.schema_migrations (id String, applied_at DateTime64(3, 'UTC') DEFAULT now64(3)) ENGINE = MergeTree ORDER BY id;

-- migration 0001_events
CREATE TABLE IF NOT EXISTS `analytics`.events
(
    tenant_id LowCardinality(String),
    event LowCardinality(String),
    distinct_id String,
    timestamp DateTime64(3, 'UTC'),
    event_id UUID,
    received_at DateTime64(3, 'UTC') DEFAULT now64(3),
    properties JSON(max_dynamic_paths = 256),
    INDEX idx_event_id event_id TYPE bloom_filter(0.001) GRANULARITY 2
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(timestamp)
ORDER BY (tenant_id, event, toDate(timestamp), distinct_id, event_id)
TTL toDateTime(timestamp) + INTERVAL 13 MONTH
SETTINGS non_replicated_deduplication_window = 1000;

-- Events refused at ingest, kept with their reason and raw payload.
CREATE TABLE IF NOT EXISTS `analytics`.rejected_events
(
    tenant_id LowCardinality(String),
    received_at DateTime64(3, 'UTC') DEFAULT now64(3),
    source LowCardinality(String),
    request_id String,
    position UInt32,
    reason String,
    payload String
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(received_at)
ORDER BY (tenant_id, received_at)
TTL toDateTime(received_at) + INTERVAL 90 DAY;

-- migration 0002_event_ids
CREATE TABLE IF NOT EXISTS `analytics`.event_ids
(
    tenant_id LowCardinality(String),
    id_high UInt64,
    event_id UUID,
    received_at DateTime DEFAULT now()
)
ENGINE = ReplacingMergeTree
PARTITION BY toDate(received_at)
PRIMARY KEY (tenant_id, id_high)
ORDER BY (tenant_id, id_high, event_id)
TTL received_at + INTERVAL 7 DAY
-- Small granules: a batch's random ids each touch their own granule, so reads stay small.
SETTINGS index_granularity = 256;

CREATE MATERIALIZED VIEW IF NOT EXISTS `analytics`.event_ids_mv TO `analytics`.event_ids AS
SELECT tenant_id, toUInt64(bitShiftRight(toUInt128(event_id), 64)) AS id_high, event_id,
       toDateTime(received_at) AS received_at
FROM `analytics`.events;

INSERT INTO `analytics`.event_ids
SELECT tenant_id, toUInt64(bitShiftRight(toUInt128(event_id), 64)), event_id, toDateTime(received_at)
FROM `analytics`.events WHERE received_at >= now() - INTERVAL 7 DAY;

-- migration 0600_rollups
CREATE TABLE IF NOT EXISTS `analytics`.metrics_daily
(
    tenant_id LowCardinality(String),
    event LowCardinality(String),
    hour DateTime('UTC'),
    events SimpleAggregateFunction(sum, UInt64),
    users AggregateFunction(uniq, String)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(hour)
ORDER BY (tenant_id, event, hour)
TTL hour + INTERVAL 13 MONTH;

CREATE MATERIALIZED VIEW IF NOT EXISTS `analytics`.metrics_daily_mv TO `analytics`.metrics_daily AS
SELECT tenant_id, event, toStartOfHour(timestamp) AS hour, count() AS events, uniqState(distinct_id) AS users
FROM `analytics`.events
GROUP BY tenant_id, event, hour;

-- metrics_monthly: per tenant, event and UTC day, for long ranges: a month bucket reads the UTC days
-- wholly inside it from here and the hours at its edges from metrics_daily.
CREATE TABLE IF NOT EXISTS `analytics`.metrics_monthly
(
    tenant_id LowCardinality(String),
    event LowCardinality(String),
    day Date,
    events SimpleAggregateFunction(sum, UInt64),
    users AggregateFunction(uniq, String)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYear(day)
ORDER BY (tenant_id, event, day)
TTL day + INTERVAL 13 MONTH;

CREATE MATERIALIZED VIEW IF NOT EXISTS `analytics`.metrics_monthly_mv TO `analytics`.metrics_monthly AS
SELECT tenant_id, event, toDate(timestamp) AS day, count() AS events, uniqState(distinct_id) AS users
FROM `analytics`.events
GROUP BY tenant_id, event, day;

-- Backfill from the events already stored (migrations run before the service accepts events).
INSERT INTO `analytics`.metrics_daily
SELECT tenant_id, event, toStartOfHour(timestamp) AS hour, count(), uniqState(distinct_id)
FROM `analytics`.events
GROUP BY tenant_id, event, hour;

INSERT INTO `analytics`.metrics_monthly
SELECT tenant_id, event, toDate(timestamp) AS day, count(), uniqState(distinct_id)
FROM `analytics`.events
GROUP BY tenant_id, event, day;

-- migration 0620_person_weeks
CREATE TABLE IF NOT EXISTS `analytics`.person_weeks
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
TTL week + INTERVAL 13 MONTH
SETTINGS non_replicated_deduplication_window = 1000;

CREATE MATERIALIZED VIEW IF NOT EXISTS `analytics`.person_weeks_mv TO `analytics`.person_weeks AS
WITH toUInt8(intDiv(toUnixTimestamp(timestamp) - toUnixTimestamp(toDateTime(toMonday(timestamp), 'UTC')), 3600)) AS hw
SELECT tenant_id, name AS event, toMonday(timestamp) AS week, cityHash64(distinct_id) AS person_key,
       groupBitOr(bitShiftLeft(toUInt64(hw < 64), hw % 64)) AS h0,
       groupBitOr(bitShiftLeft(toUInt64(hw >= 64 AND hw < 128), hw % 64)) AS h1,
       groupBitOr(bitShiftLeft(toUInt64(hw >= 128), hw % 64)) AS h2,
       min(timestamp) AS first_ts, count() AS events
FROM `analytics`.events
ARRAY JOIN [event, ''] AS name
GROUP BY tenant_id, event, week, person_key;

-- Backfill from the events already stored (migrations run before the service accepts events).
INSERT INTO `analytics`.person_weeks
WITH toUInt8(intDiv(toUnixTimestamp(timestamp) - toUnixTimestamp(toDateTime(toMonday(timestamp), 'UTC')), 3600)) AS hw
SELECT tenant_id, name AS event, toMonday(timestamp) AS week, cityHash64(distinct_id) AS person_key,
       groupBitOr(bitShiftLeft(toUInt64(hw < 64), hw % 64)) AS h0,
       groupBitOr(bitShiftLeft(toUInt64(hw >= 64 AND hw < 128), hw % 64)) AS h1,
       groupBitOr(bitShiftLeft(toUInt64(hw >= 128), hw % 64)) AS h2,
       min(timestamp) AS first_ts, count() AS events
FROM `analytics`.events
ARRAY JOIN [event, ''] AS name
GROUP BY tenant_id, event, week, person_key;

-- migration 0700_cohorts
CREATE TABLE IF NOT EXISTS `analytics`.persons
(
    tenant_id LowCardinality(String),
    distinct_id String,
    first_seen SimpleAggregateFunction(min, DateTime64(3, 'UTC')),
    last_seen SimpleAggregateFunction(max, DateTime64(3, 'UTC')),
    event_count SimpleAggregateFunction(sum, UInt64)
)
ENGINE = AggregatingMergeTree
ORDER BY (tenant_id, distinct_id);

CREATE MATERIALIZED VIEW IF NOT EXISTS `analytics`.persons_mv TO `analytics`.persons AS
SELECT tenant_id, distinct_id, min(timestamp) AS first_seen, max(timestamp) AS last_seen, count() AS event_count
FROM `analytics`.events
GROUP BY tenant_id, distinct_id;

-- The latest value of each top-level property per person: argMax(value, timestamp) state per key.
-- Values are raw JSON text ("pro" with its quotes, 10, true, {"x":1}).
CREATE TABLE IF NOT EXISTS `analytics`.person_properties
(
    tenant_id LowCardinality(String),
    distinct_id String,
    key String,
    value AggregateFunction(argMax, String, DateTime64(3, 'UTC'))
)
ENGINE = AggregatingMergeTree
ORDER BY (tenant_id, distinct_id, key);

CREATE MATERIALIZED VIEW IF NOT EXISTS `analytics`.person_properties_mv TO `analytics`.person_properties AS
SELECT tenant_id, distinct_id, kv.1 AS key, argMaxState(kv.2, timestamp) AS value
FROM `analytics`.events
ARRAY JOIN JSONExtractKeysAndValuesRaw(toJSONString(properties)) AS kv
GROUP BY tenant_id, distinct_id, key;

-- Backfill from the events already stored (migrations run before the service accepts events).
INSERT INTO `analytics`.persons
SELECT tenant_id, distinct_id, min(timestamp), max(timestamp), count()
FROM `analytics`.events
GROUP BY tenant_id, distinct_id;

INSERT INTO `analytics`.person_properties
SELECT tenant_id, distinct_id, kv.1 AS key, argMaxState(kv.2, timestamp)
FROM `analytics`.events
ARRAY JOIN JSONExtractKeysAndValuesRaw(toJSONString(properties)) AS kv
GROUP BY tenant_id, distinct_id, key;

-- Cohort members, one set per evaluation (version). Readers only read the version published in the
-- metadata database after its insert finished, so a half-written version is never seen.
CREATE TABLE IF NOT EXISTS `analytics`.cohort_users
(
    tenant_id LowCardinality(String),
    cohort_id String,
    version UInt32,
    distinct_id String
)
ENGINE = MergeTree
ORDER BY (tenant_id, cohort_id, version, distinct_id);

-- Retention of a cohort's members by signup period (week of first seen), computed at evaluation.
CREATE TABLE IF NOT EXISTS `analytics`.cohort_analysis
(
    tenant_id LowCardinality(String),
    cohort_id String,
    version UInt32,
    period_start Date,
    period_index UInt16,
    users UInt64
)
ENGINE = MergeTree
ORDER BY (tenant_id, cohort_id, version, period_start, period_index);

-- migration 0900_impact
CREATE TABLE IF NOT EXISTS `analytics`.benchmarks
(
    refresh_id String,
    refreshed_at DateTime64(3, 'UTC'),
    metric LowCardinality(String),
    compare_with LowCardinality(String),
    group_value String,
    tenants UInt32,
    suppressed Bool,
    reason String,
    p10 Nullable(Float64),
    p25 Nullable(Float64),
    p50 Nullable(Float64),
    p75 Nullable(Float64),
    p90 Nullable(Float64),
    mean Nullable(Float64),
    epsilon Nullable(Float64)
)
ENGINE = MergeTree
ORDER BY (metric, compare_with, group_value, refreshed_at);

-- Each opted-in tenant's own figure and percentile rank in its peer groups at that refresh; read
-- back only through the tenant-bound scope (the tenant sees its own row, never another's).
CREATE TABLE IF NOT EXISTS `analytics`.benchmark_members
(
    refresh_id String,
    refreshed_at DateTime64(3, 'UTC'),
    tenant_id LowCardinality(String),
    metric LowCardinality(String),
    compare_with LowCardinality(String),
    group_value String,
    value Float64,
    percentile_rank Nullable(Float64)
)
ENGINE = MergeTree
ORDER BY (tenant_id, metric, compare_with, refreshed_at);

-- migration 0960_rollup_sketches
DROP VIEW IF EXISTS `analytics`.metrics_monthly_mv;

DROP VIEW IF EXISTS `analytics`.metrics_daily_mv;

DROP TABLE IF EXISTS `analytics`.metrics_monthly;

DROP TABLE IF EXISTS `analytics`.metrics_daily;

CREATE TABLE `analytics`.metrics_daily
(
    tenant_id LowCardinality(String),
    event LowCardinality(String),
    hour DateTime('UTC'),
    events SimpleAggregateFunction(sum, UInt64),
    users AggregateFunction(uniqCombined(14), String)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(hour)
ORDER BY (tenant_id, event, hour)
TTL hour + INTERVAL 13 MONTH
SETTINGS index_granularity = 64;

CREATE TABLE `analytics`.metrics_monthly
(
    tenant_id LowCardinality(String),
    event LowCardinality(String),
    day Date,
    events SimpleAggregateFunction(sum, UInt64),
    users AggregateFunction(uniqCombined(14), String)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYear(day)
ORDER BY (tenant_id, event, day)
TTL day + INTERVAL 13 MONTH
SETTINGS index_granularity = 64;

CREATE MATERIALIZED VIEW `analytics`.metrics_daily_mv TO `analytics`.metrics_daily AS
SELECT tenant_id, event, toStartOfHour(timestamp) AS hour, count() AS events,
       uniqCombinedState(14)(distinct_id) AS users
FROM `analytics`.events
GROUP BY tenant_id, event, hour;

-- Fires on every insert into metrics_daily (the view above, and the backfill below).
CREATE MATERIALIZED VIEW `analytics`.metrics_monthly_mv TO `analytics`.metrics_monthly AS
SELECT tenant_id, event, toDate(hour) AS day, sum(events) AS events, uniqCombinedMergeState(14)(users) AS users
FROM `analytics`.metrics_daily
GROUP BY tenant_id, event, day;

INSERT INTO `analytics`.metrics_daily
SELECT tenant_id, event, toStartOfHour(timestamp) AS hour, count(), uniqCombinedState(14)(distinct_id)
FROM `analytics`.events
GROUP BY tenant_id, event, hour;

-- migration 0961_person_key
ALTER TABLE `analytics`.events ADD COLUMN IF NOT EXISTS person_key UInt64 MATERIALIZED cityHash64(distinct_id);

ALTER TABLE `analytics`.events MATERIALIZE COLUMN person_key;

-- migration 0970_derived_deduplication
ALTER TABLE `analytics`.event_ids MODIFY SETTING non_replicated_deduplication_window = 1000;

ALTER TABLE `analytics`.metrics_daily MODIFY SETTING non_replicated_deduplication_window = 1000;

ALTER TABLE `analytics`.metrics_monthly MODIFY SETTING non_replicated_deduplication_window = 1000;

ALTER TABLE `analytics`.persons MODIFY SETTING non_replicated_deduplication_window = 1000;

ALTER TABLE `analytics`.person_properties MODIFY SETTING non_replicated_deduplication_window = 1000;

-- migration 1600_lifecycle
ALTER TABLE `analytics`.events REMOVE TTL;

ALTER TABLE `analytics`.metrics_daily REMOVE TTL;

ALTER TABLE `analytics`.metrics_monthly REMOVE TTL;

ALTER TABLE `analytics`.person_weeks REMOVE TTL;

-- migration 1700_taxonomy
CREATE TABLE IF NOT EXISTS `analytics`.taxonomy_properties
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

CREATE MATERIALIZED VIEW IF NOT EXISTS `analytics`.taxonomy_properties_mv TO `analytics`.taxonomy_properties AS
SELECT tenant_id, event, kv.1 AS key, kv.2 AS type, count() AS events, min(timestamp) AS first_seen,
    max(timestamp) AS last_seen
FROM `analytics`.events
ARRAY JOIN JSONAllPathsWithTypes(properties) AS kv
GROUP BY tenant_id, event, key, type;

-- Backfill from the events already stored (migrations run before the service accepts events).
INSERT INTO `analytics`.taxonomy_properties
SELECT tenant_id, event, kv.1 AS key, kv.2 AS type, count(), min(timestamp), max(timestamp)
FROM `analytics`.events
ARRAY JOIN JSONAllPathsWithTypes(properties) AS kv
GROUP BY tenant_id, event, key, type;

-- migration 1800_person_hours
CREATE TABLE IF NOT EXISTS `analytics`.person_ids
(
    tenant_id LowCardinality(String),
    distinct_id String,
    person_key UInt64 DEFAULT cityHash64(distinct_id),
    person_id UInt32
)
ENGINE = MergeTree
ORDER BY (tenant_id, person_key);

-- Ids for the people already stored, in order of first event (ties by distinct id).
INSERT INTO `analytics`.person_ids
SELECT tenant_id, distinct_id, cityHash64(distinct_id) AS person_key,
       toUInt32(row_number() OVER (PARTITION BY tenant_id ORDER BY first, distinct_id)) AS person_id
FROM (SELECT tenant_id, distinct_id, min(timestamp) AS first FROM `analytics`.events GROUP BY tenant_id, distinct_id);

-- The writer puts each row's person id on the row (every insert path goes through
-- ingest/writer.py insert_event_rows); rows written by other means keep 0 and are not in the bitmaps
-- until `analytics-engine persons assign-ids` (or the data generator) gives them ids.
ALTER TABLE `analytics`.events ADD COLUMN IF NOT EXISTS person_id UInt32 DEFAULT 0;

-- Per tenant, event (and '' for any event) and UTC hour: the ids of the people active in it.
-- No TTL, like `events` since migration 1600: the tiering job drops a month's partition here when it
-- drops the month from `events` (lifecycle/tiering.py). 64-row granules: a row can hold a bitmap of thousands of ids, and a range read should deserialize
-- only the hours it asks for (docs/benchmarks.md, 98-107 -> 49-51 ms for a 12-week retention).
CREATE TABLE IF NOT EXISTS `analytics`.person_hours
(
    tenant_id LowCardinality(String),
    event LowCardinality(String),
    hour DateTime('UTC'),
    people AggregateFunction(groupBitmap, UInt32)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(hour)
ORDER BY (tenant_id, event, hour)
SETTINGS index_granularity = 64, non_replicated_deduplication_window = 1000;

CREATE MATERIALIZED VIEW IF NOT EXISTS `analytics`.person_hours_mv TO `analytics`.person_hours AS
SELECT tenant_id, name AS event, toStartOfHour(timestamp) AS hour, groupBitmapState(person_id) AS people
FROM `analytics`.events
ARRAY JOIN [event, ''] AS name
WHERE person_id != 0
GROUP BY tenant_id, event, hour;

-- Backfill from the events already stored, through the ids given above.
INSERT INTO `analytics`.person_hours
SELECT e.tenant_id, name AS event, toStartOfHour(e.timestamp) AS hour, groupBitmapState(i.person_id) AS people
FROM `analytics`.events AS e
INNER JOIN (SELECT tenant_id, person_key, min(person_id) AS person_id FROM `analytics`.person_ids GROUP BY tenant_id, person_key) AS i
    ON i.tenant_id = e.tenant_id AND i.person_key = e.person_key
ARRAY JOIN [e.event, ''] AS name
GROUP BY e.tenant_id, event, hour;

-- migration 1820_property_rollups
CREATE TABLE IF NOT EXISTS `analytics`.metrics_by_property
(
    tenant_id LowCardinality(String),
    property LowCardinality(String),
    event LowCardinality(String),
    hour DateTime('UTC'),
    is_set UInt8,
    value String,
    events SimpleAggregateFunction(sum, UInt64),
    users AggregateFunction(uniqCombined(14), String)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(hour)
ORDER BY (tenant_id, property, event, hour, is_set, value)
SETTINGS index_granularity = 64, non_replicated_deduplication_window = 1000;

-- The columns whose rows of the events stored before they joined the view have been computed (the
-- backfill job writes one row per column when done; a dropped column's row goes). The planner
-- serves a property from the rollup only when its column is listed here.
CREATE TABLE IF NOT EXISTS `analytics`.metrics_by_property_columns
(
    property String,
    covered_at DateTime('UTC')
)
ENGINE = ReplacingMergeTree(covered_at)
ORDER BY property;

-- migration 1821_property_rollup_days
CREATE TABLE IF NOT EXISTS `analytics`.metrics_by_property_days
(
    tenant_id LowCardinality(String),
    property LowCardinality(String),
    event LowCardinality(String),
    day Date,
    is_set UInt8,
    value String,
    events SimpleAggregateFunction(sum, UInt64),
    users AggregateFunction(uniqCombined(14), String)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (tenant_id, property, event, day, is_set, value)
SETTINGS index_granularity = 64, non_replicated_deduplication_window = 1000;

CREATE MATERIALIZED VIEW IF NOT EXISTS `analytics`.metrics_by_property_days_mv TO `analytics`.metrics_by_property_days AS
SELECT tenant_id, property, event, toDate(hour) AS day, is_set, value, sum(events) AS events,
       uniqCombinedMergeState(14)(users) AS users
FROM `analytics`.metrics_by_property
GROUP BY tenant_id, property, event, day, is_set, value;

-- Backfill from the hour rows already stored (migrations run before the service accepts events).
INSERT INTO `analytics`.metrics_by_property_days
SELECT tenant_id, property, event, toDate(hour) AS day, is_set, value, sum(events), uniqCombinedMergeState(14)(users)
FROM `analytics`.metrics_by_property
GROUP BY tenant_id, property, event, day, is_set, value;

-- migration 1822_property_rollup_view
CREATE MATERIALIZED VIEW IF NOT EXISTS `analytics`.metrics_by_property_mv TO `analytics`.metrics_by_property AS
SELECT tenant_id, event, toStartOfHour(timestamp) AS hour, p.1 AS property, p.2 AS value, p.3 AS is_set,
       count() AS events, uniqCombinedState(14)(distinct_id) AS users
FROM `analytics`.events
ARRAY JOIN CAST([], 'Array(Tuple(String, String, UInt8))') AS p
GROUP BY tenant_id, event, hour, property, value, is_set;

-- migration 1830_merge_block_sizes
ALTER TABLE `analytics`.metrics_daily MODIFY SETTING merge_max_block_size = 256;

ALTER TABLE `analytics`.metrics_monthly MODIFY SETTING merge_max_block_size = 256;

ALTER TABLE `analytics`.metrics_by_property MODIFY SETTING merge_max_block_size = 256;

ALTER TABLE `analytics`.metrics_by_property_days MODIFY SETTING merge_max_block_size = 256;

ALTER TABLE `analytics`.person_hours MODIFY SETTING merge_max_block_size = 256;

