-- Analytics Engine warehouse DDL, cluster analytics_cluster
CREATE DATABASE IF NOT EXISTS `analytics` ON CLUSTER 'analytics_cluster';

CREATE TABLE IF NOT EXISTS `analytics`.schema_migrations ON CLUSTER 'analytics_cluster' (id String, applied_at DateTime64(3, 'UTC') DEFAULT now64(3)) ENGINE = ReplicatedMergeTree('/clickhouse/tables/all/{database}/{table}', '{replica}') ORDER BY id;

-- migration 0001_events
CREATE TABLE IF NOT EXISTS `analytics`.events_local ON CLUSTER 'analytics_cluster'
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
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}')
PARTITION BY toYYYYMM(timestamp)
ORDER BY (tenant_id, event, toDate(timestamp), distinct_id, event_id)
TTL toDateTime(timestamp) + INTERVAL 13 MONTH
SETTINGS replicated_deduplication_window = 1000;

CREATE TABLE IF NOT EXISTS `analytics`.events ON CLUSTER 'analytics_cluster' AS `analytics`.events_local
ENGINE = Distributed('analytics_cluster', 'analytics', 'events_local', cityHash64(tenant_id));

CREATE TABLE IF NOT EXISTS `analytics`.rejected_events_local ON CLUSTER 'analytics_cluster'
(
    tenant_id LowCardinality(String),
    received_at DateTime64(3, 'UTC') DEFAULT now64(3),
    source LowCardinality(String),
    request_id String,
    position UInt32,
    reason String,
    payload String
)
ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}')
PARTITION BY toYYYYMM(received_at)
ORDER BY (tenant_id, received_at)
TTL toDateTime(received_at) + INTERVAL 90 DAY;

CREATE TABLE IF NOT EXISTS `analytics`.rejected_events ON CLUSTER 'analytics_cluster' AS `analytics`.rejected_events_local
ENGINE = Distributed('analytics_cluster', 'analytics', 'rejected_events_local', cityHash64(tenant_id));

-- migration 0002_event_ids
CREATE TABLE IF NOT EXISTS `analytics`.event_ids_local ON CLUSTER 'analytics_cluster'
(
    tenant_id LowCardinality(String),
    id_high UInt64,
    event_id UUID,
    received_at DateTime DEFAULT now()
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}')
PARTITION BY toDate(received_at)
PRIMARY KEY (tenant_id, id_high)
ORDER BY (tenant_id, id_high, event_id)
TTL received_at + INTERVAL 7 DAY
-- Small granules: a batch's random ids each touch their own granule, so reads stay small.
SETTINGS index_granularity = 256;

CREATE TABLE IF NOT EXISTS `analytics`.event_ids ON CLUSTER 'analytics_cluster' AS `analytics`.event_ids_local
ENGINE = Distributed('analytics_cluster', 'analytics', 'event_ids_local', cityHash64(tenant_id));

CREATE MATERIALIZED VIEW IF NOT EXISTS `analytics`.event_ids_mv ON CLUSTER 'analytics_cluster' TO `analytics`.event_ids_local AS SELECT tenant_id, toUInt64(bitShiftRight(toUInt128(event_id), 64)) AS id_high, event_id,
       toDateTime(received_at) AS received_at
FROM `analytics`.events_local;

INSERT INTO `analytics`.event_ids
SELECT tenant_id, toUInt64(bitShiftRight(toUInt128(event_id), 64)), event_id, toDateTime(received_at)
FROM `analytics`.events WHERE received_at >= now() - INTERVAL 7 DAY
SETTINGS distributed_foreground_insert = 1;

-- migration 0600_rollups
CREATE TABLE IF NOT EXISTS `analytics`.metrics_daily_local ON CLUSTER 'analytics_cluster'
(
    tenant_id LowCardinality(String),
    event LowCardinality(String),
    hour DateTime('UTC'),
    events SimpleAggregateFunction(sum, UInt64),
    users AggregateFunction(uniq, String)
)
ENGINE = ReplicatedAggregatingMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}')
PARTITION BY toYYYYMM(hour)
ORDER BY (tenant_id, event, hour)
TTL hour + INTERVAL 13 MONTH;

CREATE TABLE IF NOT EXISTS `analytics`.metrics_daily ON CLUSTER 'analytics_cluster' AS `analytics`.metrics_daily_local
ENGINE = Distributed('analytics_cluster', 'analytics', 'metrics_daily_local', cityHash64(tenant_id));

CREATE MATERIALIZED VIEW IF NOT EXISTS `analytics`.metrics_daily_mv ON CLUSTER 'analytics_cluster' TO `analytics`.metrics_daily_local AS SELECT tenant_id, event, toStartOfHour(timestamp) AS hour, count() AS events, uniqState(distinct_id) AS users
FROM `analytics`.events_local
GROUP BY tenant_id, event, hour;

CREATE TABLE IF NOT EXISTS `analytics`.metrics_monthly_local ON CLUSTER 'analytics_cluster'
(
    tenant_id LowCardinality(String),
    event LowCardinality(String),
    day Date,
    events SimpleAggregateFunction(sum, UInt64),
    users AggregateFunction(uniq, String)
)
ENGINE = ReplicatedAggregatingMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}')
PARTITION BY toYear(day)
ORDER BY (tenant_id, event, day)
TTL day + INTERVAL 13 MONTH;

CREATE TABLE IF NOT EXISTS `analytics`.metrics_monthly ON CLUSTER 'analytics_cluster' AS `analytics`.metrics_monthly_local
ENGINE = Distributed('analytics_cluster', 'analytics', 'metrics_monthly_local', cityHash64(tenant_id));

CREATE MATERIALIZED VIEW IF NOT EXISTS `analytics`.metrics_monthly_mv ON CLUSTER 'analytics_cluster' TO `analytics`.metrics_monthly_local AS SELECT tenant_id, event, toDate(timestamp) AS day, count() AS events, uniqState(distinct_id) AS users
FROM `analytics`.events_local
GROUP BY tenant_id, event, day;

INSERT INTO `analytics`.metrics_daily
SELECT tenant_id, event, toStartOfHour(timestamp) AS hour, count(), uniqState(distinct_id)
FROM `analytics`.events
GROUP BY tenant_id, event, hour
SETTINGS distributed_foreground_insert = 1;

INSERT INTO `analytics`.metrics_monthly
SELECT tenant_id, event, toDate(timestamp) AS day, count(), uniqState(distinct_id)
FROM `analytics`.events
GROUP BY tenant_id, event, day
SETTINGS distributed_foreground_insert = 1;

-- migration 0620_person_weeks
CREATE TABLE IF NOT EXISTS `analytics`.person_weeks_local ON CLUSTER 'analytics_cluster'
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
ENGINE = ReplicatedAggregatingMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}')
PARTITION BY toYYYYMM(week)
ORDER BY (tenant_id, event, week, person_key)
TTL week + INTERVAL 13 MONTH
SETTINGS replicated_deduplication_window = 1000;

CREATE TABLE IF NOT EXISTS `analytics`.person_weeks ON CLUSTER 'analytics_cluster' AS `analytics`.person_weeks_local
ENGINE = Distributed('analytics_cluster', 'analytics', 'person_weeks_local', cityHash64(tenant_id));

CREATE MATERIALIZED VIEW IF NOT EXISTS `analytics`.person_weeks_mv ON CLUSTER 'analytics_cluster' TO `analytics`.person_weeks_local AS WITH toUInt8(intDiv(toUnixTimestamp(timestamp) - toUnixTimestamp(toDateTime(toMonday(timestamp), 'UTC')), 3600)) AS hw
SELECT tenant_id, name AS event, toMonday(timestamp) AS week, cityHash64(distinct_id) AS person_key,
       groupBitOr(bitShiftLeft(toUInt64(hw < 64), hw % 64)) AS h0,
       groupBitOr(bitShiftLeft(toUInt64(hw >= 64 AND hw < 128), hw % 64)) AS h1,
       groupBitOr(bitShiftLeft(toUInt64(hw >= 128), hw % 64)) AS h2,
       min(timestamp) AS first_ts, count() AS events
FROM `analytics`.events_local
ARRAY JOIN [event, ''] AS name
GROUP BY tenant_id, event, week, person_key;

INSERT INTO `analytics`.person_weeks
WITH toUInt8(intDiv(toUnixTimestamp(timestamp) - toUnixTimestamp(toDateTime(toMonday(timestamp), 'UTC')), 3600)) AS hw
SELECT tenant_id, name AS event, toMonday(timestamp) AS week, cityHash64(distinct_id) AS person_key,
       groupBitOr(bitShiftLeft(toUInt64(hw < 64), hw % 64)) AS h0,
       groupBitOr(bitShiftLeft(toUInt64(hw >= 64 AND hw < 128), hw % 64)) AS h1,
       groupBitOr(bitShiftLeft(toUInt64(hw >= 128), hw % 64)) AS h2,
       min(timestamp) AS first_ts, count() AS events
FROM `analytics`.events
ARRAY JOIN [event, ''] AS name
GROUP BY tenant_id, event, week, person_key
SETTINGS distributed_foreground_insert = 1;

-- migration 0700_cohorts
CREATE TABLE IF NOT EXISTS `analytics`.persons_local ON CLUSTER 'analytics_cluster'
(
    tenant_id LowCardinality(String),
    distinct_id String,
    first_seen SimpleAggregateFunction(min, DateTime64(3, 'UTC')),
    last_seen SimpleAggregateFunction(max, DateTime64(3, 'UTC')),
    event_count SimpleAggregateFunction(sum, UInt64)
)
ENGINE = ReplicatedAggregatingMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}')
ORDER BY (tenant_id, distinct_id);

CREATE TABLE IF NOT EXISTS `analytics`.persons ON CLUSTER 'analytics_cluster' AS `analytics`.persons_local
ENGINE = Distributed('analytics_cluster', 'analytics', 'persons_local', cityHash64(tenant_id));

CREATE MATERIALIZED VIEW IF NOT EXISTS `analytics`.persons_mv ON CLUSTER 'analytics_cluster' TO `analytics`.persons_local AS SELECT tenant_id, distinct_id, min(timestamp) AS first_seen, max(timestamp) AS last_seen, count() AS event_count
FROM `analytics`.events_local
GROUP BY tenant_id, distinct_id;

CREATE TABLE IF NOT EXISTS `analytics`.person_properties_local ON CLUSTER 'analytics_cluster'
(
    tenant_id LowCardinality(String),
    distinct_id String,
    key String,
    value AggregateFunction(argMax, String, DateTime64(3, 'UTC'))
)
ENGINE = ReplicatedAggregatingMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}')
ORDER BY (tenant_id, distinct_id, key);

CREATE TABLE IF NOT EXISTS `analytics`.person_properties ON CLUSTER 'analytics_cluster' AS `analytics`.person_properties_local
ENGINE = Distributed('analytics_cluster', 'analytics', 'person_properties_local', cityHash64(tenant_id));

CREATE MATERIALIZED VIEW IF NOT EXISTS `analytics`.person_properties_mv ON CLUSTER 'analytics_cluster' TO `analytics`.person_properties_local AS SELECT tenant_id, distinct_id, kv.1 AS key, argMaxState(kv.2, timestamp) AS value
FROM `analytics`.events_local
ARRAY JOIN JSONExtractKeysAndValuesRaw(toJSONString(properties)) AS kv
GROUP BY tenant_id, distinct_id, key;

INSERT INTO `analytics`.persons
SELECT tenant_id, distinct_id, min(timestamp), max(timestamp), count()
FROM `analytics`.events
GROUP BY tenant_id, distinct_id
SETTINGS distributed_foreground_insert = 1;

INSERT INTO `analytics`.person_properties
SELECT tenant_id, distinct_id, kv.1 AS key, argMaxState(kv.2, timestamp)
FROM `analytics`.events
ARRAY JOIN JSONExtractKeysAndValuesRaw(toJSONString(properties)) AS kv
GROUP BY tenant_id, distinct_id, key
SETTINGS distributed_foreground_insert = 1;

CREATE TABLE IF NOT EXISTS `analytics`.cohort_users_local ON CLUSTER 'analytics_cluster'
(
    tenant_id LowCardinality(String),
    cohort_id String,
    version UInt32,
    distinct_id String
)
ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}')
ORDER BY (tenant_id, cohort_id, version, distinct_id);

CREATE TABLE IF NOT EXISTS `analytics`.cohort_users ON CLUSTER 'analytics_cluster' AS `analytics`.cohort_users_local
ENGINE = Distributed('analytics_cluster', 'analytics', 'cohort_users_local', cityHash64(tenant_id));

CREATE TABLE IF NOT EXISTS `analytics`.cohort_analysis_local ON CLUSTER 'analytics_cluster'
(
    tenant_id LowCardinality(String),
    cohort_id String,
    version UInt32,
    period_start Date,
    period_index UInt16,
    users UInt64
)
ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}')
ORDER BY (tenant_id, cohort_id, version, period_start, period_index);

CREATE TABLE IF NOT EXISTS `analytics`.cohort_analysis ON CLUSTER 'analytics_cluster' AS `analytics`.cohort_analysis_local
ENGINE = Distributed('analytics_cluster', 'analytics', 'cohort_analysis_local', cityHash64(tenant_id));

-- migration 0900_impact
CREATE TABLE IF NOT EXISTS `analytics`.benchmarks_local ON CLUSTER 'analytics_cluster'
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
ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}')
ORDER BY (metric, compare_with, group_value, refreshed_at);

CREATE TABLE IF NOT EXISTS `analytics`.benchmarks ON CLUSTER 'analytics_cluster' AS `analytics`.benchmarks_local
ENGINE = Distributed('analytics_cluster', 'analytics', 'benchmarks_local', cityHash64(metric));

CREATE TABLE IF NOT EXISTS `analytics`.benchmark_members_local ON CLUSTER 'analytics_cluster'
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
ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}')
ORDER BY (tenant_id, metric, compare_with, refreshed_at);

CREATE TABLE IF NOT EXISTS `analytics`.benchmark_members ON CLUSTER 'analytics_cluster' AS `analytics`.benchmark_members_local
ENGINE = Distributed('analytics_cluster', 'analytics', 'benchmark_members_local', cityHash64(tenant_id));

-- migration 0960_rollup_sketches
DROP VIEW IF EXISTS `analytics`.metrics_monthly_mv ON CLUSTER 'analytics_cluster' SYNC;

DROP VIEW IF EXISTS `analytics`.metrics_daily_mv ON CLUSTER 'analytics_cluster' SYNC;

DROP TABLE IF EXISTS `analytics`.metrics_monthly ON CLUSTER 'analytics_cluster' SYNC;

DROP TABLE IF EXISTS `analytics`.metrics_monthly_local ON CLUSTER 'analytics_cluster' SYNC;

DROP TABLE IF EXISTS `analytics`.metrics_daily ON CLUSTER 'analytics_cluster' SYNC;

DROP TABLE IF EXISTS `analytics`.metrics_daily_local ON CLUSTER 'analytics_cluster' SYNC;

CREATE TABLE `analytics`.metrics_daily_local ON CLUSTER 'analytics_cluster'
(
    tenant_id LowCardinality(String),
    event LowCardinality(String),
    hour DateTime('UTC'),
    events SimpleAggregateFunction(sum, UInt64),
    users AggregateFunction(uniqCombined(14), String)
)
ENGINE = ReplicatedAggregatingMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}')
PARTITION BY toYYYYMM(hour)
ORDER BY (tenant_id, event, hour)
TTL hour + INTERVAL 13 MONTH
SETTINGS index_granularity = 64;

CREATE TABLE `analytics`.metrics_daily ON CLUSTER 'analytics_cluster' AS `analytics`.metrics_daily_local
ENGINE = Distributed('analytics_cluster', 'analytics', 'metrics_daily_local', cityHash64(tenant_id));

CREATE TABLE `analytics`.metrics_monthly_local ON CLUSTER 'analytics_cluster'
(
    tenant_id LowCardinality(String),
    event LowCardinality(String),
    day Date,
    events SimpleAggregateFunction(sum, UInt64),
    users AggregateFunction(uniqCombined(14), String)
)
ENGINE = ReplicatedAggregatingMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}')
PARTITION BY toYear(day)
ORDER BY (tenant_id, event, day)
TTL day + INTERVAL 13 MONTH
SETTINGS index_granularity = 64;

CREATE TABLE `analytics`.metrics_monthly ON CLUSTER 'analytics_cluster' AS `analytics`.metrics_monthly_local
ENGINE = Distributed('analytics_cluster', 'analytics', 'metrics_monthly_local', cityHash64(tenant_id));

CREATE MATERIALIZED VIEW `analytics`.metrics_daily_mv ON CLUSTER 'analytics_cluster' TO `analytics`.metrics_daily_local AS SELECT tenant_id, event, toStartOfHour(timestamp) AS hour, count() AS events,
       uniqCombinedState(14)(distinct_id) AS users
FROM `analytics`.events_local
GROUP BY tenant_id, event, hour;

CREATE MATERIALIZED VIEW `analytics`.metrics_monthly_mv ON CLUSTER 'analytics_cluster' TO `analytics`.metrics_monthly_local AS SELECT tenant_id, event, toDate(hour) AS day, sum(events) AS events, uniqCombinedMergeState(14)(users) AS users
FROM `analytics`.metrics_daily_local
GROUP BY tenant_id, event, day;

INSERT INTO `analytics`.metrics_daily
SELECT tenant_id, event, toStartOfHour(timestamp) AS hour, count(), uniqCombinedState(14)(distinct_id)
FROM `analytics`.events
GROUP BY tenant_id, event, hour
SETTINGS distributed_foreground_insert = 1;

-- migration 0961_person_key
ALTER TABLE `analytics`.events_local ON CLUSTER 'analytics_cluster' ADD COLUMN IF NOT EXISTS person_key UInt64 MATERIALIZED cityHash64(distinct_id);

ALTER TABLE `analytics`.events ON CLUSTER 'analytics_cluster' ADD COLUMN IF NOT EXISTS person_key UInt64 MATERIALIZED cityHash64(distinct_id);

ALTER TABLE `analytics`.events_local ON CLUSTER 'analytics_cluster' MATERIALIZE COLUMN person_key;

-- migration 0970_derived_deduplication
ALTER TABLE `analytics`.event_ids_local ON CLUSTER 'analytics_cluster' MODIFY SETTING replicated_deduplication_window = 1000;

ALTER TABLE `analytics`.metrics_daily_local ON CLUSTER 'analytics_cluster' MODIFY SETTING replicated_deduplication_window = 1000;

ALTER TABLE `analytics`.metrics_monthly_local ON CLUSTER 'analytics_cluster' MODIFY SETTING replicated_deduplication_window = 1000;

ALTER TABLE `analytics`.persons_local ON CLUSTER 'analytics_cluster' MODIFY SETTING replicated_deduplication_window = 1000;

ALTER TABLE `analytics`.person_properties_local ON CLUSTER 'analytics_cluster' MODIFY SETTING replicated_deduplication_window = 1000;

-- migration 1600_lifecycle
ALTER TABLE `analytics`.events_local ON CLUSTER 'analytics_cluster' REMOVE TTL;

ALTER TABLE `analytics`.metrics_daily_local ON CLUSTER 'analytics_cluster' REMOVE TTL;

ALTER TABLE `analytics`.metrics_monthly_local ON CLUSTER 'analytics_cluster' REMOVE TTL;

ALTER TABLE `analytics`.person_weeks_local ON CLUSTER 'analytics_cluster' REMOVE TTL;

-- migration 1700_taxonomy
CREATE TABLE IF NOT EXISTS `analytics`.taxonomy_properties_local ON CLUSTER 'analytics_cluster'
(
    tenant_id LowCardinality(String),
    event LowCardinality(String),
    key String,
    type LowCardinality(String),
    events SimpleAggregateFunction(sum, UInt64),
    first_seen SimpleAggregateFunction(min, DateTime64(3, 'UTC')),
    last_seen SimpleAggregateFunction(max, DateTime64(3, 'UTC'))
)
ENGINE = ReplicatedAggregatingMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}')
ORDER BY (tenant_id, event, key, type)
SETTINGS replicated_deduplication_window = 1000;

CREATE TABLE IF NOT EXISTS `analytics`.taxonomy_properties ON CLUSTER 'analytics_cluster' AS `analytics`.taxonomy_properties_local
ENGINE = Distributed('analytics_cluster', 'analytics', 'taxonomy_properties_local', cityHash64(tenant_id));

CREATE MATERIALIZED VIEW IF NOT EXISTS `analytics`.taxonomy_properties_mv ON CLUSTER 'analytics_cluster' TO `analytics`.taxonomy_properties_local AS SELECT tenant_id, event, kv.1 AS key, kv.2 AS type, count() AS events, min(timestamp) AS first_seen,
    max(timestamp) AS last_seen
FROM `analytics`.events_local
ARRAY JOIN JSONAllPathsWithTypes(properties) AS kv
GROUP BY tenant_id, event, key, type;

INSERT INTO `analytics`.taxonomy_properties
SELECT tenant_id, event, kv.1 AS key, kv.2 AS type, count(), min(timestamp), max(timestamp)
FROM `analytics`.events
ARRAY JOIN JSONAllPathsWithTypes(properties) AS kv
GROUP BY tenant_id, event, key, type
SETTINGS distributed_foreground_insert = 1;

-- migration 1800_person_hours
CREATE TABLE IF NOT EXISTS `analytics`.person_ids_local ON CLUSTER 'analytics_cluster'
(
    tenant_id LowCardinality(String),
    distinct_id String,
    person_key UInt64 DEFAULT cityHash64(distinct_id),
    person_id UInt32
)
ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}')
ORDER BY (tenant_id, person_key);

CREATE TABLE IF NOT EXISTS `analytics`.person_ids ON CLUSTER 'analytics_cluster' AS `analytics`.person_ids_local
ENGINE = Distributed('analytics_cluster', 'analytics', 'person_ids_local', cityHash64(tenant_id));

INSERT INTO `analytics`.person_ids
SELECT tenant_id, distinct_id, cityHash64(distinct_id) AS person_key,
       toUInt32(row_number() OVER (PARTITION BY tenant_id ORDER BY first, distinct_id)) AS person_id
FROM (SELECT tenant_id, distinct_id, min(timestamp) AS first FROM `analytics`.events GROUP BY tenant_id, distinct_id)
SETTINGS distributed_foreground_insert = 1;

ALTER TABLE `analytics`.events_local ON CLUSTER 'analytics_cluster' ADD COLUMN IF NOT EXISTS person_id UInt32 DEFAULT 0;

ALTER TABLE `analytics`.events ON CLUSTER 'analytics_cluster' ADD COLUMN IF NOT EXISTS person_id UInt32 DEFAULT 0;

CREATE TABLE IF NOT EXISTS `analytics`.person_hours_local ON CLUSTER 'analytics_cluster'
(
    tenant_id LowCardinality(String),
    event LowCardinality(String),
    hour DateTime('UTC'),
    people AggregateFunction(groupBitmap, UInt32)
)
ENGINE = ReplicatedAggregatingMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}')
PARTITION BY toYYYYMM(hour)
ORDER BY (tenant_id, event, hour)
SETTINGS index_granularity = 64, replicated_deduplication_window = 1000;

CREATE TABLE IF NOT EXISTS `analytics`.person_hours ON CLUSTER 'analytics_cluster' AS `analytics`.person_hours_local
ENGINE = Distributed('analytics_cluster', 'analytics', 'person_hours_local', cityHash64(tenant_id));

CREATE MATERIALIZED VIEW IF NOT EXISTS `analytics`.person_hours_mv ON CLUSTER 'analytics_cluster' TO `analytics`.person_hours_local AS SELECT tenant_id, name AS event, toStartOfHour(timestamp) AS hour, groupBitmapState(person_id) AS people
FROM `analytics`.events_local
ARRAY JOIN [event, ''] AS name
WHERE person_id != 0
GROUP BY tenant_id, event, hour;

INSERT INTO `analytics`.person_hours
SELECT e.tenant_id, name AS event, toStartOfHour(e.timestamp) AS hour, groupBitmapState(i.person_id) AS people
FROM `analytics`.events AS e
INNER JOIN (SELECT tenant_id, person_key, min(person_id) AS person_id FROM `analytics`.person_ids GROUP BY tenant_id, person_key) AS i
    ON i.tenant_id = e.tenant_id AND i.person_key = e.person_key
ARRAY JOIN [e.event, ''] AS name
GROUP BY e.tenant_id, event, hour
SETTINGS distributed_foreground_insert = 1;

-- migration 1820_property_rollups
CREATE TABLE IF NOT EXISTS `analytics`.metrics_by_property_local ON CLUSTER 'analytics_cluster'
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
ENGINE = ReplicatedAggregatingMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}')
PARTITION BY toYYYYMM(hour)
ORDER BY (tenant_id, property, event, hour, is_set, value)
SETTINGS index_granularity = 64, replicated_deduplication_window = 1000;

CREATE TABLE IF NOT EXISTS `analytics`.metrics_by_property ON CLUSTER 'analytics_cluster' AS `analytics`.metrics_by_property_local
ENGINE = Distributed('analytics_cluster', 'analytics', 'metrics_by_property_local', cityHash64(tenant_id));

CREATE TABLE IF NOT EXISTS `analytics`.metrics_by_property_columns_local ON CLUSTER 'analytics_cluster'
(
    property String,
    covered_at DateTime('UTC')
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}', covered_at)
ORDER BY property;

CREATE TABLE IF NOT EXISTS `analytics`.metrics_by_property_columns ON CLUSTER 'analytics_cluster' AS `analytics`.metrics_by_property_columns_local
ENGINE = Distributed('analytics_cluster', 'analytics', 'metrics_by_property_columns_local', cityHash64(property));

-- migration 1821_property_rollup_days
CREATE TABLE IF NOT EXISTS `analytics`.metrics_by_property_days_local ON CLUSTER 'analytics_cluster'
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
ENGINE = ReplicatedAggregatingMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}')
PARTITION BY toYYYYMM(day)
ORDER BY (tenant_id, property, event, day, is_set, value)
SETTINGS index_granularity = 64, replicated_deduplication_window = 1000;

CREATE TABLE IF NOT EXISTS `analytics`.metrics_by_property_days ON CLUSTER 'analytics_cluster' AS `analytics`.metrics_by_property_days_local
ENGINE = Distributed('analytics_cluster', 'analytics', 'metrics_by_property_days_local', cityHash64(tenant_id));

CREATE MATERIALIZED VIEW IF NOT EXISTS `analytics`.metrics_by_property_days_mv ON CLUSTER 'analytics_cluster' TO `analytics`.metrics_by_property_days_local AS SELECT tenant_id, property, event, toDate(hour) AS day, is_set, value, sum(events) AS events,
       uniqCombinedMergeState(14)(users) AS users
FROM `analytics`.metrics_by_property_local
GROUP BY tenant_id, property, event, day, is_set, value;

INSERT INTO `analytics`.metrics_by_property_days
SELECT tenant_id, property, event, toDate(hour) AS day, is_set, value, sum(events), uniqCombinedMergeState(14)(users)
FROM `analytics`.metrics_by_property
GROUP BY tenant_id, property, event, day, is_set, value
SETTINGS distributed_foreground_insert = 1;

-- migration 1822_property_rollup_view
CREATE MATERIALIZED VIEW IF NOT EXISTS `analytics`.metrics_by_property_mv ON CLUSTER 'analytics_cluster' TO `analytics`.metrics_by_property_local AS SELECT tenant_id, event, toStartOfHour(timestamp) AS hour, p.1 AS property, p.2 AS value, p.3 AS is_set,
       count() AS events, uniqCombinedState(14)(distinct_id) AS users
FROM `analytics`.events_local
ARRAY JOIN CAST([], 'Array(Tuple(String, String, UInt8))') AS p
GROUP BY tenant_id, event, hour, property, value, is_set;

-- migration 1830_merge_block_sizes
ALTER TABLE `analytics`.metrics_daily_local ON CLUSTER 'analytics_cluster' MODIFY SETTING merge_max_block_size = 256;

ALTER TABLE `analytics`.metrics_monthly_local ON CLUSTER 'analytics_cluster' MODIFY SETTING merge_max_block_size = 256;

ALTER TABLE `analytics`.metrics_by_property_local ON CLUSTER 'analytics_cluster' MODIFY SETTING merge_max_block_size = 256;

ALTER TABLE `analytics`.metrics_by_property_days_local ON CLUSTER 'analytics_cluster' MODIFY SETTING merge_max_block_size = 256;

ALTER TABLE `analytics`.person_hours_local ON CLUSTER 'analytics_cluster' MODIFY SETTING merge_max_block_size = 256;

