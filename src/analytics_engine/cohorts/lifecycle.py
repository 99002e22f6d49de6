"""Start-up and shutdown of cohorts inside `serve`: the hourly evaluation schedule, background
evaluation tasks started by `POST /v1/cohorts/{id}/evaluate`, and jobs left running by a crash."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta
from typing import Any

import structlog

from analytics_engine.cohorts.service import get_service
from analytics_engine.jobs.schemas import JobPublic
from analytics_engine.scheduler.core import Every

log = structlog.get_logger(__name__)
SCHEDULE_NAME = "cohorts:evaluate"
JOB_KIND = "cohort.evaluate"
_TASKS = "cohorts.tasks"


async def start_cohorts(runtime: Any) -> None:
    service = get_service(runtime)
    service.loop = asyncio.get_running_loop()
    service.stopping.clear()
    runtime.extras.setdefault(_TASKS, set())
    with contextlib.suppress(Exception):
        runtime.jobs.recover_stale(kinds=[JOB_KIND], stale_after=timedelta(minutes=10), requeue=False)

    async def evaluate_all() -> None:
        await asyncio.to_thread(service.evaluate_all, trigger="schedule")

    runtime.scheduler.add(
        SCHEDULE_NAME, Every(seconds=runtime.settings.cohort_evaluation_interval_seconds), evaluate_all
    )


async def stop_cohorts(runtime: Any) -> None:
    service = runtime.extras.get("cohorts")
    if service is not None:
        service.stopping.set()
    tasks = list(runtime.extras.get(_TASKS, ()))
    if tasks:
        await asyncio.wait(tasks, timeout=30)
    if service is not None:
        service.loop = None


async def start_evaluation(runtime: Any, tenant_id: str, cohort_id: str) -> JobPublic:
    """A job row now, the evaluation in a worker thread; the status is at `GET /v1/jobs/{id}`."""
    service = get_service(runtime)
    await asyncio.to_thread(service.get, tenant_id, cohort_id)  # another tenant's id: 404 before a job exists
    job = runtime.jobs.create(JOB_KIND, tenant_id=tenant_id, source="api", params={"cohort_id": cohort_id})
    task = asyncio.create_task(
        asyncio.to_thread(service.run_job, job.id, tenant_id, cohort_id, trigger="api"), name=f"cohort:{job.id}"
    )
    tasks: set[asyncio.Task[Any]] = runtime.extras.setdefault(_TASKS, set())  # type: ignore[assignment]
    tasks.add(task)
    task.add_done_callback(tasks.discard)
    return job
