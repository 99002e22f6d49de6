"""Every table fed from `events` by a materialized view can take a replayed batch exactly once and
is covered by `ingest verify` (docs/ingest.md, "Exactly once across crashes")."""

from __future__ import annotations

from analytics_engine.ingest.consistency import DERIVED_CHECKS, check_derived, derived_tables


def test_every_view_target_deduplicates_replayed_blocks_and_has_a_check(runtime):
    targets = set(derived_tables(runtime.warehouse).values())
    assert {"event_ids", "metrics_daily", "metrics_monthly", "persons", "person_properties"} <= targets
    checked = {check.table for check in DERIVED_CHECKS}
    assert targets - checked == set(), "register a DerivedCheck in ingest/consistency.py for each derived table"
    for table in targets | {"events"}:
        create = runtime.warehouse.query(
            "SELECT create_table_query FROM system.tables WHERE database = {db:String} AND name = {t:String}",
            {"db": runtime.warehouse.database, "t": table},
        ).scalar()
        assert "non_replicated_deduplication_window = 1000" in create, table


def test_the_ingest_bench_knows_every_view(runtime):
    """`bench ingest --drop-view` names views before a warehouse exists: its list must not drift."""
    from analytics_engine.bench.ingest import EVENT_VIEWS

    assert set(EVENT_VIEWS) == set(derived_tables(runtime.warehouse))


def test_check_derived_reports_a_table_behind_events(runtime):
    runtime.writer.write([])  # nothing: still consistent
    assert check_derived(runtime.warehouse) == []
    runtime.warehouse.command(
        f"INSERT INTO {runtime.warehouse.table('persons')} "
        "(tenant_id, distinct_id, first_seen, last_seen, event_count) VALUES ('tn_skewed', 'u', now64(3), now64(3), 3)"
    )
    found = check_derived(runtime.warehouse)
    assert [(m.tenant_id, m.table, m.figure, m.derived, m.raw) for m in found] == [
        ("tn_skewed", "persons", "events", 3, 0),
        ("tn_skewed", "persons", "persons", 1, 0),
    ]


def test_every_derived_table_is_recomputed_for_a_replayed_batch(runtime):
    """A crash replay recomputes the batch's rows of every derived table from `events`
    (ingest/recovery.py via lifecycle/derived.py): a new derived table must be mended there too."""
    import uuid

    from analytics_engine.ingest.recovery import rebuild_derived_for_batch
    from analytics_engine.ingest.validation import Limits, validate_events
    from analytics_engine.materialized.warehouse import ColumnDDL
    from tests.support.factories import events

    # The property rollup holds rows of materialized string columns only: one, so that it has the batch's.
    ColumnDDL(runtime.warehouse).add("plan", "string")
    runtime.materialized.rollup.sync_view()
    for n, table in enumerate(sorted(set(derived_tables(runtime.warehouse).values()))):
        tenant_id = f"tn_mend_{n}"
        batch = [{**event, "event_id": str(uuid.uuid4())} for event in events("mended", 25, users=5, plan="pro")]
        lines = [item.line for item in validate_events(batch, tenant_id, Limits()).accepted]
        runtime.writer.write(validate_events(batch, tenant_id, Limits()).accepted)
        runtime.warehouse.command(
            f"ALTER TABLE {runtime.warehouse.table(table)} DELETE WHERE tenant_id = {{t:String}} "
            "SETTINGS mutations_sync = 2",
            {"t": tenant_id},
        )
        assert [m for m in check_derived(runtime.warehouse) if m.tenant_id == tenant_id], table
        rebuild_derived_for_batch(runtime.warehouse, lines)
        assert [m for m in check_derived(runtime.warehouse) if m.tenant_id == tenant_id] == [], table


def test_tables_of_sketch_and_bitmap_states_merge_in_small_blocks(runtime):
    """A row of a `uniqCombined` or `groupBitmap` state can be ~12 KB: merged 8,192 rows at a time
    (the default) it held ~100 MB per part in the soak's merges (migration 1830). A new table of such
    states sets `merge_max_block_size` too."""
    rows = runtime.warehouse.query(
        "SELECT name, create_table_query FROM system.tables WHERE database = {db:String} AND engine LIKE '%MergeTree'",
        {"db": runtime.warehouse.database},
    ).rows
    heavy = {name: create for name, create in rows if "uniqCombined" in create or "groupBitmap" in create}
    assert {"metrics_daily", "metrics_by_property", "person_hours"} <= set(heavy)
    for name, create in heavy.items():
        assert "merge_max_block_size = 256" in create, name
