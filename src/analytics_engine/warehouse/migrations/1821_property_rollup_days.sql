-- Day-level companion of `metrics_by_property` (migration 1820; docs/insights.md "Property rollups").
--
-- The same per UTC day, for ranges of days (as `metrics_monthly` is to `metrics_daily`): a 90-day trend
-- merged ~2,000 hour sketches per value from the hour table (~100-350 ms at 10M events); it reads the
-- UTC days lying wholly inside one bucket here and only the hours at the edges from the hour table.
-- Fed from every insert into the hour table (the view below); partitioned by month like the hour
-- table, so that tiering drops the same months from both. Written by the same insert as `events`:
-- the same deduplication window.
CREATE TABLE IF NOT EXISTS {db}.metrics_by_property_days
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

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.metrics_by_property_days_mv TO {db}.metrics_by_property_days AS
SELECT tenant_id, property, event, toDate(hour) AS day, is_set, value, sum(events) AS events,
       uniqCombinedMergeState(14)(users) AS users
FROM {db}.metrics_by_property
GROUP BY tenant_id, property, event, day, is_set, value;

-- Backfill from the hour rows already stored (migrations run before the service accepts events).
INSERT INTO {db}.metrics_by_property_days
SELECT tenant_id, property, event, toDate(hour) AS day, is_set, value, sum(events), uniqCombinedMergeState(14)(users)
FROM {db}.metrics_by_property
GROUP BY tenant_id, property, event, day, is_set, value;
