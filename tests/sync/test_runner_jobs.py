"""Sync runs are jobs of the one job runner: claimed (attempts counted), listed with their kind and
progress, recovered by their lease when their process died, and stopped by a cancel."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import update

from analytics_engine.metadata.models import Job, utcnow
from analytics_engine.sync.service import KINDS, MAX_ATTEMPTS, SyncService
from tests.sync.conftest import donations_table, table_source, unique
from tests.sync.test_api import wait_for

pytestmark = pytest.mark.postgres


@pytest.fixture
def paused(service: SyncService) -> Iterator[SyncService]:
    """No runner loop of `serve` claims a job behind the test's back."""
    runner = service.runtime.runner
    runner.paused = True
    try:
        yield service
    finally:
        runner.paused = False


def abandon(service: SyncService, job_id: str, *, attempts: int) -> None:
    """The job as a process of another host leaves it when it dies: running, its lease expired."""
    with service.runtime.metadata.session() as session:
        session.execute(
            update(Job)
            .where(Job.id == job_id)
            .values(
                state="running",
                attempts=attempts,
                lease_owner="another-host:4242:dead",
                lease_expires_at=utcnow() - timedelta(seconds=1),
                started_at=utcnow(),
            )
        )


def test_sync_kinds_are_registered_on_the_runner(service: SyncService) -> None:
    for kind in KINDS.values():
        assert service.runtime.runner.handlers[kind].max_attempts == MAX_ATTEMPTS


def test_api_run_is_a_runner_job_with_kind_and_progress(pg, service, client, admin_headers) -> None:  # type: ignore[no-untyped-def]
    spec = table_source(unique("listed"), donations_table(pg, rows=450))
    service.registry.create(spec)
    started = client.post(f"/v1/admin/sync/sources/{spec.name}/backfill", headers=admin_headers)
    assert started.status_code == 202, started.text
    assert started.json()["state"] == "queued"
    job = wait_for(client, admin_headers, started.json()["id"])
    assert job["state"] == "succeeded", job
    listed = client.get("/v1/admin/jobs", params={"kind": "sync.backfill"}, headers=admin_headers).json()
    mine = next(j for j in listed if j["id"] == job["id"])
    assert mine["kind"] == "sync.backfill" and mine["source"] == spec.name
    assert mine["rows_done"] == mine["rows_total"] == 450 and mine["progress"] == 1.0
    assert mine["attempts"] == 1  # claimed by the runner: a job run outside it counts no attempt


def test_expired_lease_is_requeued_by_the_runner_and_resumed(pg, paused) -> None:  # type: ignore[no-untyped-def]
    service = paused
    spec = table_source(unique("lease"), donations_table(pg, rows=300))
    service.registry.create(spec)
    job = service.start(spec.name, "backfill")
    abandon(service, job.id, attempts=1)

    assert service.runtime.runner.recover() == 1
    assert service.runtime.jobs.get(job.id).state == "queued"  # attempts remain: back to the queue
    resumed = service.run(spec.name, "backfill")  # the next run takes the requeued job
    assert resumed.id == job.id and resumed.state == "succeeded", resumed.error
    assert resumed.attempts == 2 and resumed.rows_done == 300
    assert service.verify(spec.name)["match"] is True


def test_expired_lease_of_the_last_attempt_is_failed(pg, paused) -> None:  # type: ignore[no-untyped-def]
    service = paused
    spec = table_source(unique("spent"), donations_table(pg, rows=200))
    service.registry.create(spec)
    job = service.start(spec.name, "backfill")
    abandon(service, job.id, attempts=MAX_ATTEMPTS)

    fresh = service.run(spec.name, "backfill")  # `start` lets the runner judge the dead lease first
    dead = service.runtime.jobs.get(job.id)
    assert dead.state == "failed" and "stopped before it finished" in (dead.error or "")
    assert fresh.id != job.id and fresh.state == "succeeded" and fresh.attempts == 1


def test_live_lease_of_another_host_is_left_alone(pg, paused) -> None:  # type: ignore[no-untyped-def]
    service = paused
    spec = table_source(unique("alive"), donations_table(pg, rows=100))
    service.registry.create(spec)
    job = service.start(spec.name, "backfill")
    abandon(service, job.id, attempts=1)
    with service.runtime.metadata.session() as session:
        session.execute(update(Job).where(Job.id == job.id).values(lease_expires_at=utcnow() + timedelta(minutes=5)))
    with pytest.raises(Exception, match="already being copied"):
        service.start(spec.name, "backfill")
    assert service.runtime.jobs.get(job.id).state == "running"


def test_cancel_through_the_api_stops_the_run(pg, paused, client, admin_headers) -> None:  # type: ignore[no-untyped-def]
    service = paused
    spec = table_source(unique("stop"), donations_table(pg, rows=1000))
    service.registry.create(spec)
    job = service.start(spec.name, "backfill")

    def cancel_after_second(chunk: int) -> None:
        if chunk == 1:
            answer = client.post(f"/v1/admin/jobs/{job.id}/cancel", headers=admin_headers)
            assert answer.status_code == 200 and answer.json()["cancel_requested"] is True

    finished = service.execute(job.id, after_write=cancel_after_second)
    assert finished.state == "cancelled" and finished.attempts == 1
    checkpoint = service.registry.checkpoint(spec.name)
    assert checkpoint.rows_copied == 200 and not checkpoint.backfill_done and not checkpoint.in_doubt
    again = service.run(spec.name, "backfill")  # the next run resumes where the cancel stopped
    assert again.state == "succeeded" and again.rows_done == 800


def test_single_tenant_run_is_listed_at_the_tenants_jobs(pg, service, client, admin_headers, new_tenant) -> None:  # type: ignore[no-untyped-def]
    tenant = new_tenant()
    spec = table_source(unique("own"), donations_table(pg, rows=200), tenant_column=None, tenant_id=tenant.id)
    service.registry.create(spec)
    job = service.run(spec.name, "backfill")
    assert job.state == "succeeded", job.error
    listed = tenant.get("/v1/jobs").json()
    mine = next(j for j in listed if j["id"] == job.id)
    assert mine["kind"] == "sync.backfill" and mine["tenant_id"] == tenant.id
    assert mine["rows_done"] == mine["rows_total"] == 200 and mine["progress"] == 1.0 and mine["attempts"] == 1
