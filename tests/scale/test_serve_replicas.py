"""Three `serve` processes sharing PostgreSQL, Redis and NATS (issue 26): SSE clients on one replica
are refreshed by ingest on another (the NATS bus), a stream token from one replica opens a stream
on another, export jobs created on one replica are each run once by one of them, and a tenant's
concurrency budget set on one replica refuses queries on another while Redis holds its slots.
Each replica has its own chDB folder, so what the refreshed widgets and exports *contain* is that
replica's warehouse: one shared warehouse needs a ClickHouse server (docs/runbook.md)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from analytics_engine.budgets.shared import SharedSlots
from tests.dashboards.sse import SseClient
from tests.scale.serve_replicas import ADMIN, Replica, make_tenant, replicas
from tests.support.services import NATS, REDIS, require_service

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.nats]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    from tests.support.postgres import postgres_schema_url

    require_service("Redis", REDIS)
    require_service("NATS", NATS)
    with postgres_schema_url() as url, replicas(tmp_path_factory.mktemp("replicas"), url, 3) as started:
        yield started


def _wait(predicate, timeout: float = 30.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def test_ingest_on_one_replica_refreshes_sse_clients_on_another(cluster: list[Replica]):
    a, b, _ = cluster
    _, headers = make_tenant(a)
    dashboard = httpx.post(f"{b.url}/v1/dashboards", json={"name": "Live"}, headers=headers, timeout=30)
    assert dashboard.status_code == 201, dashboard.text
    dashboard_id = dashboard.json()["id"]
    # A token signed by replica A opens the stream on replica B (shared ANALYTICS_STREAM_TOKEN_SECRET).
    token = httpx.post(f"{a.url}/v1/dashboards/{dashboard_id}/stream-token", headers=headers, timeout=30)
    assert token.status_code == 200, token.text
    stream = SseClient(f"{b.url}/v1/dashboards/{dashboard_id}/stream?token={token.json()['token']}").start()
    try:
        assert stream.status == 200
        stream.next("snapshot", timeout=30)
        time.sleep(1.0)
        before = b.metric("analytics_dashboard_refresh_seconds_count")
        time.sleep(1.0)
        assert b.metric("analytics_dashboard_refresh_seconds_count") == before  # nothing refreshes it by itself
        now = datetime.now(UTC) - timedelta(minutes=5)
        body = [{"event": "signup", "distinct_id": f"u{i}", "timestamp": now.isoformat()} for i in range(5)]
        ingested = httpx.post(f"{a.url}/v1/events", json=body, headers=headers, timeout=30)
        assert ingested.status_code in (200, 202), ingested.text
        assert _wait(lambda: b.metric("analytics_dashboard_refresh_seconds_count") > before), (
            "replica B's stream was not refreshed after ingest on replica A"
        )
    finally:
        stream.close()


def test_export_jobs_created_on_one_replica_run_once(cluster: list[Replica]):
    a, b, c = cluster
    _, headers = make_tenant(a)
    created = []
    for replica in (a, b, c, a, b, c):
        response = httpx.post(
            f"{replica.url}/v1/exports",
            json={"source": {"type": "events"}, "format": "csv"},
            headers=headers,
            timeout=30,
        )
        assert response.status_code == 202, response.text
        created.append(response.json()["id"])
    admin = {"Authorization": f"Bearer {ADMIN}"}

    def job(export_id: str) -> dict:  # type: ignore[type-arg]
        return httpx.get(f"{c.url}/v1/exports/{export_id}", headers=headers, timeout=30).json()

    assert _wait(lambda: all(job(i)["status"] in ("succeeded", "failed") for i in created), timeout=120)
    assert {job(i)["status"] for i in created} == {"succeeded"}
    jobs = httpx.get(f"{a.url}/v1/admin/jobs", headers=admin, params={"limit": 1000}, timeout=30).json()
    mine = [j for j in jobs if j["id"] in set(created)]
    assert len(mine) == len(created), [j["id"] for j in jobs][:20]
    assert all(j["state"] == "succeeded" and j["attempts"] == 1 for j in mine), mine


def test_a_concurrency_budget_is_counted_across_replicas(cluster: list[Replica]):
    a, b, _ = cluster
    tenant_id, headers = make_tenant(a)
    admin = {"Authorization": f"Bearer {ADMIN}"}
    budget = httpx.put(
        f"{a.url}/v1/admin/tenants/{tenant_id}/budget", json={"max_concurrent_queries": 1}, headers=admin, timeout=30
    )
    assert budget.status_code == 200, budget.text
    time.sleep(5.5)  # replicas re-read a tenant's limits after LIMITS_TTL_SECONDS
    query = {"series": [{"event": "signup"}]}
    assert httpx.post(f"{b.url}/v1/insights/trends", json=query, headers=headers, timeout=30).status_code == 200
    # Another replica holds the tenant's one slot (its query runs): the same Redis slots any replica takes.
    slots = SharedSlots("redis://127.0.0.1:6379/0")
    try:
        assert slots.acquire(tenant_id, "replica-elsewhere", 1, 30) == (True, 1)
        refused = httpx.post(f"{b.url}/v1/insights/trends?refresh=true", json=query, headers=headers, timeout=30)
        assert refused.status_code == 429, refused.text
        assert refused.json()["error"]["details"]["limit"] == "max_concurrent_queries"
        usage = httpx.get(f"{a.url}/v1/usage", headers=headers, timeout=30)
        assert usage.status_code == 200, usage.text
        assert usage.json()["usage"]["running"] == 1  # replica A counts the slot held elsewhere
    finally:
        slots.release(tenant_id, "replica-elsewhere")
        slots.close()
    assert (
        httpx.post(f"{b.url}/v1/insights/trends?refresh=true", json=query, headers=headers, timeout=30).status_code
        == 200
    )
