"""`/v1/admin/debug/memory`: where the process's memory is (resident set, C heap, Python heap by
source line when tracemalloc is on, the embedded engine's caches, the result cache), and
`POST .../trim` to hand the C heap's (and the embedded engine's) free pages back now. docs/runbook.md "Memory"."""

from __future__ import annotations

import tracemalloc
from typing import Any

import structlog
from fastapi import APIRouter, Query
from starlette.concurrency import run_in_threadpool

from analytics_engine.api.deps import AdminDep, RuntimeDep
from analytics_engine.observability import memory
from analytics_engine.runtime import Runtime

log = structlog.get_logger(__name__)
router = APIRouter(prefix="/v1/admin/debug", tags=["admin: debug"])


async def start_memory(runtime: Runtime) -> None:
    """Serve start-up hook: tracemalloc when `ANALYTICS_MEMORY_TRACEMALLOC`, and the periodic
    `malloc_trim` with the embedded engine's jemalloc purge (`ANALYTICS_MALLOC_TRIM_SECONDS`)."""
    if runtime.settings.memory_tracemalloc and not tracemalloc.is_tracing():
        tracemalloc.start()
        log.info("memory.tracemalloc_started")
    if runtime.malloc_trimmer is None and runtime.settings.malloc_trim_seconds > 0:
        runtime.malloc_trimmer = memory.MallocTrimmer(runtime.settings.malloc_trim_seconds, runtime.warehouse)
        runtime.malloc_trimmer.start()


async def stop_memory(runtime: Runtime) -> None:
    if runtime.malloc_trimmer is not None:
        runtime.malloc_trimmer.stop()
        runtime.malloc_trimmer = None


def memory_report(runtime: Runtime, top: int) -> dict[str, Any]:
    trimmer = runtime.malloc_trimmer
    return {
        "process": memory.process_memory(),
        "malloc": memory.malloc_stats(),
        "malloc_trim": trimmer.status() if trimmer is not None else {"every_seconds": 0},
        "python": memory.python_heap(top),
        "engine": memory.engine_memory(runtime.warehouse),
        "result_cache": memory.cache_memory(runtime.cache),
    }


@router.get("/memory", summary="Where this process's memory is")
async def get_memory(
    runtime: RuntimeDep,
    _: AdminDep,
    top: int = Query(15, ge=1, le=200, description="Python heap: the source lines holding most, this many."),
) -> dict[str, Any]:
    """`process`: resident bytes (anonymous, file-backed, peak). `malloc`: glibc's heap, in use and
    free-but-held (null off glibc). `malloc_trim`: the periodic trim's runs and bytes released.
    `python`: tracemalloc's traced bytes and top source lines, or `tracing: false` unless
    `ANALYTICS_MEMORY_TRACEMALLOC=true`. `engine`: the warehouse engine's tracked memory and cache
    bytes (`system.metrics`). `result_cache`: entries and bytes of the in-process result cache."""
    return await run_in_threadpool(memory_report, runtime, top)


@router.post("/memory/trim", summary="Hand the C heap's and the embedded engine's free pages back to the system now")
async def trim_memory(runtime: RuntimeDep, _: AdminDep) -> dict[str, Any]:
    """`malloc_trim(0)` once, and the embedded engine's `SYSTEM JEMALLOC PURGE`; the resident bytes
    before and after. `trimmed: false` without glibc; `engine_purged: false` with a server DSN (its
    memory is the server's) or an engine without jemalloc."""
    if runtime.malloc_trimmer is not None:
        return await run_in_threadpool(runtime.malloc_trimmer.run_once)
    return await run_in_threadpool(memory.trim_malloc, runtime.warehouse)
