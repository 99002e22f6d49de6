"""The tiering job on the one runner (`lifecycle.tiering`, platform-wide), its schedule inside
`serve`, and what the CLI and `POST /v1/admin/lifecycle/run` call."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from analytics_engine.jobs.context import JobContext
from analytics_engine.jobs.schemas import JobPublic
from analytics_engine.lifecycle.models import ColdFile, TieredMonth
from analytics_engine.lifecycle.tiering import Tiering
from analytics_engine.scheduler.core import Every

if TYPE_CHECKING:
    from analytics_engine.core import Core
    from analytics_engine.runtime import Runtime

JOB_KIND = "lifecycle.tiering"
SCHEDULE_NAME = "lifecycle:tiering"
# A kill costs an attempt (the lease expires); every step is safe to repeat.
MAX_ATTEMPTS = 10


class LifecycleService:
    def __init__(self, core: Core) -> None:
        self.core = core

    def register_jobs(self) -> None:
        if JOB_KIND in self.core.runner.handlers:
            return

        def handler(ctx: JobContext) -> dict[str, Any]:
            return Tiering(self.core, ctx).run().as_dict()

        self.core.runner.register(JOB_KIND, handler, max_attempts=MAX_ATTEMPTS, backoff_seconds=2.0)

    def run(self, *, wait: bool = False) -> JobPublic:
        """Queue a tiering run (at most one queued or running at a time); with `wait`, run it here."""
        self.register_jobs()
        running = [job for job in self.core.jobs.list(kind=JOB_KIND, limit=5) if job.state in ("queued", "running")]
        job = running[0] if running else self.core.runner.enqueue(JOB_KIND, source="lifecycle")
        if wait:
            job = wait_for_lease(self.core, job)
            return self.core.runner.run_now(job.id, wait=True)
        return job

    def status(self) -> dict[str, Any]:
        with self.core.metadata.session() as session:
            months = {m.month: m.state for m in session.scalars(select(TieredMonth).order_by(TieredMonth.month))}
            files, rows = session.execute(select(func.count(), func.coalesce(func.sum(ColdFile.rows), 0))).one()
        return {
            "hot_retention_months": self.core.settings.hot_retention_months,
            "cold_retention_years": self.core.settings.cold_retention_years,
            "months": {str(k): v for k, v in months.items()},
            "cold_files": int(files),
            "cold_rows": int(rows),
        }


def wait_for_lease(core: Core, job: JobPublic) -> JobPublic:
    """A job left `running` by a killed process is queued again once its lease expires: wait for
    that (recovering as we go) rather than for a process that is gone."""
    deadline = time.monotonic() + 2 * core.runner.lease_seconds + 5
    while job.state == "running" and time.monotonic() < deadline:
        core.runner.recover()
        job = core.jobs.get(job.id)
        if job.state == "running":
            time.sleep(0.2)
    return job


async def start_lifecycle(runtime: Runtime) -> None:
    """STARTUP_HOOK: the tiering job kind, and its schedule (`lifecycle_interval_seconds`; 0: none)."""
    runtime.lifecycle.register_jobs()
    interval = runtime.settings.lifecycle_interval_seconds
    if interval <= 0:
        return

    async def tier() -> None:
        await asyncio.to_thread(runtime.lifecycle.run)

    runtime.scheduler.add(SCHEDULE_NAME, Every(seconds=interval), tier)
