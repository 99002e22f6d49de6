"""Events inserted while an erasure recomputes the derived rows (other people's events in the same
(event, day) buckets and of the same property paths) are counted exactly once in `events` and in
every derived table: the erasure holds the process's inserts while it deletes and refills
(ingest/writer.py `exclusive`)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

import analytics_engine.privacy.eraser as eraser_module
from analytics_engine.ingest.consistency import check_derived
from analytics_engine.privacy.eraser import Eraser
from analytics_engine.privacy.schemas import ErasureCreate
from tests.support.racing import write_events, write_while_running

START = datetime.now(UTC) - timedelta(days=2)


def _write(runtime, tenant_id: str, raw: list[dict[str, Any]]) -> None:  # type: ignore[no-untyped-def]
    write_events(runtime, tenant_id, raw)


def _rows(runtime, tenant_id: str, sql: str) -> list[tuple[Any, ...]]:  # type: ignore[no-untyped-def]
    return [tuple(r) for r in runtime.warehouse.for_tenant(tenant_id).query(sql).rows]


def test_inserts_racing_an_erasure_are_counted_once(runtime, new_tenant) -> None:  # type: ignore[no-untyped-def]
    tenant = new_tenant()
    _write(
        runtime,
        tenant.id,
        [
            {
                "event": ("view", "buy")[i % 2],
                "distinct_id": ("gone", "a", "b")[i % 3],
                "timestamp": (START + timedelta(minutes=20 * i)).isoformat(),
                "properties": {"plan": ("x", "y")[i % 2], "n": i},
            }
            for i in range(120)
        ],
    )

    def erase() -> None:
        accepted = runtime.privacy.request(tenant.id, ErasureCreate(distinct_id="gone"), wait=True)
        assert runtime.privacy.get(tenant.id, accepted.id).status == "completed"

    # Other people's events in the erased person's buckets and paths, until the erasure ends.
    sent = write_while_running(
        runtime,
        tenant.id,
        erase,
        lambda n: {
            "event": ("view", "buy")[n % 2],
            "distinct_id": ("a", "b", "c")[n % 3],
            "timestamp": (START + timedelta(minutes=20 * (n % 120) + 1)).isoformat(),
            "properties": {"plan": "z", "racing": n},
        },
    )
    t = runtime.warehouse.table
    tenant_sql = "tenant_id = {tenant_id:String}"
    assert _rows(
        runtime, tenant.id, f"SELECT count() FROM {t('events')} WHERE {tenant_sql} AND distinct_id = 'gone'"
    ) == [(0,)]
    racing = (
        f"SELECT count(), uniqExact(event_id) FROM {t('events')} WHERE {tenant_sql} "
        "AND JSONHas(toJSONString(properties), 'racing')"
    )
    assert _rows(runtime, tenant.id, racing) == [(sent, sent)]
    # Every derived table agrees with events, bucket by bucket and key by key.
    assert [m for m in check_derived(runtime.warehouse) if m.tenant_id == tenant.id] == []
    assert _rows(
        runtime,
        tenant.id,
        f"SELECT event, toDate(hour) AS day, sum(events) FROM {t('metrics_daily')} WHERE {tenant_sql} "
        "GROUP BY event, day ORDER BY event, day",
    ) == _rows(
        runtime,
        tenant.id,
        f"SELECT event, toDate(timestamp) AS day, count() FROM {t('events')} WHERE {tenant_sql} "
        "GROUP BY event, day ORDER BY event, day",
    )
    assert _rows(
        runtime,
        tenant.id,
        f"SELECT event, key, type, sum(events) FROM {t('taxonomy_properties')} WHERE {tenant_sql} "
        "GROUP BY event, key, type ORDER BY event, key, type",
    ) == _rows(
        runtime,
        tenant.id,
        f"SELECT event, kv.1 AS key, kv.2 AS type, count() FROM {t('events')} "
        f"ARRAY JOIN JSONAllPathsWithTypes(properties) AS kv WHERE {tenant_sql} "
        "GROUP BY event, key, type ORDER BY event, key, type",
    )


def test_the_people_step_run_again_after_a_kill_counts_the_events_left_once(  # type: ignore[no-untyped-def]
    runtime, new_tenant, monkeypatch
) -> None:
    tenant = new_tenant()

    def batch(person: str, count: int, offset: int) -> list[dict[str, Any]]:
        return [
            {"event": "view", "distinct_id": person, "timestamp": (START + timedelta(hours=offset + i)).isoformat()}
            for i in range(count)
        ]

    _write(runtime, tenant.id, batch("gone", 6, 0) + batch("kept", 4, 0))
    runtime.runner.paused = True  # the request's job waits: this test runs the erasure itself
    try:
        accepted = runtime.privacy.request(tenant.id, ErasureCreate(distinct_id="gone"))
        time.sleep(0.05)
        # Received after the request: these stay, and the erased person's rows are refilled from them.
        _write(runtime, tenant.id, batch("gone", 3, 10))
        real = eraser_module.rebuild_people

        def killed_after_the_refill(*args: Any, **kwargs: Any) -> None:
            real(*args, **kwargs)
            raise RuntimeError("killed before the step was recorded as done")

        monkeypatch.setattr(eraser_module, "rebuild_people", killed_after_the_refill)
        with pytest.raises(RuntimeError):
            Eraser(runtime, accepted.id).run()
        monkeypatch.setattr(eraser_module, "rebuild_people", real)
        assert Eraser(runtime, accepted.id).run()["status"] == "completed"
    finally:
        runtime.runner.paused = False
    counts = _rows(
        runtime,
        tenant.id,
        f"SELECT distinct_id, sum(event_count) FROM {runtime.warehouse.table('persons')} "
        "WHERE tenant_id = {tenant_id:String} GROUP BY distinct_id ORDER BY distinct_id",
    )
    assert counts == [("gone", 3), ("kept", 4)]
    assert [m for m in check_derived(runtime.warehouse) if m.tenant_id == tenant.id] == []
