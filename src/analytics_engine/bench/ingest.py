"""`bench ingest`: HTTP ingest throughput against a raw JSONEachRow insert of the same rows."""

from __future__ import annotations

import asyncio
import gc
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import orjson

from analytics_engine.bench.common import print_table, server_process, write_result
from analytics_engine.datagen.generator import GeneratorSpec, generate_events
from analytics_engine.datagen.loader import GENERATOR_LIMITS
from analytics_engine.ingest.validation import EVENT_COLUMNS, validate_events
from analytics_engine.warehouse.client import Warehouse
from analytics_engine.warehouse.migrations import migrate


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


def raw_baseline(events: list[dict[str, Any]], batch: int) -> float:
    """The same rows, already rendered as JSONEachRow, inserted straight into chDB in the same
    batch size: what the warehouse alone costs, with no HTTP, validation or group commit."""
    folder = Path(tempfile.mkdtemp(prefix="ae-bench-raw-"))
    warehouse = Warehouse(f"chdb://{folder}", "bench_raw")
    migrate(warehouse)
    lines = [e.line for e in validate_events(events, "raw", GENERATOR_LIMITS).accepted]
    blocks = [b"\n".join(lines[i : i + batch]) for i in range(0, len(lines), batch)]
    table = warehouse.table("events")
    started = time.perf_counter()
    for block in blocks:
        warehouse.insert_json_rows(table, EVENT_COLUMNS, block)
    elapsed = time.perf_counter() - started
    assert warehouse.query(f"SELECT count() FROM {table}").scalar() == len(lines)
    warehouse.close()
    return elapsed


def run(events: int, batch: int, concurrency: int, with_ids: bool) -> dict[str, Any]:
    gc.collect()
    generated = make_events(events, with_ids)
    bodies = [orjson.dumps(generated[i : i + batch]) for i in range(0, len(generated), batch)]
    with server_process() as server:
        _, key = server.tenant_key("bench")
        http_seconds = asyncio.run(send_all(server.url, key, bodies, concurrency))
        stored = httpx.get(
            f"{server.url}/v1/events/count", headers={"Authorization": f"Bearer {key}"}, timeout=60
        ).json()["count"]
    if stored != events:
        raise RuntimeError(f"HTTP ingest stored {stored} of {events} events")
    baseline_seconds = raw_baseline(generated, batch)
    http_rate = events / http_seconds
    raw_rate = events / baseline_seconds
    result = {
        "events": events,
        "batch": batch,
        "concurrency": concurrency,
        "client_event_ids": with_ids,
        "http_events_per_second": round(http_rate),
        "raw_insert_events_per_second": round(raw_rate),
        "ratio": round(http_rate / raw_rate, 3),
        "targets": {"http_events_per_second": 100_000, "ratio": 0.3},
    }
    print_table(
        "bench ingest",
        ["path", "seconds", "events/s"],
        [
            ["HTTP /v1/events", http_seconds, http_rate],
            ["raw JSONEachRow insert (baseline)", baseline_seconds, raw_rate],
            ["ratio HTTP / raw", "", http_rate / raw_rate],
        ],
    )
    result["file"] = str(write_result("ingest", result))
    return result
