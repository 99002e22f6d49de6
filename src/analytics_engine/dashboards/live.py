"""Start and stop hooks of live dashboards inside `serve`: the stream hub (SSE feeds), the widget
thread pool and the background warmer of the widget cache (warm.py), held by the runtime between
the two hooks."""

from __future__ import annotations

from analytics_engine.dashboards.stream import StreamHub
from analytics_engine.dashboards.warm import Warmer
from analytics_engine.runtime import Runtime


def stream_hub(runtime: Runtime) -> StreamHub:
    """The runtime's hub, started on first use (a runtime shared by several apps starts a new one
    after a stop)."""
    hub = runtime.stream_hub
    if hub is None:
        hub = runtime.stream_hub = StreamHub(runtime)
        hub.start()
    return hub


async def start_hub(runtime: Runtime) -> None:
    stream_hub(runtime)
    if runtime.settings.dashboard_warm and runtime.dashboard_warmer is None:
        runtime.dashboard_warmer = Warmer(runtime)
        runtime.dashboard_warmer.start()


async def stop_hub(runtime: Runtime) -> None:
    warmer, runtime.dashboard_warmer = runtime.dashboard_warmer, None
    if warmer is not None:
        warmer.stop()
    hub, runtime.stream_hub = runtime.stream_hub, None
    if hub is not None:
        await hub.close()
    pool, runtime.dashboard_pool = runtime.dashboard_pool, None
    if pool is not None:
        pool.shutdown(wait=False, cancel_futures=True)
