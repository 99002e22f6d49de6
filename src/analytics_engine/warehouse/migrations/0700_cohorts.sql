-- Persons: one row per tenant and distinct_id once merged (first and last seen, events received),
-- kept up to date by the warehouse through a materialized view on every insert into events.
-- Readers aggregate (min/max/sum) because rows of one person merge in the background.
CREATE TABLE IF NOT EXISTS {db}.persons
(
    tenant_id LowCardinality(String),
    distinct_id String,
    first_seen SimpleAggregateFunction(min, DateTime64(3, 'UTC')),
    last_seen SimpleAggregateFunction(max, DateTime64(3, 'UTC')),
    event_count SimpleAggregateFunction(sum, UInt64)
)
ENGINE = AggregatingMergeTree
ORDER BY (tenant_id, distinct_id);

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.persons_mv TO {db}.persons AS
SELECT tenant_id, distinct_id, min(timestamp) AS first_seen, max(timestamp) AS last_seen, count() AS event_count
FROM {db}.events
GROUP BY tenant_id, distinct_id;

-- The latest value of each top-level property per person: argMax(value, timestamp) state per key.
-- Values are raw JSON text ("pro" with its quotes, 10, true, {"x":1}).
CREATE TABLE IF NOT EXISTS {db}.person_properties
(
    tenant_id LowCardinality(String),
    distinct_id String,
    key String,
    value AggregateFunction(argMax, String, DateTime64(3, 'UTC'))
)
ENGINE = AggregatingMergeTree
ORDER BY (tenant_id, distinct_id, key);

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.person_properties_mv TO {db}.person_properties AS
SELECT tenant_id, distinct_id, kv.1 AS key, argMaxState(kv.2, timestamp) AS value
FROM {db}.events
ARRAY JOIN JSONExtractKeysAndValuesRaw(toJSONString(properties)) AS kv
GROUP BY tenant_id, distinct_id, key;

-- Backfill from the events already stored (migrations run before the service accepts events).
INSERT INTO {db}.persons
SELECT tenant_id, distinct_id, min(timestamp), max(timestamp), count()
FROM {db}.events
GROUP BY tenant_id, distinct_id;

INSERT INTO {db}.person_properties
SELECT tenant_id, distinct_id, kv.1 AS key, argMaxState(kv.2, timestamp)
FROM {db}.events
ARRAY JOIN JSONExtractKeysAndValuesRaw(toJSONString(properties)) AS kv
GROUP BY tenant_id, distinct_id, key;

-- Cohort members, one set per evaluation (version). Readers only read the version published in the
-- metadata database after its insert finished, so a half-written version is never seen.
CREATE TABLE IF NOT EXISTS {db}.cohort_users
(
    tenant_id LowCardinality(String),
    cohort_id String,
    version UInt32,
    distinct_id String
)
ENGINE = MergeTree
ORDER BY (tenant_id, cohort_id, version, distinct_id);

-- Retention of a cohort's members by signup period (week of first seen), computed at evaluation.
CREATE TABLE IF NOT EXISTS {db}.cohort_analysis
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
