CREATE TABLE IF NOT EXISTS `analytics`.sync_donations_local ON CLUSTER 'analytics_cluster'
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
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}', _version, _is_deleted)
ORDER BY (tenant_id, `id`)
SETTINGS replicated_deduplication_window = 0
COMMENT 'analytics-engine sync source donations';

CREATE TABLE IF NOT EXISTS `analytics`.sync_donations ON CLUSTER 'analytics_cluster' AS `analytics`.sync_donations_local
ENGINE = Distributed('analytics_cluster', 'analytics', 'sync_donations_local', cityHash64(tenant_id))
COMMENT 'analytics-engine sync source donations';

CREATE TABLE `analytics`.sync_donations__sync_keys_local ON CLUSTER 'analytics_cluster'
(
    tenant_id String,
    `id` Int64
)
ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}')
ORDER BY (tenant_id, `id`)
SETTINGS replicated_deduplication_window = 0;

CREATE TABLE `analytics`.sync_donations__sync_keys ON CLUSTER 'analytics_cluster' AS `analytics`.sync_donations__sync_keys_local
ENGINE = Distributed('analytics_cluster', 'analytics', 'sync_donations__sync_keys_local', cityHash64(tenant_id));
