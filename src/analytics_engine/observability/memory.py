"""Where this process's memory is (`GET /v1/admin/debug/memory`, docs/runbook.md "Memory").

- the resident set, anonymous and file-backed, and its high-water mark (`/proc/self/status`);
- the C heap of glibc's malloc (`mallinfo2`): bytes in use and bytes free but still held, which
  `malloc_trim` can hand back to the system (`trim_malloc`, run every `ANALYTICS_MALLOC_TRIM_SECONDS`);
- the Python heap by source line (tracemalloc), when `ANALYTICS_MEMORY_TRACEMALLOC` switched it on
  (tracing costs CPU on every allocation: a diagnosis setting, off by default);
- the embedded engine's memory and caches (`system.metrics`), whose caps are settings too.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import re
import threading
import time
import tracemalloc
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from analytics_engine.warehouse.client import Warehouse

# The engine's figures worth watching: its tracked memory and every cache that can hold much.
ENGINE_METRICS = (
    "MemoryTracking",
    "MarkCacheBytes",
    "PrimaryIndexCacheBytes",
    "IndexMarkCacheBytes",
    "UncompressedCacheBytes",
    "IndexUncompressedCacheBytes",
    "QueryConditionCacheBytes",
    "QueryCacheBytes",
    "CompiledExpressionCacheBytes",
    "PageCacheBytes",
    "MMapCacheCells",
)
_STATUS_FIELDS = {"VmRSS": "rss", "VmHWM": "rss_peak", "RssAnon": "rss_anon", "RssFile": "rss_file"}


class _MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks")
    ] + [("keepcost", ctypes.c_size_t)]


def _libc() -> Any:
    name = ctypes.util.find_library("c")
    if not name:
        return None
    try:
        return ctypes.CDLL(name)
    except OSError:
        return None


_LIBC = _libc()


def process_memory(pid: int | str = "self") -> dict[str, int]:
    """Resident bytes (VmRSS), its peak, and its anonymous and file-backed parts; {} off Linux."""
    found: dict[str, int] = {}
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return found
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        if key in _STATUS_FIELDS:
            found[_STATUS_FIELDS[key] + "_bytes"] = int(rest.split()[0]) * 1024
    return found


def malloc_stats() -> dict[str, int] | None:
    """glibc malloc's heap: `in_use_bytes` (allocated), `free_bytes` (free but held in the arenas),
    `mmapped_bytes` (large blocks mapped on their own); None without glibc's `mallinfo2`."""
    function = getattr(_LIBC, "mallinfo2", None) if _LIBC is not None else None
    if function is None:
        return None
    function.restype = _MallInfo2
    info = function()
    return {
        "arena_bytes": int(info.arena),
        "in_use_bytes": int(info.uordblks),
        "free_bytes": int(info.fordblks),
        "mmapped_bytes": int(info.hblkhd),
        "releasable_top_bytes": int(info.keepcost),
    }


def trim_malloc(warehouse: Warehouse | None = None) -> dict[str, Any]:
    """`malloc_trim(0)`: glibc hands the free pages of every arena back to the system; with the
    embedded engine's `warehouse`, `SYSTEM JEMALLOC PURGE` too: its jemalloc keeps the pages queries and
    merges freed for `dirty_decay_ms` (5 s in chDB's build), 110-180 MiB of a soak's resident set at
    any moment (docs/runbook.md, "Memory"). Returns the resident bytes before and after, whether glibc
    trimmed (not without glibc) and whether the engine purged."""
    before = process_memory().get("rss_bytes", 0)
    function = getattr(_LIBC, "malloc_trim", None) if _LIBC is not None else None
    trimmed = function is not None
    if function is not None:
        function.argtypes = [ctypes.c_size_t]
        function(0)
    purged = warehouse is not None and warehouse.embedded and _purge_engine(warehouse)
    return {
        "trimmed": trimmed,
        "engine_purged": purged,
        "rss_before_bytes": before,
        "rss_after_bytes": process_memory().get("rss_bytes", 0) if trimmed or purged else before,
    }


def _purge_engine(warehouse: Warehouse) -> bool:
    try:
        warehouse.platform("memory diagnostics").command("SYSTEM JEMALLOC PURGE")
    except Exception:  # a build without jemalloc: nothing to purge
        return False
    return True


def python_heap(top: int = 15) -> dict[str, Any]:
    """The Python heap as tracemalloc sees it: traced bytes now and at peak, and the `top` source
    lines holding most. `tracing: false` (and nothing else) when tracemalloc is off."""
    if not tracemalloc.is_tracing():
        return {"tracing": False}
    current, peak = tracemalloc.get_traced_memory()
    # Unfiltered: filtering the snapshot costs twice what the statistics do.
    statistics = tracemalloc.take_snapshot().statistics("lineno")
    return {
        "tracing": True,
        "traced_bytes": current,
        "traced_peak_bytes": peak,
        "top": [
            {
                "where": f"{stat.traceback[0].filename}:{stat.traceback[0].lineno}",
                "bytes": stat.size,
                "blocks": stat.count,
            }
            for stat in statistics[:top]
        ],
    }


def engine_memory(warehouse: Warehouse) -> dict[str, Any]:
    """The warehouse engine's tracked memory and cache sizes (`system.metrics`). For the embedded
    engine they are this process's; for a server, the server's. An error is reported, not raised."""
    try:
        result = warehouse.platform("memory diagnostics").query(
            "SELECT metric, value FROM system.metrics WHERE metric IN {names:Array(String)}",
            {"names": list(ENGINE_METRICS)},
        )
    except Exception as exc:
        return {"error": str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__}
    found: dict[str, Any] = {
        "embedded": warehouse.embedded,
        "metrics": {str(metric): int(value) for metric, value in result.rows},
    }
    allocator = _engine_allocator(warehouse)
    if allocator is not None:
        found["allocator"] = allocator
    found["in_flight"] = _engine_in_flight(warehouse)
    return found


def _engine_in_flight(warehouse: Warehouse) -> dict[str, int]:
    """What of the tracked memory is transient: running merges and statements (this one included),
    their count and memory (`system.merges`, `system.processes`)."""
    in_flight: dict[str, int] = {}
    for name, table in (("merges", "system.merges"), ("statements", "system.processes")):
        try:
            result = warehouse.platform("memory diagnostics").query(f"SELECT count(), sum(memory_usage) FROM {table}")
            count, used = result.rows[0]
        except Exception:
            continue
        in_flight[name] = int(count)
        in_flight[f"{name}_bytes"] = max(0, int(used or 0))
    return in_flight


_JEMALLOC_TOTALS = re.compile(
    r"Allocated: (?P<allocated>\d+), active: (?P<active>\d+), metadata: (?P<metadata>\d+).*?"
    r"resident: (?P<resident>\d+), mapped: (?P<mapped>\d+), retained: (?P<retained>\d+)"
)


def _engine_allocator(warehouse: Warehouse) -> dict[str, int] | None:
    """The engine's jemalloc totals in bytes (`system.jemalloc_stats`): `allocated` (what the engine
    holds), `active` (its pages), `resident` (what of jemalloc is in RAM, freed-but-kept dirty pages
    included: they go back after `dirty_decay_ms`), `retained` (address space kept, not resident).
    None where the engine has no jemalloc statistics (a build without it, or a server denying it)."""
    try:
        result = warehouse.platform("memory diagnostics").query("SELECT stats FROM system.jemalloc_stats")
        match = _JEMALLOC_TOTALS.search(str(result.rows[0][0])) if result.rows else None
    except Exception:
        return None
    return {name: int(value) for name, value in match.groupdict().items()} if match else None


def cache_memory(cache: Any) -> dict[str, Any]:
    """The result cache: entries and value bytes when it lives in this process."""
    size = getattr(cache, "size_bytes", None)
    if size is None:
        return {"in_process": False}
    return {"in_process": True, "entries": len(cache), "value_bytes": int(size)}


class MallocTrimmer:
    """A daemon thread calling `trim_malloc` every `seconds` (`ANALYTICS_MALLOC_TRIM_SECONDS`; 0:
    never) and purging the embedded engine's jemalloc every `engine_seconds`
    (`ANALYTICS_EMBEDDED_PURGE_SECONDS`; 0: only with the trim). Without them glibc keeps freed pages
    of its arenas (one per thread that allocated) in the resident set, and the engine's jemalloc the
    pages its queries, inserts and merges freed: 110-180 MiB at any moment of a soak, however often
    the trim ran at 30 s, since they come back within seconds. Counts runs, time spent and bytes
    released."""

    def __init__(self, seconds: float, warehouse: Warehouse | None = None, engine_seconds: float = 0.0) -> None:
        self.seconds = seconds
        self.warehouse = warehouse
        self.engine_seconds = engine_seconds if warehouse is not None and warehouse.embedded else 0.0
        self.runs = 0
        self.released_bytes = 0
        self.engine_purges = 0
        self.engine_purge_seconds = 0.0
        self.last: dict[str, Any] | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if (self.seconds <= 0 and self.engine_seconds <= 0) or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._loop, name="malloc-trim", daemon=True)
        self._thread.start()

    def run_once(self) -> dict[str, Any]:
        outcome = trim_malloc(self.warehouse)
        self.runs += 1
        self.released_bytes += max(0, outcome["rss_before_bytes"] - outcome["rss_after_bytes"])
        self.last = {**outcome, "at": time.time()}
        return outcome

    def purge_engine_once(self) -> bool:
        if self.warehouse is None:
            return False
        started = time.perf_counter()
        purged = _purge_engine(self.warehouse)
        self.engine_purge_seconds += time.perf_counter() - started
        self.engine_purges += int(purged)
        return purged

    def _loop(self) -> None:
        periods = [seconds for seconds in (self.seconds, self.engine_seconds) if seconds > 0]
        last_trim = last_purge = time.monotonic()
        while not self._stop.wait(min(periods)):
            now = time.monotonic()
            if self.seconds > 0 and now >= last_trim + self.seconds:
                self.run_once()  # the engine's purge included
                last_trim = last_purge = now
            elif self.engine_seconds > 0 and now >= last_purge + self.engine_seconds:
                self.purge_engine_once()
                last_purge = now

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def status(self) -> dict[str, Any]:
        return {
            "every_seconds": self.seconds,
            "runs": self.runs,
            "released_bytes": self.released_bytes,
            "last": self.last,
            "engine_every_seconds": self.engine_seconds,
            "engine_purges": self.engine_purges,
            "engine_purge_seconds": round(self.engine_purge_seconds, 3),
        }
