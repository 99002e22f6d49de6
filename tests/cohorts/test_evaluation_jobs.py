"""`cohort.evaluate` jobs are closed by the one runner, like every other kind: the handler returns its
result or raises, and the finished row keeps no lease (`lease_owner`, `lease_expires_at` null)."""

from __future__ import annotations

import pytest

from analytics_engine.cohorts.models import CohortVersion
from analytics_engine.jobs.context import JobContext
from analytics_engine.jobs.schemas import JobPublic
from analytics_engine.metadata.models import Job
from analytics_engine.runtime import Runtime
from tests.cohorts.test_api import buyers_definition, seed


def job_row(runtime: Runtime, job_id: str) -> Job:
    with runtime.metadata.session() as session:
        row = session.get(Job, job_id)
        assert row is not None
        session.expunge(row)
        return row


def enqueue(runtime: Runtime, tenant_id: str, cohort_id: str) -> JobPublic:
    runtime.cohorts.register_jobs()
    return runtime.runner.enqueue("cohort.evaluate", tenant_id=tenant_id, source="api", params={"cohort_id": cohort_id})


def run(runtime: Runtime, tenant_id: str, cohort_id: str) -> Job:
    job = enqueue(runtime, tenant_id, cohort_id)
    runtime.runner.run_now(job.id, wait=True)  # the serve loop may claim it first: wait for its end
    return job_row(runtime, job.id)


def test_succeeded_job_has_its_result_and_no_lease(new_tenant, runtime: Runtime) -> None:  # type: ignore[no-untyped-def]
    tenant = new_tenant()
    seed(tenant)
    cohort = tenant.post("/v1/cohorts", json={"name": "buyers", "definition": buyers_definition(2)}).json()

    row = run(runtime, tenant.id, cohort["id"])

    assert row.state == "succeeded", row.error
    assert row.lease_owner is None and row.lease_expires_at is None
    assert row.finished_at is not None and row.error is None
    assert row.result is not None
    assert row.result | {"duration_ms": 0, "analysis_ms": 0} == {
        "cohort_id": cohort["id"],
        "version": 1,
        "previous_version": 0,
        "size": 3,  # u0, u1, u2 bought at least twice
        "joined": 3,
        "left": 0,
        "duration_ms": 0,
        "analysis_ms": 0,
        "trigger": "api",
    }
    assert row.rows_done == 3 and row.rows_total == 3  # progress: the members written
    api = tenant.get(f"/v1/jobs/{row.id}").json()
    assert api["state"] == "succeeded" and api["result"] == row.result


def test_failing_evaluation_fails_its_job_and_version(
    new_tenant, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    tenant = new_tenant()
    seed(tenant)
    cohort = tenant.post("/v1/cohorts", json={"name": "buyers", "definition": buyers_definition(2)}).json()

    def broken_writer(tenant_id: str) -> object:
        raise RuntimeError("warehouse is down")

    monkeypatch.setattr(runtime.cohorts, "_writer", broken_writer)
    row = run(runtime, tenant.id, cohort["id"])

    # One attempt, the error as raised (a warehouse error is not retried: the schedule tries again).
    assert row.state == "failed" and row.error == "warehouse is down"
    assert row.lease_owner is None and row.lease_expires_at is None and row.finished_at is not None
    assert row.attempts == 1
    with runtime.metadata.session() as session:
        version = session.get(CohortVersion, (cohort["id"], 1))
        assert version is not None and version.state == "failed" and version.job_id == row.id
    assert tenant.get(f"/v1/cohorts/{cohort['id']}").json()["current_version"] == 0


def test_app_error_fails_the_job_with_its_message(
    new_tenant, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(runtime.runner, "paused", True)  # the serve loop must not run it before the delete
    tenant = new_tenant()
    cohort = tenant.post("/v1/cohorts", json={"name": "gone", "definition": buyers_definition(1)}).json()
    job = enqueue(runtime, tenant.id, cohort["id"])
    assert tenant.request("DELETE", f"/v1/cohorts/{cohort['id']}").status_code == 204

    runtime.runner.run_now(job.id, wait=True)
    row = job_row(runtime, job.id)

    assert row.state == "failed" and row.error is not None and cohort["id"] in row.error
    assert row.lease_owner is None and row.lease_expires_at is None


def test_cancelled_before_start_leaves_no_version(
    new_tenant, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(runtime.runner, "paused", True)  # the serve loop must not take this job
    tenant = new_tenant()
    seed(tenant)
    cohort = tenant.post("/v1/cohorts", json={"name": "buyers", "definition": buyers_definition(2)}).json()
    job = enqueue(runtime, tenant.id, cohort["id"])
    ctx = runtime.runner.claim(kinds=["cohort.evaluate"], job_id=job.id)
    assert isinstance(ctx, JobContext)
    runtime.jobs.cancel(job.id, tenant_id=tenant.id)  # asked while running: stops at the next check

    runtime.runner.run_claimed(ctx)
    row = job_row(runtime, job.id)

    assert row.state == "cancelled" and row.lease_owner is None and row.lease_expires_at is None
    assert tenant.get(f"/v1/cohorts/{cohort['id']}/versions").json() == []
