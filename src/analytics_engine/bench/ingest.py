"""`bench ingest`: HTTP ingest throughput against a raw JSONEachRow insert of the same rows.

Besides the two rates it reports what the server spent: its CPU per event while the events were sent,
split by thread kind (chDB names its threads: `MergeMutate` background merges, `Unknown` the threads
that push each insert through the materialized views on `events`, `ThreadPool` part writing and
parsing helpers, `python` the Python threads, which also run the insert into `events` itself), the
events per warehouse insert that group commit formed, and the load average. `--drop-view` (a
diagnostic) serves and baselines a warehouse without the named views on `events`, to measure what
each one costs ingest.
"""

from __future__ import annotations

import asyncio
import gc
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import orjson

from analytics_engine.bench.common import print_table, server_process, write_result
from analytics_engine.datagen.generator import GeneratorSpec, generate_events
from analytics_engine.datagen.loader import GENERATOR_LIMITS
from analytics_engine.ingest.validation import EVENT_COLUMNS, event_row, validate_events
from analytics_engine.ingest.writer import EVENTS_INSERT_SETTINGS
from analytics_engine.warehouse.client import Warehouse
from analytics_engine.warehouse.migrations import migrate

# The materialized views fed by every insert into `events` (what `--drop-view` may name).
# `--materialize N`: the first N of these generated properties as materialized columns of events
# (analytics_engine/materialized), on the server's warehouse and the raw baseline's: what they cost ingest.
MATERIALIZABLE: tuple[tuple[str, str], ...] = (
    ("plan", "string"),
    ("country", "string"),
    ("browser", "string"),
    ("path", "string"),
    ("amount", "number"),
)
EVENT_VIEWS = (
    "event_ids_mv",
    "metrics_daily_mv",
    "metrics_monthly_mv",
    "persons_mv",
    "person_properties_mv",
    "person_weeks_mv",
    "person_hours_mv",
    "taxonomy_properties_mv",
    "metrics_by_property_mv",
    "metrics_by_property_days_mv",
)


def _read_stat(path: str) -> tuple[str, list[str]] | None:
    """(name, fields after the name) of a /proc stat file; None where it cannot be read."""
    try:
        with open(path) as handle:
            stat = handle.read()
    except OSError:
        return None
    return stat[stat.index("(") + 1 : stat.rindex(")")], stat[stat.rindex(")") + 2 :].split()


def _tick() -> int:
    return os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def thread_cpu(pid: int) -> dict[str, float]:
    """CPU seconds (user + system) of a Linux process's threads by thread name without its trailing
    digits; empty where /proc is not there."""
    seconds: defaultdict[str, float] = defaultdict(float)
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return {}
    for task in tasks:
        stat = _read_stat(f"/proc/{pid}/task/{task}/stat")
        if stat is None:
            continue  # the thread ended meanwhile
        name, fields = stat
        seconds[name.rstrip("0123456789") or "?"] += (int(fields[11]) + int(fields[12])) / _tick()
    return dict(seconds)


def kernel_seconds(pid: int) -> float:
    """CPU seconds a Linux process (all its threads) spent in the kernel; 0.0 where /proc is not there.
    A large share points at the machine rather than the code: on one machine, file creation (every
    insert writes parts) came to cost ~1 ms of kernel CPU per file until the page cache was dropped."""
    stat = _read_stat(f"/proc/{pid}/stat")
    return int(stat[1][12]) / _tick() if stat else 0.0


def cpu_spent(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """CPU seconds per thread kind between two `thread_cpu` readings, largest first (threads that ended
    in between are not counted: chDB keeps its pools)."""
    spent = {name: after[name] - before.get(name, 0.0) for name in after}
    return {name: round(value, 2) for name, value in sorted(spent.items(), key=lambda kv: -kv[1]) if value > 0}


def insert_batches(metrics_text: str) -> tuple[int, int]:
    """(inserts, events) from the server's `analytics_ingest_batch_events` histogram."""
    found = {}
    for name in ("count", "sum"):
        match = re.search(rf"^analytics_ingest_batch_events_{name} (\S+)$", metrics_text, re.MULTILINE)
        found[name] = int(float(match.group(1))) if match else 0
    return found["count"], found["sum"]


def add_materialized(warehouse: Warehouse, count: int) -> None:
    """Add the first `count` MATERIALIZABLE columns to events (computed at every insert)."""
    from analytics_engine.materialized.columns import add_column_sql

    for path, value_type in MATERIALIZABLE[:count]:
        warehouse.command(add_column_sql(warehouse.table("events"), path, value_type))  # type: ignore[arg-type]


def drop_views(warehouse: Warehouse, views: list[str]) -> None:
    """Drop materialized views on `events` by name (diagnostic runs only: the folder is thrown away)."""
    unknown = sorted(set(views) - set(EVENT_VIEWS))
    if unknown:
        raise ValueError(f"not a view on events: {', '.join(unknown)} (one of {', '.join(EVENT_VIEWS)})")
    for view in views:
        warehouse.command(f"DROP VIEW IF EXISTS {warehouse.table(view)}")


def prepare_without_views(folder: Path, views: list[str], materialize: int = 0) -> None:
    """Migrate the server's warehouse in `folder`, drop `views` and add `materialize` columns, in a
    child process: chDB opens one data folder per process, and this one opens its own for the baseline."""
    code = (
        "import sys; from pathlib import Path; from analytics_engine.bench.ingest import _drop_in; "
        "_drop_in(Path(sys.argv[1]), sys.argv[3:], int(sys.argv[2]))"
    )
    subprocess.run([sys.executable, "-c", code, str(folder), str(materialize), *views], check=True, capture_output=True)


def _drop_in(folder: Path, views: list[str], materialize: int = 0) -> None:
    from analytics_engine.config import Settings

    settings = Settings(data_dir=folder, warehouse_dsn=None)
    warehouse = Warehouse(str(settings.warehouse_dsn), settings.warehouse_database)
    migrate(warehouse)
    drop_views(warehouse, views)
    add_materialized(warehouse, materialize)
    warehouse.close()


def cpu_bound_ceiling(cores: int, events: int, cpu_seconds: float) -> float:
    """Events/s if every core did nothing but this at the measured CPU per event (server and client):
    no amount of overlap gets past it, only less CPU per event."""
    return cores * events / cpu_seconds


def make_events(count: int, with_ids: bool) -> list[dict[str, Any]]:
    events = list(generate_events(GeneratorSpec(events=count, days=30, seed=99)))
    if not with_ids:
        for event in events:
            event.pop("event_id")
    return events


async def send_all(url: str, key: str, bodies: list[bytes], concurrency: int) -> float:
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

    async def worker(client: httpx.AsyncClient) -> None:
        while not queue.empty():
            body = queue.get_nowait()
            response = await client.post("/v1/events", content=body, headers=headers)
            response.raise_for_status()

    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as client:
        started = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
        return time.perf_counter() - started


def raw_baseline(events: list[dict[str, Any]], batch: int, without: Sequence[str] = (), materialize: int = 0) -> float:
    """The same rows, already rendered as JSONEachRow, inserted straight into chDB in the same
    batch size: what the warehouse alone costs, with no HTTP, validation or group commit."""
    folder = Path(tempfile.mkdtemp(prefix="ae-bench-raw-"))
    warehouse = Warehouse(f"chdb://{folder}", "bench_raw")
    migrate(warehouse)
    drop_views(warehouse, list(without))
    add_materialized(warehouse, materialize)
    # The rows the server writes, as JSONEachRow objects (the baseline; the server sends the
    # same values as JSONCompactEachRow arrays, which ClickHouse reads slightly cheaper).
    lines = [orjson.dumps(event_row(e.line)) for e in validate_events(events, "raw", GENERATOR_LIMITS).accepted]
    blocks = [b"\n".join(lines[i : i + batch]) for i in range(0, len(lines), batch)]
    table = warehouse.table("events")
    started = time.perf_counter()
    for block in blocks:
        warehouse.insert_json_rows(table, EVENT_COLUMNS, block, settings=EVENTS_INSERT_SETTINGS)
    elapsed = time.perf_counter() - started
    assert warehouse.query(f"SELECT count() FROM {table}").scalar() == len(lines)
    warehouse.close()
    return elapsed


def run(
    events: int,
    batch: int,
    concurrency: int,
    with_ids: bool,
    without: Sequence[str] = (),
    materialize: int = 0,
) -> dict[str, Any]:
    without = list(without)
    gc.collect()
    generated = make_events(events, with_ids)
    bodies = [orjson.dumps(generated[i : i + batch]) for i in range(0, len(generated), batch)]
    folder = Path(tempfile.mkdtemp(prefix="ae-bench-"))
    if without or materialize:
        prepare_without_views(folder, without, materialize)
    load_before = os.getloadavg()
    with server_process(data_dir=folder) as server:
        _, key = server.tenant_key("bench")
        cpu_before, client_before = thread_cpu(server.process.pid), time.process_time()
        kernel_before = kernel_seconds(server.process.pid)
        http_seconds = asyncio.run(send_all(server.url, key, bodies, concurrency))
        server_cpu = cpu_spent(cpu_before, thread_cpu(server.process.pid))
        server_kernel = kernel_seconds(server.process.pid) - kernel_before
        client_cpu = time.process_time() - client_before
        load_after = os.getloadavg()
        stored = httpx.get(
            f"{server.url}/v1/events/count", headers={"Authorization": f"Bearer {key}"}, timeout=60
        ).json()["count"]
        inserts, inserted = insert_batches(httpx.get(f"{server.url}/metrics", timeout=60).text)
    if stored != events:
        raise RuntimeError(f"HTTP ingest stored {stored} of {events} events")
    baseline_seconds = raw_baseline(generated, batch, without, materialize)
    http_rate = events / http_seconds
    raw_rate = events / baseline_seconds
    cpu_total = sum(server_cpu.values())
    cores = os.cpu_count() or 1
    ceiling = cpu_bound_ceiling(cores, events, cpu_total + client_cpu) if server_cpu else None
    result = {
        "events": events,
        "batch": batch,
        "concurrency": concurrency,
        "client_event_ids": with_ids,
        "dropped_views": without,
        "materialized_columns": [f"{path}:{kind}" for path, kind in MATERIALIZABLE[:materialize]],
        "http_events_per_second": round(http_rate),
        "raw_insert_events_per_second": round(raw_rate),
        "ratio": round(http_rate / raw_rate, 3),
        "server_cpu_seconds": round(cpu_total, 2),
        "server_cpu_us_per_event": round(cpu_total / events * 1e6, 1) if server_cpu else None,
        "server_cpu_by_thread": server_cpu,
        "server_kernel_share": round(server_kernel / cpu_total, 3) if cpu_total else None,
        "client_cpu_us_per_event": round(client_cpu / events * 1e6, 1),
        "cpu_bound_ceiling_events_per_second": round(ceiling) if ceiling else None,
        "warehouse_inserts": inserts,
        "events_per_insert": round(inserted / inserts) if inserts else None,
        "load_average": {"before": [round(x, 2) for x in load_before], "after": [round(x, 2) for x in load_after]},
        "targets": {"http_events_per_second": 100_000, "ratio": 0.3},
    }
    rows: list[list[Any]] = [
        ["HTTP /v1/events", http_seconds, http_rate],
        ["raw JSONEachRow insert (baseline)", baseline_seconds, raw_rate],
        ["ratio HTTP / raw", "", http_rate / raw_rate],
    ]
    if server_cpu:
        split = ", ".join(f"{name} {value / events * 1e6:.0f}" for name, value in server_cpu.items())
        rows.append(
            ["server CPU per event (us)", f"{cpu_total:.1f} s CPU", f"{cpu_total / events * 1e6:.1f} ({split})"]
        )
        rows.append(["of which in the kernel", f"{server_kernel:.1f} s CPU", f"{server_kernel / cpu_total:.0%}"])
    rows.append(["bench client CPU per event (us)", f"{client_cpu:.1f} s CPU", f"{client_cpu / events * 1e6:.1f}"])
    if ceiling:
        rows.append([f"ceiling if all {cores} cores did only this", "", ceiling])
    rows.append(["events per warehouse insert", f"{inserts} inserts", result["events_per_insert"]])
    rows.append(["load average (1 min) before / after", "", f"{load_before[0]:.2f} / {load_after[0]:.2f}"])
    title = "bench ingest" + (f" (without {', '.join(without)})" if without else "")
    title += f" ({materialize} materialized columns)" if materialize else ""
    print_table(title, ["path", "seconds", "events/s"], rows)
    result["file"] = str(write_result("ingest", result))
    return result
