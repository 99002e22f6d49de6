"""Start-up hook of materialized properties: the job handlers (backfill, drop) and, in auto mode,
the scheduled pass that materializes every tenant's suggestions within the caps."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from analytics_engine.scheduler import Every

if TYPE_CHECKING:
    from analytics_engine.runtime import Runtime

SCHEDULE_NAME = "materialized.auto"


async def start_materialized(runtime: Runtime) -> None:
    service = runtime.materialized
    service.register_jobs()
    # The property rollup's view and the backfill of columns it does not cover yet (in the background:
    # start-up does not wait for it; the planner serves a column once covered).
    asyncio.get_running_loop().run_in_executor(None, service.cover_ready_columns)
    if not runtime.settings.materialized_auto:
        return

    async def auto_pass() -> None:
        await asyncio.to_thread(service.auto_pass)

    runtime.scheduler.add(SCHEDULE_NAME, Every(seconds=runtime.settings.materialized_auto_interval_seconds), auto_pass)
