"""The tiering job's statements changed on 2026-12-08: the drops are one ALTER per table naming every
month (the tables side by side); the taxonomy notes and the first-sighting search group rows by
their set of paths; the search reads the tenant's last event only when the hot tier's first week
misses a path. Compared with a fresh computation from the hot events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from analytics_engine.ingest.consistency import check_derived
from analytics_engine.ingest.validation import Limits
from analytics_engine.lifecycle.tiered_taxonomy import first_hot_sightings
from analytics_engine.lifecycle.tiering import Tiering
from analytics_engine.lifecycle.window import hot_window_start
from analytics_engine.warehouse import client as warehouse_client
from tests.support.racing import write_events

OLD = Limits(max_past_ms=10 * 365 * 86_400_000)


def _taxonomy(runtime, tenant_id: str) -> tuple[list[Any], list[Any]]:  # type: ignore[no-untyped-def]
    scope = runtime.warehouse.for_tenant(tenant_id)
    t = runtime.warehouse.table
    stored = scope.query(
        f"SELECT event, key, type, sum(events), min(first_seen), max(last_seen) FROM {t('taxonomy_properties')} "
        "WHERE tenant_id = {tenant_id:String} GROUP BY event, key, type ORDER BY event, key, type"
    ).rows
    fresh = scope.query(
        f"SELECT event, kv.1 AS key, kv.2 AS type, count(), min(timestamp), max(timestamp) FROM {t('events')} "
        "ARRAY JOIN JSONAllPathsWithTypes(properties) AS kv WHERE tenant_id = {tenant_id:String} "
        "GROUP BY event, key, type ORDER BY event, key, type"
    ).rows
    return [tuple(r) for r in stored], [tuple(r) for r in fresh]


def test_the_drops_and_the_taxonomy_notes(runtime, new_tenant) -> None:  # type: ignore[no-untyped-def]
    boundary = hot_window_start(datetime.now(UTC), runtime.settings.hot_retention_months)
    tenant = new_tenant()
    old = boundary - timedelta(days=70)
    raw = [
        {
            "event": "buy",
            "distinct_id": f"p{i}",
            "timestamp": (old + timedelta(days=i * 30)).isoformat(),
            "properties": p,
        }
        for i, p in enumerate([{"plan": "a"}, {"plan": "b", "only_old": True}, {"n": 1}])
    ] + [
        {
            "event": "buy",
            "distinct_id": "p0",
            "timestamp": (boundary + timedelta(days=1)).isoformat(),
            "properties": {"plan": "c"},
        }
    ]
    write_events(runtime, tenant.id, raw, OLD)
    outcome = Tiering(runtime).run()
    assert outcome.rows_moved >= 3
    assert len(outcome.months) >= 2  # several months in each ALTER
    stored, fresh = _taxonomy(runtime, tenant.id)
    assert stored == fresh
    assert [m for m in check_derived(runtime.warehouse) if m.tenant_id == tenant.id] == []
    # The drops: one ALTER per table, every moved month gone from each table partitioned by month.
    tables = ["events", "metrics_daily", "metrics_by_property", "metrics_by_property_days", "person_hours"]
    left = runtime.warehouse.platform("test: partitions left").query(
        "SELECT table, partition FROM system.parts WHERE database = {db:String} AND active "
        "AND has({tables:Array(String)}, table) AND toUInt32OrZero(partition) IN {months:Array(UInt32)}",
        {"db": runtime.warehouse.database, "tables": tables, "months": outcome.months},
    )
    assert left.rows == []


def test_the_last_event_is_read_only_when_the_first_week_misses_a_path(runtime, new_tenant, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    boundary = hot_window_start(datetime.now(UTC), runtime.settings.hot_retention_months)
    tenant = new_tenant()
    raw = [
        {
            "event": "e",
            "distinct_id": "p",
            "timestamp": (boundary + timedelta(days=1)).isoformat(),
            "properties": {"w1": 1},
        },
        {
            "event": "e",
            "distinct_id": "p",
            "timestamp": (boundary + timedelta(days=3)).isoformat(),
            "properties": {"w1": 2},
        },
        {
            "event": "e",
            "distinct_id": "q",
            "timestamp": (boundary + timedelta(days=12)).isoformat(),
            "properties": {"later": "x"},
        },
    ]
    write_events(runtime, tenant.id, raw, OLD)
    seen: list[str] = []
    original = warehouse_client.Warehouse.query

    def recorded(self, sql, *args, **kwargs):  # type: ignore[no-untyped-def]
        seen.append(sql)
        return original(self, sql, *args, **kwargs)

    monkeypatch.setattr(warehouse_client.Warehouse, "query", recorded)
    scope = runtime.warehouse.for_tenant(tenant.id)
    first_week = ("e", "w1", "Int64")
    found = first_hot_sightings(scope, [first_week], boundary)
    assert found == {first_week: (boundary + timedelta(days=1)).strftime("%Y-%m-%d %H:%M:%S.000")}
    assert not [s for s in seen if "max(timestamp)" in s]
    later, absent = ("e", "later", "String"), ("e", "absent", "String")
    found = first_hot_sightings(scope, [first_week, later, absent], boundary)
    assert found == {
        first_week: (boundary + timedelta(days=1)).strftime("%Y-%m-%d %H:%M:%S.000"),
        later: (boundary + timedelta(days=12)).strftime("%Y-%m-%d %H:%M:%S.000"),
    }
    assert [s for s in seen if "max(timestamp)" in s]
