-- Recent event ids by (tenant, high 64 bits of the id), kept by a materialized view from `events`,
-- so the insert-time duplicate check is a primary-key lookup on integers instead of a scan of
-- `events` or a parse of thousands of UUID literals (measured in docs/ingest.md).
CREATE TABLE IF NOT EXISTS {db}.event_ids
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

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.event_ids_mv TO {db}.event_ids AS
SELECT tenant_id, toUInt64(bitShiftRight(toUInt128(event_id), 64)) AS id_high, event_id,
       toDateTime(received_at) AS received_at
FROM {db}.events;

INSERT INTO {db}.event_ids
SELECT tenant_id, toUInt64(bitShiftRight(toUInt128(event_id), 64)), event_id, toDateTime(received_at)
FROM {db}.events WHERE received_at >= now() - INTERVAL 7 DAY;
