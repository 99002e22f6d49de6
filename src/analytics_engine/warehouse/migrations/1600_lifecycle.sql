-- Retention tiers (docs/lifecycle.md): the hot tier keeps whole UTC months and the tiering job
-- (lifecycle/tiering.py) moves each older month to Parquet under the tenant's storage prefix, checks
-- it, and only then drops it here (with the rows derived from it). The TTLs below went: on `events`
-- a TTL removed rows as they were inserted (an acknowledged event older than the window was lost),
-- and on the rollups it made them disagree with `events` for the days the hot tier still holds.
ALTER TABLE {db}.events REMOVE TTL;

ALTER TABLE {db}.metrics_daily REMOVE TTL;

ALTER TABLE {db}.metrics_monthly REMOVE TTL;

ALTER TABLE {db}.person_weeks REMOVE TTL;
