"""Start-up and shutdown of alerts inside `serve`: the `alert_evaluation` job kind, the event loop
the evaluations publish through, and the `alerts` schedule that enqueues due rules."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from analytics_engine.alerts.service import JOB_KIND, SCHEDULE_NAME
from analytics_engine.scheduler.core import Every

if TYPE_CHECKING:
    from analytics_engine.runtime import Runtime


def register_jobs(runtime: Runtime) -> None:
    """The `alert_evaluation` job kind on the runner (a failed evaluation is not retried: the rule's
    next slot evaluates it again)."""
    runtime.runner.register(JOB_KIND, runtime.alerts.execute, max_attempts=1)


async def start_alerts(runtime: Runtime) -> None:
    """STARTUP_HOOK: the `alert_evaluation` job kind, the bus loop, and the `alerts` schedule."""
    service = runtime.alerts
    service.loop = asyncio.get_running_loop()
    register_jobs(runtime)
    if not runtime.settings.alerts_enabled:
        return

    async def tick() -> None:
        await asyncio.to_thread(service.tick)

    runtime.scheduler.add(SCHEDULE_NAME, Every(runtime.settings.alerts_tick_seconds), tick)


async def stop_alerts(runtime: Runtime) -> None:
    """SHUTDOWN_HOOK: no new evaluations; notices go out through no loop after this."""
    runtime.scheduler.remove(SCHEDULE_NAME)
    runtime.alerts.loop = None
