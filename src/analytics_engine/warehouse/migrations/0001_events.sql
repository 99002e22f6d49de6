-- Raw events. One row per accepted event; properties as ClickHouse's JSON type (measured against
-- Map and String in docs/warehouse.md). ReplacingMergeTree on a key ending in event_id removes a
-- duplicate that slipped past the insert-time check at merge time; reads never need FINAL.
CREATE TABLE IF NOT EXISTS {db}.events
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
TTL toDateTime(timestamp) + INTERVAL {hot_retention_months} MONTH
SETTINGS non_replicated_deduplication_window = 1000;

-- Events refused at ingest, kept with their reason and raw payload.
CREATE TABLE IF NOT EXISTS {db}.rejected_events
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
