"""Start-up and shutdown of cohorts inside `serve`: the hourly evaluation schedule, background
evaluation tasks started by `POST /v1/cohorts/{id}/evaluate`, and jobs left running by a crash."""

from __future__ import annotations

import asyncio

import structlog

from analytics_engine.jobs.schemas import JobPublic
from analytics_engine.runtime import Runtime
from analytics_engine.scheduler.core import Every

log = structlog.get_logger(__name__)
SCHEDULE_NAME = "cohorts:evaluate"
JOB_KIND = "cohort.evaluate"


async def start_cohorts(runtime: Runtime) -> None:
    service = runtime.cohorts
    service.loop = asyncio.get_running_loop()
    service.stopping.clear()
    # Evaluations are jobs of the one runner; abandoned ones are recovered by their lease (the
    # runner's start), never by the age of a heartbeat another process may still be sending.
    service.register_jobs()

    async def evaluate_all() -> None:
        await asyncio.to_thread(service.evaluate_all, trigger="schedule")

    runtime.scheduler.add(
        SCHEDULE_NAME, Every(seconds=runtime.settings.cohort_evaluation_interval_seconds), evaluate_all
    )


async def stop_cohorts(runtime: Runtime) -> None:
    service = runtime.cohorts
    service.stopping.set()
    tasks = list(runtime.cohort_tasks)
    if tasks:
        await asyncio.wait(tasks, timeout=30)
    service.loop = None


async def start_evaluation(runtime: Runtime, tenant_id: str, cohort_id: str) -> JobPublic:
    """A job row now, the evaluation in a worker thread; the status is at `GET /v1/jobs/{id}`."""
    service = runtime.cohorts
    await asyncio.to_thread(service.get, tenant_id, cohort_id)  # another tenant's id: 404 before a job exists
    job = runtime.runner.enqueue(JOB_KIND, tenant_id=tenant_id, source="api", params={"cohort_id": cohort_id})
    # Run it here at once; if a runner loop claimed it first, that loop runs it instead.
    task = asyncio.create_task(asyncio.to_thread(runtime.runner.run_now, job.id), name=f"cohort:{job.id}")
    tasks = runtime.cohort_tasks
    tasks.add(task)
    task.add_done_callback(tasks.discard)
    return job
