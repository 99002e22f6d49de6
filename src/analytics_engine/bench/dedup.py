"""`bench dedup`: what reading without FINAL saves, and what the insert-time duplicate check costs.

Reads: a trends-shaped query (events and unique users per day for one tenant) plain, as we run it,
against the same query with FINAL, which a dedup-at-read design would pay on every read.
Writes: inserting batches of client-id events through `EventWriter` (the duplicate look-up in
`event_ids`, then the insert) against inserting the same rows without the look-up.
"""

from __future__ import annotations

import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from analytics_engine.bench.common import print_table, write_result
from analytics_engine.datagen.loader import GENERATOR_LIMITS
from analytics_engine.ingest.validation import validate_events
from analytics_engine.ingest.writer import EventWriter, insert_events
from analytics_engine.warehouse.client import Warehouse
from analytics_engine.warehouse.migrations import migrate

TENANT = "tn_bench"
DAILY = (
    "SELECT toStartOfDay(timestamp, 'UTC') AS day, count(), uniq(distinct_id) FROM {table} {final} "
    "WHERE tenant_id = {{tenant_id:String}} GROUP BY day ORDER BY day"
)


def fill(warehouse: Warehouse, rows: int) -> None:
    """`rows` events over 180 days for one tenant, made by ClickHouse itself (fast)."""
    warehouse.command(
        f"INSERT INTO {warehouse.table('events')} (tenant_id, event, distinct_id, timestamp, event_id, properties) "
        "SELECT {tenant_id:String}, ['pageview','signup','purchase'][number % 3 + 1], "
        "concat('u', toString(number % 50000)), now64(3) - toIntervalSecond(number % 15552000), "
        'generateUUIDv4(number), \'{"plan": "pro"}\' FROM numbers({rows:UInt64})',
        {"tenant_id": TENANT, "rows": rows},
    )


def timed(function: Callable[[], object], repeat: int) -> list[float]:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def run(rows: int, batches: int, batch_size: int, repeat: int = 7) -> dict[str, Any]:
    warehouse = Warehouse(f"chdb://{Path(tempfile.mkdtemp(prefix='ae-bench-dedup-'))}", "bench_dedup")
    migrate(warehouse)
    fill(warehouse, rows)
    table = warehouse.table("events")
    plain = timed(lambda: warehouse.query(DAILY.format(table=table, final=""), {"tenant_id": TENANT}), repeat)
    final = timed(lambda: warehouse.query(DAILY.format(table=table, final="FINAL"), {"tenant_id": TENANT}), repeat)

    writer = EventWriter(warehouse)
    made = [
        {"event": "retry", "distinct_id": f"u{i}", "event_id": str(uuid.uuid4())} for i in range(batches * batch_size)
    ]
    accepted = validate_events(made, TENANT, GENERATOR_LIMITS).accepted
    chunks = [accepted[i : i + batch_size] for i in range(0, len(accepted), batch_size)]
    started = time.perf_counter()
    for chunk in chunks:
        writer.write(chunk)
    checked = time.perf_counter() - started
    # The same rows again with fresh ids, inserted without the look-up.
    again = validate_events(
        [{k: v for k, v in e.items() if k != "event_id"} for e in made], TENANT, GENERATOR_LIMITS
    ).accepted
    started = time.perf_counter()
    for i in range(0, len(again), batch_size):
        insert_events(warehouse, again[i : i + batch_size])
    unchecked = time.perf_counter() - started
    for chunk in chunks:  # a full retry of every batch: nothing may be added
        writer.write(chunk)
    retried = warehouse.query(f"SELECT count() FROM {table} WHERE event = 'retry'").scalar()
    warehouse.close()

    result = {
        "rows": rows,
        "read_plain_p50_ms": round(statistics.median(plain), 2),
        "read_final_p50_ms": round(statistics.median(final), 2),
        "final_over_plain": round(statistics.median(final) / statistics.median(plain), 2),
        "insert_checked_events_per_s": round(len(accepted) / checked),
        "insert_unchecked_events_per_s": round(len(accepted) / unchecked),
        "check_cost_ratio": round(unchecked / checked, 3),
        "retried_batches_rows": retried,
        "retried_batches_expected": 2 * len(accepted),
    }
    print_table(
        f"bench dedup ({rows:,} events)",
        ["measure", "value"],
        [
            ["daily trend, plain read p50 (ms)", result["read_plain_p50_ms"]],
            ["daily trend, FINAL read p50 (ms)", result["read_final_p50_ms"]],
            ["FINAL / plain", result["final_over_plain"]],
            ["insert with duplicate check (events/s)", result["insert_checked_events_per_s"]],
            ["insert without check (events/s, baseline)", result["insert_unchecked_events_per_s"]],
            ["checked / unchecked throughput", result["check_cost_ratio"]],
            ["rows after retrying every batch (want 2x batch rows)", f"{retried} of {2 * len(accepted)}"],
        ],
    )
    result["file"] = str(write_result("dedup", result))
    return result
