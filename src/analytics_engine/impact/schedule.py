"""Start-up hook: the scheduled refresh of the cross-tenant `benchmarks` table (each refresh an
`impact.benchmarks_refresh` job of the one runner)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from analytics_engine.scheduler import Every

if TYPE_CHECKING:
    from analytics_engine.runtime import Runtime

SCHEDULE_NAME = "impact.benchmarks_refresh"


async def start_impact(runtime: Runtime) -> None:
    service = runtime.impact
    service.loop = asyncio.get_running_loop()  # events published from the refresh job's thread
    service.register_jobs()

    async def refresh() -> None:
        await service.refresh_benchmarks()

    runtime.scheduler.add(SCHEDULE_NAME, Every(seconds=runtime.settings.impact_benchmark_refresh_seconds), refresh)
