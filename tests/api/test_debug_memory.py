"""GET /v1/admin/debug/memory and POST /v1/admin/debug/memory/trim (docs/runbook.md "Memory"); the
memory helpers behind them; the embedded engine's cache caps reaching the engine."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

from fastapi.testclient import TestClient

from analytics_engine.config import Settings
from analytics_engine.observability import memory


def test_the_memory_route_reports_each_part(client: TestClient, admin_headers: dict[str, str]) -> None:
    answer = client.get("/v1/admin/debug/memory", headers=admin_headers)
    assert answer.status_code == 200, answer.text
    report = answer.json()
    process = report["process"]
    assert process["rss_bytes"] > 10 * 1024 * 1024
    assert process["rss_peak_bytes"] >= process["rss_bytes"]
    assert process["rss_anon_bytes"] + process["rss_file_bytes"] <= process["rss_bytes"] + 1024 * 1024
    assert report["malloc"]["in_use_bytes"] > 0  # glibc here
    # The app's start hook runs the periodic trim at the default period.
    assert report["malloc_trim"]["every_seconds"] == 30.0
    assert report["python"] == {"tracing": False}  # off unless ANALYTICS_MEMORY_TRACEMALLOC
    metrics = report["engine"]["metrics"]
    assert set(metrics) <= set(memory.ENGINE_METRICS)
    assert metrics["MemoryTracking"] > 0 and "MarkCacheBytes" in metrics
    allocator = report["engine"]["allocator"]  # chDB's jemalloc
    assert 0 < allocator["allocated"] <= allocator["active"] <= allocator["resident"] <= allocator["mapped"]
    assert report["result_cache"]["in_process"] is True and report["result_cache"]["entries"] >= 0


def test_the_memory_routes_are_for_the_admin(client: TestClient) -> None:
    assert client.get("/v1/admin/debug/memory").status_code == 401
    assert client.post("/v1/admin/debug/memory/trim").status_code == 401
    assert client.get("/v1/admin/debug/memory", headers={"Authorization": "Bearer nope"}).status_code == 401


def test_trim_hands_freed_pages_back(client: TestClient, admin_headers: dict[str, str]) -> None:
    # Many small blocks freed in the middle of the heap stay resident until malloc_trim.
    blocks = [bytearray(512) for _ in range(200_000)]
    keep = blocks[-1]
    del blocks
    answer = client.post("/v1/admin/debug/memory/trim", headers=admin_headers).json()
    assert answer["trimmed"] is True and answer["engine_purged"] is True
    assert answer["rss_after_bytes"] <= answer["rss_before_bytes"]
    status = client.get("/v1/admin/debug/memory", headers=admin_headers).json()["malloc_trim"]
    assert status["runs"] >= 1 and status["last"]["trimmed"] is True
    assert keep is not None


def test_trim_purges_the_engines_freed_pages(client: TestClient, admin_headers: dict[str, str], runtime) -> None:  # type: ignore[no-untyped-def]
    # A query that allocates and frees much: jemalloc keeps the freed pages resident (dirty) for seconds.
    runtime.warehouse.platform("memory diagnostics").query(
        "SELECT count() FROM (SELECT number % 3000000 AS k, any(toString(number)) FROM numbers(6000000) GROUP BY k)"
    )
    before = memory.engine_memory(runtime.warehouse)["allocator"]
    assert before["resident"] - before["active"] > 16 * 1024 * 1024  # dirty pages held
    assert client.post("/v1/admin/debug/memory/trim", headers=admin_headers).json()["engine_purged"] is True
    after = memory.engine_memory(runtime.warehouse)["allocator"]
    assert after["resident"] - after["active"] < (before["resident"] - before["active"]) / 2


def test_python_heap_names_the_lines_holding_most() -> None:
    assert memory.python_heap() == {"tracing": False}
    tracemalloc.start()
    try:
        held = [str(number) * 20 for number in range(50_000)]  # the line below the top one
        heap = memory.python_heap(top=3)
    finally:
        tracemalloc.stop()
    assert heap["tracing"] is True and heap["traced_bytes"] >= 2_000_000
    assert heap["top"][0]["where"].endswith(f"{Path(__file__).name}:{held_line()}")
    assert heap["top"][0]["bytes"] >= 2_000_000 and heap["top"][0]["blocks"] >= 50_000
    assert len(held) == 50_000


def held_line() -> int:
    source = Path(__file__).read_text().splitlines()
    return next(n for n, line in enumerate(source, 1) if "held = [str(number)" in line)


def run_until_twice(trimmer: memory.MallocTrimmer, count: Callable[[], int]) -> None:
    """Start the trimmer, wait (at most 5 s) until `count` reaches 2, stop it."""
    trimmer.start()
    try:
        deadline = time.monotonic() + 5
        while count() < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        trimmer.stop()


def test_the_trimmer_runs_on_its_period_and_stops() -> None:
    trimmer = memory.MallocTrimmer(0.05)
    run_until_twice(trimmer, lambda: trimmer.runs)
    assert trimmer.runs >= 2 and trimmer.status()["last"]["trimmed"] is True
    runs = trimmer.runs
    time.sleep(0.15)
    assert trimmer.runs == runs  # stopped
    never = memory.MallocTrimmer(0)
    never.start()
    assert never.status()["runs"] == never.status()["engine_purges"] == 0 and never.status()["last"] is None


def test_the_engine_is_purged_on_its_own_shorter_period(runtime) -> None:  # type: ignore[no-untyped-def]
    trimmer = memory.MallocTrimmer(30, runtime.warehouse, engine_seconds=0.05)
    run_until_twice(trimmer, lambda: trimmer.engine_purges)
    status = trimmer.status()
    assert status["engine_purges"] >= 2 and status["runs"] == 0  # the 30 s trim did not come
    assert status["engine_every_seconds"] == 0.05 and status["engine_purge_seconds"] > 0
    # Not with a server's memory: a warehouse that is not embedded is never purged from here.
    assert memory.MallocTrimmer(30, _NotEmbedded(), engine_seconds=0.05).engine_seconds == 0.0  # type: ignore[arg-type]


class _NotEmbedded:
    embedded = False


def test_the_engine_starts_with_the_cache_caps(tmp_path: Path) -> None:
    """In a child process (one embedded engine per process): the settings' caps are the engine's
    server settings."""
    settings = Settings(data_dir=tmp_path, embedded_mark_cache_bytes=12_345_678, embedded_query_condition_cache_bytes=0)
    options = settings.embedded_engine_options
    assert options["mark_cache_size"] == 12_345_678 and options["query_condition_cache_size"] == 0
    script = textwrap.dedent(
        f"""
        import json
        from analytics_engine.warehouse.client import Warehouse
        warehouse = Warehouse({str(settings.warehouse_dsn)!r}, "default", engine_options={options!r})
        rows = warehouse.platform("test").query(
            "SELECT name, value FROM system.server_settings WHERE name IN {{names:Array(String)}}",
            {{"names": {list(options)!r}}},
        ).rows
        print(json.dumps(dict(rows)))
        """
    )
    found = json.loads(
        subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120).stdout
    )
    assert found == {name: str(value) for name, value in options.items()}
