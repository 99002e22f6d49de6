"""Start and stop hooks of the one job runner inside `serve`."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from analytics_engine.runtime import Runtime


async def start_job_runner(runtime: Runtime) -> None:
    """STARTUP_HOOK (last): recover abandoned jobs by their leases, then claim and run."""
    await runtime.runner.start()


async def stop_job_runner(runtime: Runtime) -> None:
    """SHUTDOWN_HOOK (first): running handlers are asked to stop; their jobs go back to the queue."""
    await runtime.runner.stop()
