"""Admin routes of sync sources; runs are jobs whose progress is at /v1/admin/jobs/{id}; the
schedule inside serve syncs every declared source."""

from __future__ import annotations

import asyncio
import time

import pytest

from analytics_engine.sync.service import start_sync_schedule
from analytics_engine.sync.spec import parse_spec
from tests.sync.conftest import DSN, donations_table, unique

pytestmark = pytest.mark.postgres


def source_body(name: str, table: str, **extra) -> dict:
    return {
        "name": name,
        "dsn": DSN,
        "table": table,
        "tenant_column": "org_id",
        "cursor": "updated_at",
        "soft_delete_column": "deleted_at",
        "target": {"kind": "table", "table": name},
        **extra,
    }


def wait_for(client, headers, job_id: str) -> dict:
    deadline = time.monotonic() + 60
    while True:
        job = client.get(f"/v1/admin/jobs/{job_id}", headers=headers).json()
        if job["state"] in ("succeeded", "failed", "cancelled"):
            return job
        assert time.monotonic() < deadline, job
        time.sleep(0.05)


def test_declare_backfill_verify_and_delete(pg, client, admin_headers):
    name = unique("api")
    body = source_body(name, donations_table(pg, rows=450), dsn="postgresql://postgres:pw@127.0.0.1:5432/test")
    created = client.post("/v1/admin/sync/sources", json=body, headers=admin_headers)
    assert created.status_code == 201, created.text
    assert created.json()["origin"] == "api"
    assert created.json()["spec"]["dsn"] == "postgresql://postgres:***@127.0.0.1:5432/test"
    again = client.post("/v1/admin/sync/sources", json=body, headers=admin_headers)
    assert again.status_code == 409 and again.json()["error"]["code"] == "conflict"

    check = client.post(f"/v1/admin/sync/sources/{name}/check", headers=admin_headers).json()
    assert check["source_rows"] == 450 and check["cursor_kind"] == "updated_at"
    assert {"name": "amount", "postgres_type": "numeric", "warehouse_type": "Nullable(Decimal(12, 2))"} in check[
        "columns"
    ]
    assert "ReplacingMergeTree(_version, _is_deleted)" in check["ddl"]

    started = client.post(f"/v1/admin/sync/sources/{name}/backfill", headers=admin_headers)
    assert started.status_code == 202, started.text
    assert started.json()["kind"] == "sync.backfill" and started.json()["source"] == name
    job = wait_for(client, admin_headers, started.json()["id"])
    assert job["state"] == "succeeded", job
    assert job["rows_done"] == job["rows_total"] == 450 and job["progress"] == 1.0
    assert job["cursor"] is not None and job["result"]["chunks"] == 5

    verify = client.get(f"/v1/admin/sync/sources/{name}/verify", headers=admin_headers).json()
    assert verify["match"] is True and len(verify["tenants"]) == 3

    pg.execute("UPDATE {s}.donations SET note = 'api', updated_at = now() WHERE id = 1")
    run = client.post(f"/v1/admin/sync/sources/{name}/run", headers=admin_headers)
    assert run.status_code == 202 and run.json()["kind"] == "sync.run"
    assert wait_for(client, admin_headers, run.json()["id"])["state"] == "succeeded"

    listed = client.get("/v1/admin/sync/sources", headers=admin_headers).json()
    mine = next(s for s in listed if s["name"] == name)
    assert mine["checkpoint"]["backfill_done"] is True and mine["last_job"]["kind"] == "sync.run"
    one = client.get(f"/v1/admin/sync/sources/{name}", headers=admin_headers).json()
    assert one["checkpoint"]["rows_copied"] >= 451

    assert client.delete(f"/v1/admin/sync/sources/{name}", headers=admin_headers).status_code == 204
    missing = client.get(f"/v1/admin/sync/sources/{name}", headers=admin_headers)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"


def test_bad_requests_are_4xx(client, admin_headers, new_tenant):
    invalid = client.post("/v1/admin/sync/sources", json={"name": "x"}, headers=admin_headers)
    assert invalid.status_code == 422 and invalid.json()["error"]["code"] == "invalid_input"
    assert "dsn" in invalid.json()["error"]["message"]
    assert client.post("/v1/admin/sync/sources/nope/backfill", headers=admin_headers).status_code == 404
    assert client.get("/v1/admin/sync/sources").status_code == 401
    tenant = new_tenant()
    assert client.get("/v1/admin/sync/sources", headers=tenant.headers).status_code == 401


def test_failed_backfill_through_the_api(client, admin_headers):
    name = unique("apibad")
    body = source_body(name, "public.nothing_here", dsn="postgresql://postgres@127.0.0.1:1/test")
    assert client.post("/v1/admin/sync/sources", json=body, headers=admin_headers).status_code == 201
    started = client.post(f"/v1/admin/sync/sources/{name}/backfill", headers=admin_headers)
    job = wait_for(client, admin_headers, started.json()["id"])
    assert job["state"] == "failed" and "cannot connect to PostgreSQL at 127.0.0.1:1/test" in job["error"]
    failed = client.get("/v1/admin/jobs", params={"kind": "sync.backfill", "state": "failed"}, headers=admin_headers)
    assert started.json()["id"] in [j["id"] for j in failed.json()]


def test_schedule_inside_serve_syncs_every_source(pg, runtime, monkeypatch):
    service = runtime.sync
    spec_name = unique("sched")
    service.registry.create(parse_spec(source_body(spec_name, donations_table(pg, rows=120))))
    monkeypatch.setattr(runtime.settings, "sync_schedule", True)
    monkeypatch.setattr(runtime.settings, "sync_interval_seconds", 3600)

    async def tick() -> None:
        await start_sync_schedule(runtime)
        assert f"sync:{spec_name}" in runtime.scheduler.names()
        assert f"sync:{spec_name}" in await runtime.scheduler.run_due()
        while any(j.state in ("queued", "running") for j in runtime.jobs.list(kind="sync.run")) or not [
            j for j in runtime.jobs.list(kind="sync.run") if j.source == spec_name
        ]:
            await asyncio.sleep(0.05)

    asyncio.run(asyncio.wait_for(tick(), 60))
    jobs = [j for j in runtime.jobs.list(kind="sync.run") if j.source == spec_name]
    assert jobs[0].state == "succeeded" and jobs[0].rows_done == 120
    for name in list(runtime.scheduler.names()):
        runtime.scheduler.remove(name)
