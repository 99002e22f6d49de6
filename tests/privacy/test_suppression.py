"""Suppression on every ingest path: an id erased with `suppress` is refused, with its reason kept in
rejected events, whether its later events come over HTTP, NATS (the real server on :4222) or a
PostgreSQL sync (the real server on :5432); the other ids of the same batch still land."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from analytics_engine.bus import InProcessBus
from analytics_engine.ingest.validation import Limits, validate_events
from analytics_engine.privacy.schemas import ErasureCreate
from analytics_engine.sync.spec import SourceSpec
from analytics_engine.tenants.schemas import TenantCreate
from tests.streaming.support import consume, nats_names, publish  # noqa: F401  (fixture)
from tests.sync.conftest import DSN, pg  # noqa: F401  (fixture)

REASON = "distinct_id was erased with suppression"


def _tenant(runtime) -> str:  # type: ignore[no-untyped-def]
    return str(runtime.tenants.create(TenantCreate(name=f"suppress-{uuid.uuid4().hex[:8]}")).id)


def _erase_with_suppression(runtime, tenant_id: str, person: str) -> None:  # type: ignore[no-untyped-def]
    accepted = runtime.privacy.request(tenant_id, ErasureCreate(distinct_id=person, suppress=True), wait=True)
    assert runtime.privacy.get(tenant_id, accepted.id).status == "completed"


def _people(runtime, tenant_id: str) -> dict[str, int]:  # type: ignore[no-untyped-def]
    rows = runtime.warehouse.query(
        f"SELECT distinct_id, count() FROM {runtime.warehouse.table('events')} WHERE tenant_id = {{t:String}} "
        "GROUP BY distinct_id",
        {"t": tenant_id},
    ).rows
    return {str(r[0]): int(r[1]) for r in rows}


def _rejected(runtime, tenant_id: str, source: str) -> list[str]:  # type: ignore[no-untyped-def]
    rows = runtime.warehouse.query(
        f"SELECT reason FROM {runtime.warehouse.table('rejected_events')} WHERE tenant_id = {{t:String}} "
        "AND source = {s:String}",
        {"t": tenant_id, "s": source},
    ).rows
    return [str(r[0]) for r in rows]


def test_the_rule_lives_in_the_limits_every_path_validates_with(runtime) -> None:  # type: ignore[no-untyped-def]
    tenant_id = _tenant(runtime)
    _erase_with_suppression(runtime, tenant_id, "zoe")
    events: list[dict[str, Any]] = [{"event": "view", "distinct_id": "zoe"}, {"event": "view", "distinct_id": "yan"}]
    outcome = validate_events(events, tenant_id, runtime.limits)
    assert [e.position for e in outcome.rejected] == [0] and REASON in outcome.rejected[0].reason
    assert len(outcome.accepted) == 1
    # Other tenants and limits without a lookup (generators) are not affected.
    assert not validate_events(events, _tenant(runtime), runtime.limits).rejected
    assert not validate_events(events, tenant_id, Limits()).rejected


def test_nats_ingest_refuses_a_suppressed_id(runtime, nats_names) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    tenant_id = _tenant(runtime)
    _erase_with_suppression(runtime, tenant_id, "zoe")
    bodies = [
        {"tenant_id": tenant_id, "event": "view", "distinct_id": "zoe"},
        {"tenant_id": tenant_id, "event": "view", "distinct_id": "yan"},
        {
            "tenant_id": tenant_id,
            "events": [{"event": "a", "distinct_id": "zoe"}, {"event": "b", "distinct_id": "yan"}],
        },
    ]
    asyncio.run(publish(nats_names["stream"], nats_names["subject"], bodies))
    runtime.bus = InProcessBus()
    consume(runtime, nats_names)
    assert _people(runtime, tenant_id) == {"yan": 2}
    reasons = _rejected(runtime, tenant_id, "nats")
    assert len(reasons) == 2 and all(REASON in r for r in reasons)


@pytest.mark.postgres
def test_sync_ingest_refuses_a_suppressed_id(runtime, pg) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    tenant_id = _tenant(runtime)
    _erase_with_suppression(runtime, tenant_id, "zoe")
    pg.execute(
        "CREATE TABLE {s}.visits (id int PRIMARY KEY, org text NOT NULL, visitor text NOT NULL, "
        "at timestamptz NOT NULL, updated_at timestamptz NOT NULL)"
    )
    pg.execute(
        "INSERT INTO {s}.visits SELECT g, %s, CASE WHEN mod(g, 3) = 0 THEN 'zoe' ELSE 'yan' END, "
        "now() - g * interval '1 hour', now() - interval '1 minute' + g * interval '1 ms' "
        "FROM generate_series(1, 30) g",
        (tenant_id,),
    )
    spec = SourceSpec.model_validate(
        {
            "name": f"visits_{uuid.uuid4().hex[:8]}",
            "dsn": DSN,
            "table": pg.table("visits"),
            "tenant_column": "org",
            "cursor": "updated_at",
            "target": {"kind": "events", "event_name": "visit", "distinct_id": "visitor", "timestamp": "at"},
        }
    )
    runtime.sync.registry.create(spec)
    job = runtime.sync.run(spec.name, "backfill")
    assert job.state == "succeeded", job.error
    assert job.result["events_written"] == 20 and job.result["events_rejected"] == 10
    assert _people(runtime, tenant_id) == {"yan": 20}
    reasons = _rejected(runtime, tenant_id, "sync")
    assert len(reasons) == 10 and all(REASON in r for r in reasons)


def test_http_ingest_refuses_a_suppressed_id_on_both_paths(runtime, new_tenant) -> None:  # type: ignore[no-untyped-def]
    tenant = new_tenant()
    _erase_with_suppression(runtime, tenant.id, "zoe")
    # A plainly valid body (which the fast path would take) and an NDJSON body both reach the rule.
    answer = tenant.ingest([{"event": "view", "distinct_id": "zoe"}, {"event": "view", "distinct_id": "yan"}])
    assert answer["accepted"] == 1 and [r["index"] for r in answer["rejected"]] == [0]
    assert REASON in answer["rejected"][0]["reason"]
    ndjson = b'{"event": "view", "distinct_id": "yan"}\n{"event": "view", "distinct_id": "zoe"}\n'
    response = tenant.request("POST", "/v1/events", content=ndjson, headers={"Content-Type": "application/x-ndjson"})
    assert response.status_code == 200 and response.json()["accepted"] == 1
    assert _people(runtime, tenant.id) == {"yan": 2}
    assert len(_rejected(runtime, tenant.id, "http")) == 2
