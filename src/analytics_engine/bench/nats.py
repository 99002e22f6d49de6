"""`bench nats`: NATS JetStream ingest end to end (publish -> consumer inside `serve` -> queryable)
against HTTP ingest of the same events into the same server, in the same run."""

from __future__ import annotations

import asyncio
import gc
import time
import uuid
from typing import Any

import httpx
import nats
import orjson
from nats.js.api import StreamConfig
from nats.js.errors import NotFoundError

from analytics_engine.bench.common import print_table, server_process, write_result
from analytics_engine.bench.ingest import make_events, send_all

NATS_URL = "nats://127.0.0.1:4222"


async def publish_all(stream: str, subject: str, messages: list[bytes]) -> float:
    """Core-NATS publishes onto the stream's subject (JetStream stores them), then one flush."""
    nc = await nats.connect(NATS_URL, pending_size=64 * 1024 * 1024)
    js = nc.jetstream()
    try:
        await js.stream_info(stream)  # the consumer in serve created it at start...
    except NotFoundError:  # ...or not yet
        await js.add_stream(StreamConfig(name=stream, subjects=[f"{subject}.>"], max_age=3600))
    started = time.perf_counter()
    target = f"{subject}.in"
    for index, message in enumerate(messages):
        await nc.publish(target, message)
        if index % 5000 == 4999:
            await nc.flush(timeout=60)
    await nc.flush(timeout=60)
    elapsed = time.perf_counter() - started
    info = await js.stream_info(stream)
    await nc.close()
    if info.state.messages != len(messages):
        raise RuntimeError(f"the stream holds {info.state.messages} of {len(messages)} published messages")
    return elapsed


async def delete_stream(stream: str) -> None:
    nc = await nats.connect(NATS_URL)
    try:
        await nc.jetstream().delete_stream(stream)
    finally:
        await nc.close()


def wait_for_count(url: str, key: str, expected: int, started: float, timeout: float = 600) -> float:
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=url, headers=headers, timeout=60) as client:
        while True:
            count = client.get("/v1/events/count").raise_for_status().json()["count"]
            if count >= expected:
                if count != expected:
                    raise RuntimeError(f"stored {count} events, expected {expected}")
                return time.perf_counter() - started
            if time.perf_counter() - started > timeout:
                raise RuntimeError(f"only {count} of {expected} events queryable after {timeout}s")
            time.sleep(0.05)


def run(events: int, batch_max_events: int, http_batch: int, concurrency: int, per_message: int = 1) -> dict[str, Any]:
    gc.collect()
    generated = make_events(events, with_ids=True)
    tag = uuid.uuid4().hex[:8]
    stream, subject = f"BENCH_{tag}".upper(), f"bench{tag}"
    env = {
        "ANALYTICS_NATS_INGEST": "true",
        "ANALYTICS_NATS_URL": NATS_URL,
        "ANALYTICS_NATS_STREAM": stream,
        "ANALYTICS_NATS_SUBJECTS": f"{subject}.>",
        "ANALYTICS_NATS_CONSUMER": "bench",
        "ANALYTICS_NATS_BATCH_MAX_EVENTS": str(batch_max_events),
        "ANALYTICS_NATS_BATCH_MAX_SECONDS": "1",
    }
    try:
        with server_process(extra_env=env) as server:
            nats_tenant, nats_key = server.tenant_key("bench-nats")
            _, http_key = server.tenant_key("bench-http")
            if per_message == 1:
                messages = [orjson.dumps({**event, "tenant_id": nats_tenant}) for event in generated]
            else:  # the batch form: {"tenant_id": ..., "events": [...]}
                messages = [
                    orjson.dumps({"tenant_id": nats_tenant, "events": generated[i : i + per_message]})
                    for i in range(0, events, per_message)
                ]
            started = time.perf_counter()
            publish_seconds = asyncio.run(publish_all(stream, subject, messages))
            nats_seconds = wait_for_count(server.url, nats_key, events, started)
            bodies = [orjson.dumps(generated[i : i + http_batch]) for i in range(0, events, http_batch)]
            http_seconds = asyncio.run(send_all(server.url, http_key, bodies, concurrency))
            wait_for_count(server.url, http_key, events, time.perf_counter())  # all stored, exactly
            status = httpx.get(
                f"{server.url}/v1/admin/ingest/status", headers=server.admin_headers(), timeout=30
            ).json()
    finally:
        asyncio.run(delete_stream(stream))
    nats_rate = events / nats_seconds
    http_rate = events / http_seconds
    consumer: dict[str, object] = next((c for c in status["consumers"] if c["stream"] == stream), {})
    result = {
        "events": events,
        "nats_batch_max_events": batch_max_events,
        "events_per_message": per_message,
        "http_batch": http_batch,
        "http_concurrency": concurrency,
        "publish_seconds": round(publish_seconds, 3),
        "nats_end_to_end_seconds": round(nats_seconds, 3),
        "nats_events_per_second": round(nats_rate),
        "http_events_per_second": round(http_rate),
        "ratio_nats_to_http": round(nats_rate / http_rate, 3),
        "consumer_batches": consumer.get("batches_total"),
        "consumer_lag_after": consumer.get("lag"),
        "targets": {"nats_events_per_second": 50_000},
    }
    print_table(
        "bench nats",
        ["path", "seconds", "events/s"],
        [
            ["NATS publish -> consumer in serve -> queryable", nats_seconds, nats_rate],
            [f"  of which publishing ({per_message} event(s) per message)", publish_seconds, events / publish_seconds],
            [f"HTTP /v1/events (baseline, {http_batch}/request, {concurrency} clients)", http_seconds, http_rate],
            ["ratio NATS / HTTP", "", nats_rate / http_rate],
        ],
    )
    result["file"] = str(write_result("nats", result))
    return result
