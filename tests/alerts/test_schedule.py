"""Evaluation on a schedule: slots spread by the rule id, the `alerts` scheduler entry, one job per
tenant through the job runner, one fetch per group of rules on the same query, a failing rule in
`error` with its reason while the others and the scheduler go on; SLA signal sources."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import update

from analytics_engine.alerts.evaluation import next_slot
from analytics_engine.alerts.models import AlertRule
from analytics_engine.alerts.service import SCHEDULE_NAME
from analytics_engine.metadata.models import Job, new_id, utcnow
from tests.alerts.support import evaluate_due_now
from tests.support.factories import TenantHandle, events


@pytest.fixture(scope="module")
def tenant(client, admin_headers) -> TenantHandle:  # type: ignore[no-untyped-def]
    from tests.support.factories import make_tenant

    handle = make_tenant(client, admin_headers, "alerts-schedule")
    # Yesterday as of the test, not of the module's import: a suite crossing UTC midnight between the
    # two would put the events in the day the rules do not read.
    yesterday = datetime.now(UTC).replace(hour=6, minute=0, second=0, microsecond=0) - timedelta(days=1)
    handle.ingest(events("signup", 4, start=yesterday) + events("purchase", 2, start=yesterday))
    return handle


def trend(event: str) -> dict[str, Any]:
    return {
        "type": "insight",
        "query": {"kind": "trends", "series": [{"event": event}], "interval": "day", "timezone": "UTC"},
    }


def create(tenant: TenantHandle, source: dict[str, Any], condition: dict[str, Any]) -> str:
    response = tenant.post("/v1/alerts", json={"name": "r", "source": source, "condition": condition})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def test_slots_are_spread_and_stable() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    slots = [next_slot(new_id("alr"), 3600, now) for _ in range(1000)]
    assert all(now < slot <= now + timedelta(hours=1) for slot in slots)
    assert len({slot.timestamp() for slot in slots}) > 700  # 1,000 rules over 3,600 seconds
    rule_id = "alr_fixed"
    first = next_slot(rule_id, 600, now)
    assert next_slot(rule_id, 600, first) == first + timedelta(seconds=600)
    assert next_slot(rule_id, 600, now) == first


def test_tick_enqueues_a_job_per_tenant_and_groups_rules(tenant, runtime, client) -> None:  # type: ignore[no-untyped-def]
    assert SCHEDULE_NAME in runtime.scheduler.names()
    below = {"type": "threshold", "operator": "below", "value": 10}
    same_query = [create(tenant, trend("signup"), below) for _ in range(5)]
    other = create(tenant, trend("purchase"), {"type": "threshold", "operator": "above", "value": 10})
    broken = create(tenant, trend("signup"), below)
    with runtime.metadata.session() as session:
        # a rule whose stored query went bad (as if its definition no longer validated)
        session.execute(
            update(AlertRule)
            .where(AlertRule.id == broken)
            .values(source={"type": "insight", "query": {"kind": "gone"}})
        )
    job = evaluate_due_now(runtime, tenant.id)
    assert (
        job.result["evaluated"] == 7 and job.result["groups"] == 2
    )  # 5 signup rules + purchase; the broken one fails to prepare
    states = {a["id"]: a for a in tenant.get("/v1/alerts").json()}
    assert all(states[i]["state"] == "firing" and states[i]["value"] == 4 for i in same_query)
    assert states[other]["state"] == "ok" and states[other]["value"] == 2
    assert states[broken]["state"] == "error" and "kind" in states[broken]["reason"]
    assert all(datetime.fromisoformat(a["next_evaluation_at"]) > utcnow() for a in states.values())
    assert runtime.alerts.tick() == []  # nothing due any more


def test_sla_signals(tenant, runtime) -> None:  # type: ignore[no-untyped-def]
    failed_at = utcnow() - timedelta(hours=1)
    with runtime.metadata.session() as session:
        for kind in ("export", "export", "report", "sync"):
            session.add(
                Job(kind=kind, tenant_id=tenant.id, state="failed", finished_at=failed_at, params={}, result={})
            )
    failures = create(
        tenant,
        {"type": "sla", "signal": "job_failures", "job_kinds": ["export", "report"]},
        {"type": "threshold", "operator": "above", "value": 2},
    )
    result = tenant.post(f"/v1/alerts/{failures}/evaluate").json()
    assert result["state"] == "firing" and result["value"] == 3
    # the current hour: the fixture's 6 events and 2 more accepted, 1 rejected
    tenant.ingest(
        [{"event": "ok", "distinct_id": "a"}, {"event": "ok", "distinct_id": "b"}, {"event": "", "distinct_id": "c"}]
    )
    rate = {"type": "sla", "signal": "rejected_rate", "include_current": True}
    rejected = create(tenant, rate, {"type": "threshold", "operator": "above", "value": 0.1})
    result = tenant.post(f"/v1/alerts/{rejected}/evaluate").json()
    assert result["state"] == "firing" and result["value"] == pytest.approx(1 / 9)
    lag = create(
        tenant,
        {"type": "sla", "signal": "ingest_lag_seconds", "include_current": True},
        {"type": "threshold", "operator": "above", "value": 3600},
    )
    result = tenant.post(f"/v1/alerts/{lag}/evaluate").json()
    # the fixture's events happened yesterday and were received now: a day late
    assert result["state"] == "firing" and 6 * 3600 < result["value"] < 50 * 3600
    p95 = create(
        tenant,
        {"type": "sla", "signal": "query_p95_ms", "include_current": True},
        {"type": "threshold", "operator": "above", "value": 0},
    )
    result = tenant.post(f"/v1/alerts/{p95}/evaluate").json()
    assert result["state"] == "firing" and result["value"] > 0
