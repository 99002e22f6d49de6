"""Start and stop hooks of live dashboards inside `serve`: the stream hub (SSE feeds) and the
widget thread pool, both held by the runtime between the two hooks."""

from __future__ import annotations

from analytics_engine.dashboards.stream import StreamHub
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


async def stop_hub(runtime: Runtime) -> None:
    hub, runtime.stream_hub = runtime.stream_hub, None
    if hub is not None:
        await hub.close()
    pool, runtime.dashboard_pool = runtime.dashboard_pool, None
    if pool is not None:
        pool.shutdown(wait=False, cancel_futures=True)
