CREATE TABLE IF NOT EXISTS `analytics`.sync_donations
(
    tenant_id LowCardinality(String),
    `id` Int64,
    `amount` Nullable(Decimal(12, 2)),
    `note` Nullable(String),
    `updated_at` DateTime64(6, 'UTC'),
    `deleted_at` Nullable(DateTime64(6, 'UTC')),
    `_version` UInt64,
    `_is_deleted` UInt8
)
ENGINE = ReplacingMergeTree(_version, _is_deleted)
ORDER BY (tenant_id, `id`)
SETTINGS non_replicated_deduplication_window = 0
COMMENT 'analytics-engine sync source donations';

CREATE TABLE `analytics`.sync_donations__sync_keys
(
    tenant_id String,
    `id` Int64
)
ENGINE = MergeTree
ORDER BY (tenant_id, `id`)
SETTINGS non_replicated_deduplication_window = 0;
