"""Helpers for the streaming tests: unique streams on the real NATS server, publishing, inspection."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Iterable
from typing import Any

import nats
import orjson
import pytest

from tests.support.services import NATS, require_service

NATS_URL = "nats://127.0.0.1:4222"


@pytest.fixture
def nats_names():  # type: ignore[no-untyped-def]
    """A unique stream and subject prefix for one test; the stream is deleted afterwards."""
    require_service("NATS", NATS)
    tag = uuid.uuid4().hex[:10]
    names = {"stream": f"T_{tag}".upper(), "subject": f"t{tag}", "subjects": f"t{tag}.>"}
    yield names
    asyncio.run(delete_stream(names["stream"]))


async def delete_stream(stream: str) -> None:
    nc = await nats.connect(NATS_URL)
    with contextlib.suppress(Exception):
        await nc.jetstream().delete_stream(stream)
    await nc.close()


async def publish(
    stream: str, subject: str, bodies: Iterable[Any], *, msg_ids: Iterable[str | None] | None = None
) -> list[int]:
    """Create the stream if needed and publish each body (dicts as JSON); returns stream sequences."""
    nc = await nats.connect(NATS_URL)
    js = nc.jetstream()
    try:
        await js.stream_info(stream)
    except nats.js.errors.NotFoundError:
        await js.add_stream(name=stream, subjects=[f"{subject}.>"])
    seqs = []
    bodies = list(bodies)
    ids = list(msg_ids) if msg_ids is not None else [None] * len(bodies)
    for body, msg_id in zip(bodies, ids, strict=True):
        data = body if isinstance(body, bytes) else orjson.dumps(body)
        ack = await js.publish(f"{subject}.in", data, headers={"Nats-Msg-Id": msg_id} if msg_id else None)
        seqs.append(ack.seq)
    await nc.close()
    return seqs


async def consumer_info(stream: str, durable: str) -> Any:
    nc = await nats.connect(NATS_URL)
    try:
        return await nc.jetstream().consumer_info(stream, durable)
    finally:
        await nc.close()


def tenant_events(tenant_id: str, count: int, prefix: str = "e", **extra: Any) -> list[dict[str, Any]]:
    return [{"tenant_id": tenant_id, "event": prefix, "distinct_id": f"u{i}", **extra} for i in range(count)]


def consume(runtime, names, timeout: float = 60, **overrides):  # type: ignore[no-untyped-def]
    """Run the NATS consumer over the test's stream until it is idle; returns the consumer."""
    from analytics_engine.streaming.service import build_consumer

    consumer = build_consumer(
        runtime,
        url="nats://127.0.0.1:4222",
        stream=names["stream"],
        subjects=(names["subjects"],),
        durable=overrides.pop("durable", "ingest"),
        batch_max_seconds=overrides.pop("batch_max_seconds", 0.3),
        **overrides,
    )

    async def go() -> None:
        await asyncio.wait_for(consumer.run(until_idle=True), timeout)
        await runtime.bus.close()

    asyncio.run(go())
    return consumer
