"""After the tiering job the derived tables equal a fresh computation from the hot events, row by
row: `persons`, `person_properties` (a key seen only in the moved months goes; a key seen on both
sides keeps its latest value), `taxonomy_properties` (counts, first and last seen, a path seen only
in the moved months gone). And events inserted while the job recomputes the derived rows are
counted exactly once in `events` and in every derived table (the insert gate)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from analytics_engine.ingest.consistency import check_derived
from analytics_engine.ingest.validation import Limits
from analytics_engine.lifecycle.tiering import Tiering
from analytics_engine.lifecycle.window import hot_window_start
from tests.support.racing import write_events, write_while_running

OLD = Limits(max_past_ms=10 * 365 * 86_400_000)


def _write(runtime, tenant_id: str, raw: list[dict[str, Any]]) -> None:  # type: ignore[no-untyped-def]
    write_events(runtime, tenant_id, raw, OLD)


def _fresh_and_stored(runtime, tenant_id: str) -> dict[str, tuple[list[Any], list[Any]]]:  # type: ignore[no-untyped-def]
    scope = runtime.warehouse.for_tenant(tenant_id)
    t = runtime.warehouse.table
    tenant = "tenant_id = {tenant_id:String}"
    pairs = {
        "persons": (
            f"SELECT distinct_id, min(first_seen), max(last_seen), sum(event_count) FROM {t('persons')} "
            f"WHERE {tenant} GROUP BY distinct_id ORDER BY distinct_id",
            f"SELECT distinct_id, min(timestamp), max(timestamp), count() FROM {t('events')} "
            f"WHERE {tenant} GROUP BY distinct_id ORDER BY distinct_id",
        ),
        "person_properties": (
            f"SELECT distinct_id, key, argMaxMerge(value) FROM {t('person_properties')} WHERE {tenant} "
            "GROUP BY distinct_id, key ORDER BY distinct_id, key",
            f"SELECT distinct_id, kv.1 AS key, argMax(kv.2, timestamp) FROM {t('events')} "
            "ARRAY JOIN JSONExtractKeysAndValuesRaw(toJSONString(properties)) AS kv "
            f"WHERE {tenant} GROUP BY distinct_id, key ORDER BY distinct_id, key",
        ),
        "taxonomy_properties": (
            f"SELECT event, key, type, sum(events), min(first_seen), max(last_seen) FROM {t('taxonomy_properties')} "
            f"WHERE {tenant} GROUP BY event, key, type ORDER BY event, key, type",
            f"SELECT event, kv.1 AS key, kv.2 AS type, count(), min(timestamp), max(timestamp) FROM {t('events')} "
            f"ARRAY JOIN JSONAllPathsWithTypes(properties) AS kv WHERE {tenant} "
            "GROUP BY event, key, type ORDER BY event, key, type",
        ),
    }
    return {
        name: ([tuple(r) for r in scope.query(stored).rows], [tuple(r) for r in scope.query(fresh).rows])
        for name, (stored, fresh) in pairs.items()
    }


def test_derived_tables_equal_a_fresh_computation_after_tiering(runtime, new_tenant) -> None:  # type: ignore[no-untyped-def]
    now = datetime.now(UTC)
    boundary = hot_window_start(now, runtime.settings.hot_retention_months)
    tenant = new_tenant()
    old = boundary - timedelta(days=40)
    raw = [
        # p1: "legacy" only in the moved months (its row goes), "plan" on both sides (hot value kept).
        {"event": "view", "distinct_id": "p1", "timestamp": old.isoformat(), "properties": {"legacy": 1, "plan": "a"}},
        {
            "event": "view",
            "distinct_id": "p1",
            "timestamp": (boundary + timedelta(hours=3)).isoformat(),
            "properties": {"plan": "b"},
        },
        # p2: only cold, at the last millisecond before the hot tier (the argMax tie case).
        {
            "event": "buy",
            "distinct_id": "p2",
            "timestamp": (boundary - timedelta(milliseconds=1)).isoformat(),
            "properties": {"plan": "c", "only_cold": True},
        },
        # p3: hot exactly at the boundary, and a path first seen cold then hot ten days later.
        {"event": "buy", "distinct_id": "p3", "timestamp": boundary.isoformat(), "properties": {"plan": "d"}},
        {
            "event": "view",
            "distinct_id": "p3",
            "timestamp": (old + timedelta(days=1)).isoformat(),
            "properties": {"deep": {"x": 1}},
        },
        {
            "event": "view",
            "distinct_id": "p3",
            "timestamp": (boundary + timedelta(days=10)).isoformat(),
            "properties": {"deep": {"x": 2}},
        },
    ]
    _write(runtime, tenant.id, raw)
    outcome = Tiering(runtime).run()
    assert outcome.rows_moved >= 3
    assert "insert_gate_held" in outcome.phases
    tables = _fresh_and_stored(runtime, tenant.id)
    for name, (stored, fresh) in tables.items():
        assert stored == fresh, name
    keys = {(r[0], r[1]) for r in tables["person_properties"][0]}
    assert ("p1", "legacy") not in keys and ("p2", "plan") not in keys and ("p1", "plan") in keys
    assert [m for m in check_derived(runtime.warehouse) if m.tenant_id == tenant.id] == []


def test_inserts_racing_the_tiering_are_counted_once(runtime, new_tenant) -> None:  # type: ignore[no-untyped-def]
    now = datetime.now(UTC)
    boundary = hot_window_start(now, runtime.settings.hot_retention_months)
    tenant = new_tenant()
    old = boundary - timedelta(days=20)
    _write(
        runtime,
        tenant.id,
        [
            {
                "event": ("view", "buy")[i % 2],
                "distinct_id": f"u{i % 7}",
                "timestamp": (old + timedelta(hours=6 * i)).isoformat(),
                "properties": {"plan": ("a", "b")[i % 2], "n": i},
            }
            for i in range(200)
        ],
    )
    # Batches of hot events of the same people and paths, until the job ends (and a few after).
    sent = write_while_running(
        runtime,
        tenant.id,
        Tiering(runtime).run,
        lambda n: {
            "event": "view",
            "distinct_id": f"u{n % 7}",
            "timestamp": (boundary + timedelta(days=1, minutes=n)).isoformat(),
            "properties": {"plan": "c", "late": n},
        },
        limits=OLD,
    )
    assert sent >= 5
    for name, (stored, fresh) in _fresh_and_stored(runtime, tenant.id).items():
        assert stored == fresh, name
    assert [m for m in check_derived(runtime.warehouse) if m.tenant_id == tenant.id] == []
    scope = runtime.warehouse.for_tenant(tenant.id)
    late = scope.query(
        f"SELECT count(), uniqExact(event_id) FROM {runtime.warehouse.table('events')} "
        "WHERE tenant_id = {tenant_id:String} AND JSONHas(toJSONString(properties), 'late')"
    ).rows[0]
    assert tuple(late) == (sent, sent)
