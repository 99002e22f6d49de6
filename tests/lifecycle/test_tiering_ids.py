"""The duplicate-check ids (`event_ids`, kept 7 days by arrival) of the months the tiering job moves:
a month whose events arrived long ago (the steady state) has none left there, so the job neither
notes them nor deletes from `event_ids`; a month backfilled recently (old events that arrived now)
still has them, and they go."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from analytics_engine.config import Settings
from analytics_engine.ingest.consistency import check_derived
from analytics_engine.ingest.validation import Limits, validate_events
from analytics_engine.lifecycle.tiering import Tiering
from analytics_engine.lifecycle.window import hot_window_start
from tests.conftest import build_settings

OLD = Limits(max_past_ms=10 * 365 * 86_400_000)
DELETE_PHASE = "derived_cold_rows.event_ids"


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory, warehouse_path: Path) -> Settings:
    # No scheduled tiering inside the app: a run of its own racing the test's would drop the
    # staging tables under it (seen: "Unknown table ... lifecycle_taxonomy_...").
    return build_settings(
        tmp_path_factory.mktemp("data"), warehouse_path, hot_retention_months=1, lifecycle_interval_seconds=0
    )


def _write(runtime, tenant_id: str, raw: list[dict[str, Any]], arrived: datetime) -> None:  # type: ignore[no-untyped-def]
    outcome = validate_events(raw, tenant_id, OLD, now_ms=int(arrived.timestamp() * 1000))
    assert not outcome.rejected
    runtime.writer.write(outcome.accepted)


def _ids(runtime, table: str, tenant_id: str) -> set[str]:  # type: ignore[no-untyped-def]
    scope = runtime.warehouse.for_tenant(tenant_id)
    return {
        str(r[0])
        for r in scope.query(
            f"SELECT toString(event_id) FROM {runtime.warehouse.table(table)} WHERE tenant_id = {{tenant_id:String}}"
        ).rows
    }


def _events(month_start: datetime, person: str) -> list[dict[str, Any]]:
    return [
        {"event": "view", "distinct_id": person, "timestamp": (month_start + timedelta(days=d)).isoformat()}
        for d in range(1, 4)
    ]


def test_old_arrivals_skip_the_event_ids_delete_and_a_backfill_keeps_it(runtime, new_tenant) -> None:  # type: ignore[no-untyped-def]
    now = datetime.now(UTC)
    boundary = hot_window_start(now, runtime.settings.hot_retention_months)
    old_month = (boundary - timedelta(days=70)).replace(day=1, hour=0, minute=0, second=0, microsecond=0)

    # Steady state: the month's events arrived at their time (two months ago), their ids expired.
    steady = new_tenant()
    _write(runtime, steady.id, _events(old_month, "s1"), arrived=old_month + timedelta(days=4))
    # What the table's TTL does at its next merge (a mutation: OPTIMIZE may do nothing while the
    # table's other merges run).
    platform = runtime.warehouse.platform("test: apply the TTL of event_ids")
    platform.command(f"ALTER TABLE {runtime.warehouse.table('event_ids')} MATERIALIZE TTL SETTINGS mutations_sync = 2")
    assert _ids(runtime, "event_ids", steady.id) == set()
    tiering = Tiering(runtime)
    outcome = tiering.run()
    month = int(old_month.strftime("%Y%m"))
    assert month in outcome.months and outcome.rows_moved >= 3
    assert tiering.recent_ids[month] is False
    assert DELETE_PHASE not in outcome.phases
    assert _ids(runtime, "events", steady.id) == set()
    assert [m for m in check_derived(runtime.warehouse) if m.tenant_id == steady.id] == []

    # A backfill: events of an old month that arrived now; their ids are in event_ids and must go.
    backfill = new_tenant()
    backfill_month = old_month - timedelta(days=20)
    _write(runtime, backfill.id, _events(backfill_month.replace(day=1), "b1"), arrived=now)
    moved = _ids(runtime, "events", backfill.id)
    assert len(moved) == 3 and moved <= _ids(runtime, "event_ids", backfill.id)
    tiering = Tiering(runtime)
    outcome = tiering.run()
    assert tiering.recent_ids[int(backfill_month.strftime("%Y%m"))] is True
    assert DELETE_PHASE in outcome.phases
    assert _ids(runtime, "events", backfill.id) == set()
    assert _ids(runtime, "event_ids", backfill.id) == set()
    assert [m for m in check_derived(runtime.warehouse) if m.tenant_id == backfill.id] == []
