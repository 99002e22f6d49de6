-- Pre-aggregation `metrics_by_property` (docs/insights.md, "Property rollups"; issue 18): per tenant,
-- event, UTC hour, materialized string property (its column of `events`, `mp_s_...`, shared by
-- tenants) and value, the event count and the same unique-users sketch as `metrics_daily`
-- (`uniqCombinedState(14)` of distinct_id). Trends with a filter or a breakdown on one materialized
-- property read it instead of `events` (insights/property_rollups.py).
--
-- `value` is `ifNull(column, '')` and `is_set` whether the column is not NULL (the property set): a
-- breakdown reads every row (unset events fall in the '' bucket, as on raw events), `eq`/`in` the set
-- rows of those values, `is_set`/`is_not_set` the rows of one flag. So the unset rows are kept.
--
-- Fed by `metrics_by_property_mv`, a materialized view over the materialized string columns of
-- `events` (an ARRAY JOIN of one (column, value, is_set) tuple per column). The set of columns
-- changes at run time, so the view is created and recreated by the service (materialized/rollup.py)
-- whenever a column is added or dropped, not here; a column's rows for the events stored before it
-- joined the view are computed by the backfill job, partition by partition.
--
-- Exactly once across crashes like every table derived from `events` (issue 17): the writer's
-- insert_deduplication_token with deduplicate_blocks_in_dependent_materialized_views=1 needs the
-- deduplication window below; `ingest verify` compares it with events (ingest/consistency.py).
-- A day-level companion, `metrics_by_property_days`, is migration 1821.
-- 64-row granules: a row carries a sketch of up to ~12 KB (see 0960_rollup_sketches.sql).
CREATE TABLE IF NOT EXISTS {db}.metrics_by_property
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
CREATE TABLE IF NOT EXISTS {db}.metrics_by_property_columns
(
    property String,
    covered_at DateTime('UTC')
)
ENGINE = ReplacingMergeTree(covered_at)
ORDER BY property;
