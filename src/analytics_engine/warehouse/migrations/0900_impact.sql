-- Impact benchmarks, refreshed on a schedule. `benchmarks` holds one row per peer group (metric,
-- comparison dimension, group value) per refresh: only aggregates, never a tenant's id or figure.
CREATE TABLE IF NOT EXISTS {db}.benchmarks
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
CREATE TABLE IF NOT EXISTS {db}.benchmark_members
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
