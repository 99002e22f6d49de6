-- Exact per-UTC-hour person bitmaps (issue 18; docs/insights.md, "Person bitmaps").
--
-- `person_ids`: per tenant, one dense UInt32 id per person (distinct_id), 1, 2, 3, ... (0 means
-- "no id"). Written by the ingest writer's allocator (personids/allocator.py) BEFORE the events of the
-- batch that introduced the person, so a crash replay finds the same ids. Erasure deletes a person's
-- row and leaves a tombstone (distinct_id '', person_key 0) holding the id, so the largest id ever
-- given stays in the table and no id is given twice, after a restart too.
CREATE TABLE IF NOT EXISTS {db}.person_ids
(
    tenant_id LowCardinality(String),
    distinct_id String,
    person_key UInt64 DEFAULT cityHash64(distinct_id),
    person_id UInt32
)
ENGINE = MergeTree
ORDER BY (tenant_id, person_key);

-- Ids for the people already stored, in order of first event (ties by distinct id).
INSERT INTO {db}.person_ids
SELECT tenant_id, distinct_id, cityHash64(distinct_id) AS person_key,
       toUInt32(row_number() OVER (PARTITION BY tenant_id ORDER BY first, distinct_id)) AS person_id
FROM (SELECT tenant_id, distinct_id, min(timestamp) AS first FROM {db}.events GROUP BY tenant_id, distinct_id);

-- The writer puts each row's person id on the row (every insert path goes through
-- ingest/writer.py insert_event_rows); rows written by other means keep 0 and are not in the bitmaps
-- until `analytics-engine persons assign-ids` (or the data generator) gives them ids.
ALTER TABLE {db}.events ADD COLUMN IF NOT EXISTS person_id UInt32 DEFAULT 0;

-- Per tenant, event (and '' for any event) and UTC hour: the ids of the people active in it.
-- No TTL, like `events` since migration 1600: the tiering job drops a month's partition here when it
-- drops the month from `events` (lifecycle/tiering.py). 64-row granules: a row can hold a bitmap of thousands of ids, and a range read should deserialize
-- only the hours it asks for (docs/benchmarks.md, 98-107 -> 49-51 ms for a 12-week retention).
CREATE TABLE IF NOT EXISTS {db}.person_hours
(
    tenant_id LowCardinality(String),
    event LowCardinality(String),
    hour DateTime('UTC'),
    people AggregateFunction(groupBitmap, UInt32)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(hour)
ORDER BY (tenant_id, event, hour)
SETTINGS index_granularity = 64, non_replicated_deduplication_window = 1000;

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.person_hours_mv TO {db}.person_hours AS
SELECT tenant_id, name AS event, toStartOfHour(timestamp) AS hour, groupBitmapState(person_id) AS people
FROM {db}.events
ARRAY JOIN [event, ''] AS name
WHERE person_id != 0
GROUP BY tenant_id, event, hour;

-- Backfill from the events already stored, through the ids given above.
INSERT INTO {db}.person_hours
SELECT e.tenant_id, name AS event, toStartOfHour(e.timestamp) AS hour, groupBitmapState(i.person_id) AS people
FROM {db}.events AS e
INNER JOIN (SELECT tenant_id, person_key, min(person_id) AS person_id FROM {db}.person_ids GROUP BY tenant_id, person_key) AS i
    ON i.tenant_id = e.tenant_id AND i.person_key = e.person_key
ARRAY JOIN [e.event, ''] AS name
GROUP BY e.tenant_id, event, hour;
