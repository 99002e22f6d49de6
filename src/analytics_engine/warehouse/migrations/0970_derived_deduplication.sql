-- Exactly once across crashes (docs/ingest.md): every table a materialized view feeds from `events`
-- keeps the ids of its last 1,000 inserted blocks, like `events` itself. A batch replayed from the
-- ingest journal after a crash carries its original deduplication token, so each of these tables
-- skips the part it already holds and writes the one it lacks. A new derived table sets this in its
-- CREATE (tests/warehouse/test_derived_tables.py checks that every view target does).
ALTER TABLE {db}.event_ids MODIFY SETTING non_replicated_deduplication_window = 1000;

ALTER TABLE {db}.metrics_daily MODIFY SETTING non_replicated_deduplication_window = 1000;

ALTER TABLE {db}.metrics_monthly MODIFY SETTING non_replicated_deduplication_window = 1000;

ALTER TABLE {db}.persons MODIFY SETTING non_replicated_deduplication_window = 1000;

ALTER TABLE {db}.person_properties MODIFY SETTING non_replicated_deduplication_window = 1000;
