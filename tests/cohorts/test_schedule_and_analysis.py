"""The schedule inside the served app evaluates active cohorts by itself (and emits the event), and
each evaluation stores the members' retention by signup week in `cohort_analysis`."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from analytics_engine.cohorts.schemas import CohortCreate, CohortUpdate, Group
from analytics_engine.config import Settings
from analytics_engine.ingest.validation import EVENT_COLUMNS
from analytics_engine.tenants.schemas import TenantCreate
from tests.conftest import build_settings


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory, warehouse_path: Path) -> Settings:
    return build_settings(tmp_path_factory.mktemp("data"), warehouse_path, cohort_evaluation_interval_seconds=1)


def test_schedule_evaluates_active_cohorts_inside_serve(client, new_tenant, runtime) -> None:  # type: ignore[no-untyped-def]
    tenant = new_tenant()
    tenant.ingest([{"event": "buy", "distinct_id": f"u{i}"} for i in range(3)])
    definition = {"type": "group", "criteria": [{"type": "event", "event": "buy"}]}
    active = tenant.post("/v1/cohorts", json={"name": "buyers", "definition": definition}).json()
    paused = tenant.post("/v1/cohorts", json={"name": "paused", "definition": definition, "is_active": False}).json()
    deadline = time.monotonic() + 30
    while True:
        versions = tenant.get(f"/v1/cohorts/{active['id']}/versions").json()
        # The event is published just after the version completes: wait for both.
        events = [
            e for e in runtime.bus.published if e.type == "cohort.evaluated" and e.data["cohort_id"] == active["id"]
        ]
        if events and any(v["trigger"] == "schedule" and v["state"] == "complete" for v in versions):
            break
        assert time.monotonic() < deadline, (versions, events)
        time.sleep(0.2)
    assert tenant.get(f"/v1/cohorts/{active['id']}").json()["size"] == 3
    assert tenant.get(f"/v1/cohorts/{paused['id']}/versions").json() == []
    assert events and events[0].data["trigger"] == "schedule" and events[0].data["joined"] == 3
    jobs = tenant.get("/v1/jobs", params={"kind": "cohort.evaluate"}).json()
    assert jobs and all(j["source"] == "schedule" for j in jobs)


def test_retention_by_signup_week_is_stored(runtime) -> None:  # type: ignore[no-untyped-def]
    tenant = runtime.tenants.create(TenantCreate(name=f"ana-{uuid.uuid4().hex[:8]}"))
    monday = datetime(2026, 1, 5, 9, tzinfo=UTC)  # a Monday
    # week 0: a, b, c first seen; a comes back in week 1 and 2, b in week 2; d first seen in week 1
    plan = [("a", 0), ("b", 1), ("c", 2), ("a", 8), ("a", 15), ("b", 16), ("d", 9), ("d", 10)]
    lines = [
        orjson.dumps(
            {
                "tenant_id": tenant.id,
                "event": "visit",
                "distinct_id": user,
                "timestamp": (monday + timedelta(days=day)).strftime("%Y-%m-%d %H:%M:%S"),
                "event_id": str(uuid.uuid4()),
                "received_at": "2026-01-05 00:00:00",
                "properties": {},
            }
        )
        for user, day in plan
    ]
    runtime.warehouse.insert_json_rows(runtime.warehouse.table("events"), list(EVENT_COLUMNS), b"\n".join(lines))
    service = runtime.cohorts
    definition = {"type": "group", "criteria": [{"type": "event", "event": "visit"}]}
    cohort = service.create(tenant.id, CohortCreate(name="visitors", definition=Group(**definition)))
    service.evaluate(tenant.id, cohort.id)
    rows = [(r.period_start, r.period_index, r.users, r.share) for r in service.analysis(tenant.id, cohort.id).rows]
    assert rows == [
        ("2026-01-05", 0, 3, 1.0),
        ("2026-01-05", 1, 1, round(1 / 3, 4)),
        ("2026-01-05", 2, 2, round(2 / 3, 4)),
        ("2026-01-12", 0, 1, 1.0),
    ]


def test_analysis_reader_shows_the_latest_complete_analysis(runtime) -> None:  # type: ignore[no-untyped-def]
    """Between a publish and the end of its analysis, readers get the previous version's analysis."""
    tenant = runtime.tenants.create(TenantCreate(name=f"ana2-{uuid.uuid4().hex[:8]}"))
    service = runtime.cohorts
    cohort = service.create(tenant.id, CohortCreate(name="s", kind="static", distinct_ids=["a"]))
    service.update(tenant.id, cohort.id, CohortUpdate(distinct_ids=["a", "b"]))
    assert service.analysis(tenant.id, cohort.id).version == 2
    # the marker of version 2 not written yet (as during its analysis): version 1 is shown
    runtime.warehouse.command(
        f"DELETE FROM {runtime.warehouse.table('cohort_analysis')} WHERE tenant_id = {{t:String}} "
        "AND cohort_id = {c:String} AND version = 2",
        {"t": tenant.id, "c": cohort.id},
    )
    answer = service.analysis(tenant.id, cohort.id)
    assert (answer.version, answer.membership_version) == (1, 2)
