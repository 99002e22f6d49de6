-- Insight rollups (docs/insights.md). Kept by materialized views on every insert into `events`.
-- metrics_daily: per tenant, event and UTC hour. Days, weeks and months of any time zone whose
-- offset is whole hours are unions of UTC hours, so daily charts in any such zone read this.
CREATE TABLE IF NOT EXISTS {db}.metrics_daily
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
TTL hour + INTERVAL {hot_retention_months} MONTH;

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.metrics_daily_mv TO {db}.metrics_daily AS
SELECT tenant_id, event, toStartOfHour(timestamp) AS hour, count() AS events, uniqState(distinct_id) AS users
FROM {db}.events
GROUP BY tenant_id, event, hour;

-- metrics_monthly: per tenant, event and UTC day, for long ranges: a month bucket reads the UTC days
-- wholly inside it from here and the hours at its edges from metrics_daily.
CREATE TABLE IF NOT EXISTS {db}.metrics_monthly
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
TTL day + INTERVAL {hot_retention_months} MONTH;

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.metrics_monthly_mv TO {db}.metrics_monthly AS
SELECT tenant_id, event, toDate(timestamp) AS day, count() AS events, uniqState(distinct_id) AS users
FROM {db}.events
GROUP BY tenant_id, event, day;

-- Backfill from the events already stored (migrations run before the service accepts events).
INSERT INTO {db}.metrics_daily
SELECT tenant_id, event, toStartOfHour(timestamp) AS hour, count(), uniqState(distinct_id)
FROM {db}.events
GROUP BY tenant_id, event, hour;

INSERT INTO {db}.metrics_monthly
SELECT tenant_id, event, toDate(timestamp) AS day, count(), uniqState(distinct_id)
FROM {db}.events
GROUP BY tenant_id, event, day;
