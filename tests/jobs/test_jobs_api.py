"""Jobs through the API: progress of a running job, and report runs listed as jobs."""

from __future__ import annotations

import threading

from analytics_engine.jobs.context import JobContext


def test_progress_is_visible_at_the_job_route(runtime, new_tenant) -> None:  # type: ignore[no-untyped-def]
    tenant = new_tenant()
    halfway, release = threading.Event(), threading.Event()

    def work(ctx: JobContext) -> dict[str, int]:
        ctx.progress(50, 200, cursor="c50")
        halfway.set()
        release.wait(10)
        return {"rows": 200}

    runtime.runner.register("test.progress", work)
    job = runtime.runner.enqueue("test.progress", tenant_id=tenant.id)
    worker = threading.Thread(target=runtime.runner.run_now, args=(job.id,))
    worker.start()
    assert halfway.wait(10)
    seen = tenant.get(f"/v1/jobs/{job.id}").json()
    assert (seen["state"], seen["rows_done"], seen["progress"], seen["cursor"]) == ("running", 50, 0.25, "c50")
    release.set()
    worker.join(10)
    done = tenant.get(f"/v1/jobs/{job.id}").json()
    assert (done["state"], done["result"], done["progress"]) == ("succeeded", {"rows": 200}, 1.0)


def test_a_report_run_is_a_job_listed_at_v1_jobs(runtime, new_tenant) -> None:  # type: ignore[no-untyped-def]
    tenant = new_tenant()
    created = tenant.post(
        "/v1/reports",
        json={
            "name": "jobs view",
            "queries": [{"title": "t", "query": {"kind": "trends", "series": [{"event": "x"}], "interval": "day"}}],
            "formats": ["xlsx"],
            "recipients": {"emails": [], "webhooks": []},
        },
    )
    assert created.status_code == 201, created.text
    service = runtime.reports
    run_id = service.start_run(tenant.id, created.json()["id"], "manual")
    listed = tenant.get("/v1/jobs", params={"kind": "report"}).json()
    assert [(j["id"], j["state"]) for j in listed] == [(run_id, "queued")]
    run = service.run(created.json()["id"], "manual", run_id)
    job = tenant.get(f"/v1/jobs/{run_id}").json()
    assert job["kind"] == "report" and job["state"] == ("failed" if run.status == "failed" else "succeeded")
    assert job["params"]["report_id"] == created.json()["id"]


def test_a_starting_process_leaves_another_process_s_live_report_run_alone(runtime, new_tenant) -> None:  # type: ignore[no-untyped-def]
    import asyncio
    import time

    from sqlalchemy import update

    from analytics_engine.jobs.runner import JobRunner
    from analytics_engine.metadata.models import Job, utcnow
    from analytics_engine.reports.service import start_report_schedules

    tenant = new_tenant()
    created = tenant.post(
        "/v1/reports",
        json={
            "name": "live run",
            "queries": [{"title": "t", "query": {"kind": "trends", "series": [{"event": "x"}], "interval": "day"}}],
            "formats": ["xlsx"],
            "recipients": {"emails": [], "webhooks": []},
        },
    ).json()
    run_id = runtime.reports.start_run(tenant.id, created["id"], "manual")
    other = JobRunner(runtime.metadata, runtime.jobs, lease_seconds=30, owner="other-process")
    other.register("report", lambda ctx: {})
    assert other.claim(job_id=run_id) is not None  # another process is running it, lease fresh
    asyncio.run(start_report_schedules(runtime))  # this process starts
    run = tenant.get(f"/v1/reports/{created['id']}/runs/{run_id}").json()
    assert run["status"] == "running" and tenant.get(f"/v1/jobs/{run_id}").json()["state"] == "running"
    with runtime.metadata.session() as session:  # the other process dies: its lease runs out
        session.execute(update(Job).where(Job.id == run_id).values(lease_expires_at=utcnow()))
    time.sleep(0.01)
    asyncio.run(start_report_schedules(runtime))
    run = tenant.get(f"/v1/reports/{created['id']}/runs/{run_id}").json()
    assert run["status"] == "failed" and "stopped" in run["error"]
    assert tenant.get(f"/v1/jobs/{run_id}").json()["state"] == "failed"
