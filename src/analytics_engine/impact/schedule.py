"""Start-up hook: the scheduled refresh of the cross-tenant `benchmarks` table."""

from __future__ import annotations

from typing import TYPE_CHECKING

from analytics_engine.scheduler import Every

if TYPE_CHECKING:
    from analytics_engine.runtime import Runtime

SCHEDULE_NAME = "impact.benchmarks_refresh"


async def start_impact(runtime: Runtime) -> None:
    service = runtime.impact

    async def refresh() -> None:
        await service.refresh_benchmarks()

    runtime.scheduler.add(SCHEDULE_NAME, Every(seconds=runtime.settings.impact_benchmark_refresh_seconds), refresh)
