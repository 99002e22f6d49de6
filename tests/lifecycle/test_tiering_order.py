"""The tiering job's order of work (2026-12-08): the taxonomy search of step 3 runs beside the files
of step 1 and is used only when step 3 finishes exactly the months it searched for (a month left
`dropped` by an earlier run cut short makes step 3 search again, for all of them); the search reads
the tenant's last event only when the hot tier's first week misses a path; the drops are one ALTER
per table naming every month. Each case compares the derived tables with a fresh computation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from analytics_engine.ingest.consistency import check_derived
from analytics_engine.ingest.validation import Limits
from analytics_engine.lifecycle.models import TieredMonth
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


def _month(moment: datetime) -> int:
    return moment.year * 100 + moment.month


def test_a_month_left_dropped_makes_step_3_search_again(runtime, new_tenant, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    boundary = hot_window_start(datetime.now(UTC), runtime.settings.hot_retention_months)
    tenant = new_tenant()
    older, newer = boundary - timedelta(days=70), boundary - timedelta(days=20)
    assert _month(older) < _month(newer) < _month(boundary)
    raw = [
        # "gone" only in the older month: its taxonomy row must go, which only a search (and a
        # subtraction) covering the older month's notes does.
        {"event": "view", "distinct_id": "a", "timestamp": older.isoformat(), "properties": {"gone": 1, "plan": "x"}},
        {"event": "view", "distinct_id": "b", "timestamp": newer.isoformat(), "properties": {"plan": "y"}},
        {
            "event": "view",
            "distinct_id": "a",
            "timestamp": (boundary + timedelta(days=2)).isoformat(),
            "properties": {"plan": "z"},
        },
    ]
    write_events(runtime, tenant.id, raw, OLD)
    # A run cut short after its drop: the older month (and whatever else is due that is older than
    # the newer one) left `dropped`, its notes kept.
    first = Tiering(runtime)
    cut = [m for m in first.due_months() if m < _month(newer)]
    assert _month(older) in cut
    for month in cut:
        first._state(month)
    first.export_months(cut)
    first.drop_hot_months(cut)
    searches: list[list[str]] = []
    original = Tiering._search_taxonomy

    def counted(self, stagings, taxonomy_stagings, boundary):  # type: ignore[no-untyped-def]
        searches.append(sorted(taxonomy_stagings))
        return original(self, stagings, taxonomy_stagings, boundary)

    monkeypatch.setattr(Tiering, "_search_taxonomy", counted)
    outcome = Tiering(runtime).run()
    assert _month(older) in outcome.months and _month(newer) in outcome.months
    # Once beside the files (the newer month only), once more in step 3 for both months.
    assert len(searches) == 2 and len(searches[1]) > len(searches[0])
    stored, fresh = _taxonomy(runtime, tenant.id)
    assert stored == fresh
    assert not [r for r in stored if r[1] == "gone"]
    assert [m for m in check_derived(runtime.warehouse) if m.tenant_id == tenant.id] == []
    with runtime.metadata.session() as session:
        assert session.get(TieredMonth, _month(older)).state == "done"  # type: ignore[union-attr]


def test_the_search_beside_the_files_is_used_once(runtime, new_tenant, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    boundary = hot_window_start(datetime.now(UTC), runtime.settings.hot_retention_months)
    tenant = new_tenant()
    old = boundary - timedelta(days=130)  # a month of its own (the other test uses 20 and 70 days)
    raw = [
        {"event": "buy", "distinct_id": f"p{i}", "timestamp": (old + timedelta(hours=i)).isoformat(), "properties": p}
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
    calls: list[int] = []
    original = Tiering._search_taxonomy

    def counted(self, stagings, taxonomy_stagings, boundary):  # type: ignore[no-untyped-def]
        calls.append(len(taxonomy_stagings))
        return original(self, stagings, taxonomy_stagings, boundary)

    monkeypatch.setattr(Tiering, "_search_taxonomy", counted)
    outcome = Tiering(runtime).run()
    assert outcome.rows_moved >= 3
    assert len(calls) == 1
    stored, fresh = _taxonomy(runtime, tenant.id)
    assert stored == fresh
    assert [m for m in check_derived(runtime.warehouse) if m.tenant_id == tenant.id] == []
    # The drops: one ALTER per table, the months dropped from every table partitioned by month.
    events = runtime.warehouse.table("events")
    left = runtime.warehouse.for_tenant(tenant.id).query(
        f"SELECT count() FROM {events} WHERE tenant_id = {{tenant_id:String}} "
        "AND timestamp < {b:DateTime64(3, 'UTC')}",
        {"b": boundary},
    )
    assert left.scalar() == 0


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
