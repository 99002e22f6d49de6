from __future__ import annotations

import pytest

from analytics_engine.jobs.service import JobCancelled


def test_tenant_sees_only_its_own_jobs(runtime, new_tenant):
    a, b = new_tenant(), new_tenant()
    job = runtime.jobs.create("demo", tenant_id=a.id, rows_total=10)
    seen = a.get(f"/v1/jobs/{job.id}")
    assert seen.status_code == 200 and seen.json()["state"] == "queued"
    assert b.get(f"/v1/jobs/{job.id}").status_code == 404
    assert [j["id"] for j in a.get("/v1/jobs").json()] == [job.id]
    assert b.get("/v1/jobs").json() == []


def test_progress_success_and_the_status_shape(runtime, client, admin_headers):
    job = runtime.jobs.create("sync", source="users")
    runtime.jobs.start(job.id)
    runtime.jobs.progress(job.id, rows_done=25, rows_total=100, cursor="42")
    status = client.get(f"/v1/admin/jobs/{job.id}", headers=admin_headers).json()
    assert (status["state"], status["progress"], status["cursor"]) == ("running", 0.25, "42")
    runtime.jobs.succeed(job.id, {"rows": 100})
    assert client.get(f"/v1/admin/jobs/{job.id}", headers=admin_headers).json()["state"] == "succeeded"
    cancel = client.post(f"/v1/admin/jobs/{job.id}/cancel", headers=admin_headers)
    assert cancel.status_code == 409


def test_cancel_running_job_stops_at_next_progress(runtime, client, admin_headers):
    job = runtime.jobs.create("sync")
    runtime.jobs.start(job.id)
    assert client.post(f"/v1/admin/jobs/{job.id}/cancel", headers=admin_headers).json()["cancel_requested"]
    with pytest.raises(JobCancelled):
        runtime.jobs.progress(job.id, rows_done=1)
