"""Retention tiers: the hot tier (ClickHouse, `ANALYTICS_HOT_RETENTION_MONTHS`) and the cold tier
(Parquet files under the tenant's storage prefix, `ANALYTICS_COLD_RETENTION_YEARS`). docs/lifecycle.md."""
