"""The consumer against the real NATS server, inside the test process (its own chDB database)."""

from __future__ import annotations

import asyncio
import time

import pytest

from analytics_engine.bus import InProcessBus
from analytics_engine.streaming.checkpoints import CheckpointStore
from analytics_engine.streaming.service import build_consumer
from analytics_engine.tenants.schemas import TenantCreate
from tests.streaming.support import consume, consumer_info, publish, tenant_events


@pytest.fixture
def tenant_id(runtime) -> str:  # type: ignore[no-untyped-def]
    import uuid

    return runtime.tenants.create(TenantCreate(name=f"nats-{uuid.uuid4().hex[:8]}")).id


def count(runtime, tenant_id: str) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    result = runtime.warehouse.query(
        f"SELECT count(), uniqExact(event_id) FROM {runtime.warehouse.table('events')} WHERE tenant_id = {{t:String}}",
        {"t": tenant_id},
    )
    return tuple(result.rows[0])  # type: ignore[return-value]


def rejected(runtime, tenant_id: str) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    return runtime.warehouse.query(
        f"SELECT request_id, reason FROM {runtime.warehouse.table('rejected_events')} "
        "WHERE tenant_id = {t:String} AND source = 'nats' ORDER BY request_id",
        {"t": tenant_id},
    ).rows


def test_events_land_poison_is_rejected_and_the_stream_moves_on(runtime, nats_names, tenant_id):
    bodies = [
        *tenant_events(tenant_id, 12, "first"),
        b"{poison",
        {"tenant_id": "tn_nobody", "event": "x", "distinct_id": "u"},
        {"tenant_id": tenant_id, "event": "x", "distinct_id": "u", "colour": "red"},
        *tenant_events(tenant_id, 13, "after"),
    ]
    seqs = asyncio.run(publish(nats_names["stream"], nats_names["subject"], bodies))
    runtime.bus = InProcessBus()
    consumer = consume(runtime, nats_names, batch_max_events=10)

    assert count(runtime, tenant_id) == (25, 25)
    assert rejected(runtime, tenant_id) == [(f"{nats_names['stream']}:{seqs[14]}", "unknown field(s): colour")]
    ghost = rejected(runtime, "tn_nobody")
    assert ghost == [(f"{nats_names['stream']}:{seqs[13]}", "unknown tenant 'tn_nobody'")]
    assert rejected(runtime, "")[0][1].startswith("malformed JSON")
    # Nothing left pending or awaiting acknowledgement: the poison did not block the stream.
    info = asyncio.run(consumer_info(nats_names["stream"], "ingest"))
    assert (info.num_pending, info.num_ack_pending, info.ack_floor.stream_seq) == (0, 0, seqs[-1])
    assert consumer.status.batches >= 1 and consumer.status.events_committed == 25
    checkpoint = CheckpointStore(runtime.metadata).get(nats_names["stream"], "ingest")
    assert checkpoint is not None
    assert (checkpoint.acked_seq, checkpoint.events_total, checkpoint.rejected_total) == (seqs[-1], 25, 3)
    assert checkpoint.subjects == nats_names["subjects"] and checkpoint.last_error is None
    # One ingest.batch.committed per tenant and batch: the tenant's counts add up.
    mine = [e for e in runtime.bus.published if e.type == "ingest.batch.committed" and e.tenant_id == tenant_id]
    assert sum(e.data["events"] for e in mine) == 25 and sum(e.data["rejected"] for e in mine) == 1
    assert {e.data["source"] for e in mine} == {"nats"} and mine[0].subject == "analytics.ingest.batch.committed.v1"


def test_a_batch_closes_by_time_when_it_is_not_full(runtime, nats_names, tenant_id):
    asyncio.run(publish(nats_names["stream"], nats_names["subject"], tenant_events(tenant_id, 3)))
    started = time.monotonic()
    consumer = consume(runtime, nats_names, batch_max_events=1000, batch_max_seconds=1.0)
    assert consumer.status.batches == 1 and count(runtime, tenant_id) == (3, 3)
    assert time.monotonic() - started >= 1.0  # waited for the batch window, then inserted


def test_a_full_batch_closes_at_once_without_waiting_for_the_window(runtime, nats_names, tenant_id):
    consumer = build_consumer(
        runtime,
        url="nats://127.0.0.1:4222",
        stream=nats_names["stream"],
        subjects=(nats_names["subjects"],),
        durable="ingest",
        batch_max_events=10,
        batch_max_seconds=60,
    )

    async def scenario() -> float:
        await publish(nats_names["stream"], nats_names["subject"], tenant_events(tenant_id, 20))
        consumer.start()
        started = time.monotonic()
        while consumer.status.events_committed < 20 and time.monotonic() - started < 30:
            await asyncio.sleep(0.05)
        elapsed = time.monotonic() - started
        await consumer.stop()
        await runtime.bus.close()
        return elapsed

    assert asyncio.run(scenario()) < 30  # two full batches of 10: no 60 s window waited
    assert count(runtime, tenant_id) == (20, 20)


def test_redelivered_and_republished_messages_count_once(runtime, nats_names, tenant_id):
    with_ids = tenant_events(tenant_id, 5, "with_id")
    for i, body in enumerate(with_ids):
        body["event_id"] = f"00000000-0000-4000-8000-{i:012d}"
    bodies = [*tenant_events(tenant_id, 5, "plain"), *with_ids, *tenant_events(tenant_id, 5, "msg_id")]
    msg_ids = [None] * 10 + [f"order-{i}" for i in range(5)]
    asyncio.run(publish(nats_names["stream"], nats_names["subject"], bodies, msg_ids=msg_ids))
    # The publisher retries the Nats-Msg-Id ones: JetStream's duplicate window drops them.
    asyncio.run(publish(nats_names["stream"], nats_names["subject"], bodies[10:], msg_ids=msg_ids[10:]))
    consume(runtime, nats_names, durable="first")
    assert count(runtime, tenant_id) == (15, 15)
    # A second consumer reads the whole stream again (what a redelivery after a crash does, for every
    # message): the same ids are derived, the writer's duplicate check drops them all.
    second = consume(runtime, nats_names, durable="second")
    assert second.status.batches >= 1 and second.status.events_committed == 0
    assert count(runtime, tenant_id) == (15, 15)


def test_a_failed_insert_is_nacked_and_retried_not_lost(runtime, nats_names, tenant_id):
    asyncio.run(publish(nats_names["stream"], nats_names["subject"], tenant_events(tenant_id, 8)))
    real_write = runtime.writer.write
    calls = {"n": 0}

    def flaky_write(accepted, rejected=()):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("warehouse went away")
        return real_write(accepted, rejected)

    runtime.writer.write = flaky_write  # type: ignore[method-assign]
    try:
        consumer = consume(runtime, nats_names, retry_max_seconds=0.5)
    finally:
        runtime.writer.write = real_write  # type: ignore[method-assign]
    assert calls["n"] >= 2 and count(runtime, tenant_id) == (8, 8)
    info = asyncio.run(consumer_info(nats_names["stream"], "ingest"))
    assert info.delivered.consumer_seq >= 16 and info.num_ack_pending == 0  # each message delivered twice
    checkpoint = CheckpointStore(runtime.metadata).get(nats_names["stream"], "ingest")
    assert checkpoint is not None and "warehouse went away" in (checkpoint.last_error or "")
    assert consumer.status.events_committed == 8


def test_unreachable_nats_is_retried_with_backoff_not_fatal(runtime):
    consumer = build_consumer(runtime, url="nats://127.0.0.1:1", stream="NEVER", retry_max_seconds=0.4)

    async def scenario() -> tuple[str, int, float]:
        consumer.start()
        await asyncio.sleep(2.0)
        state, attempts = consumer.status.state, consumer.status.connect_attempts
        started = time.monotonic()
        await consumer.stop()
        return state, attempts, time.monotonic() - started

    state, attempts, stop_seconds = asyncio.run(scenario())
    assert state in ("waiting_for_nats", "connecting") and attempts >= 3
    assert "NATS is not reachable at nats://127.0.0.1:1" in (consumer.status.last_error or "")
    assert "retrying in" in (consumer.status.last_error or "")
    assert stop_seconds < 3 and consumer.status.state == "stopped"


def test_a_lost_connection_is_reconnected_and_consumption_resumes(runtime, nats_names, tenant_id):
    consumer = build_consumer(
        runtime,
        url="nats://127.0.0.1:4222",
        stream=nats_names["stream"],
        subjects=(nats_names["subjects"],),
        durable="ingest",
        batch_max_seconds=0.2,
        retry_max_seconds=0.5,
    )

    async def wait_committed(n: int) -> None:
        deadline = time.monotonic() + 30
        while consumer.status.events_committed < n and time.monotonic() < deadline:
            await asyncio.sleep(0.05)

    async def scenario() -> None:
        await publish(nats_names["stream"], nats_names["subject"], tenant_events(tenant_id, 5, "before"))
        consumer.start()
        await wait_committed(5)
        await consumer.nc.close()  # the connection drops under the running consumer
        await publish(nats_names["stream"], nats_names["subject"], tenant_events(tenant_id, 6, "after"))
        await wait_committed(11)
        await consumer.stop()
        await runtime.bus.close()

    asyncio.run(scenario())
    assert consumer.status.events_committed == 11 and count(runtime, tenant_id) == (11, 11)
    assert consumer.status.connect_attempts >= 2 and "reconnecting" in (consumer.status.last_error or "")


def test_status_shows_checkpoints_even_when_nats_cannot_be_asked(runtime):
    from analytics_engine.streaming.service import ingest_status

    store = CheckpointStore(runtime.metadata)
    store.register("OFFLINE", "ingest", "offline.>")
    store.record_batch("OFFLINE", "ingest", acked_seq=42, events=40, rejected=2, throughput=3.5)
    store.record_error("OFFLINE", "ingest", "insert failed")
    report = asyncio.run(ingest_status(runtime.metadata, "nats://127.0.0.1:1"))
    assert report.nats_reachable is False and "nats://127.0.0.1:1" in (report.nats_error or "")
    row = next(c for c in report.consumers if c.stream == "OFFLINE")
    assert (row.acked_seq, row.events_total, row.rejected_total, row.batches_total) == (42, 40, 2, 1)
    assert row.lag is None and row.last_error == "insert failed" and row.throughput == 3.5


def test_batch_form_messages_count_their_events(runtime, nats_names, tenant_id):
    bodies = [
        {"tenant_id": tenant_id, "events": [{"event": "bulk", "distinct_id": f"u{i}"} for i in range(15)]},
        {"tenant_id": tenant_id, "events": [{"event": "bulk", "distinct_id": "x"}, {"event": "", "distinct_id": "y"}]},
    ]
    asyncio.run(publish(nats_names["stream"], nats_names["subject"], bodies))
    consumer = consume(runtime, nats_names, batch_max_events=10)
    assert count(runtime, tenant_id) == (16, 16) and consumer.status.events_committed == 16
    reasons = [reason for _, reason in rejected(runtime, tenant_id)]
    assert reasons == ["'event' is required and must be a non-empty string"]


def test_a_batch_of_many_event_messages_stays_near_its_event_limit(runtime, nats_names, tenant_id):
    """A pull asks for the messages that fill the batch, from the events per message seen so far,
    not for `batch_max_events` messages (issue 26: at 100 events a message, every batch's first pull
    asked a hundred batches' worth, which NATS pushed into this process until it dropped the
    connection as a slow consumer)."""
    bodies = [
        {"tenant_id": tenant_id, "events": [{"event": "bulk", "distinct_id": f"u{m}-{i}"} for i in range(50)]}
        for m in range(40)
    ]
    asyncio.run(publish(nats_names["stream"], nats_names["subject"], bodies))
    consumer = consume(runtime, nats_names, batch_max_events=100, max_insert_events=100)
    assert count(runtime, tenant_id) == (2000, 2000)
    inserts = [events for _, events in consumer.status.recent]
    assert sum(inserts) == 2000 and max(inserts) <= 150, inserts  # a message is never split


def test_a_pull_brings_at_most_max_bytes(runtime, nats_names):
    """One open request at a time, bounded by `max_bytes`: what NATS sends ahead is bounded."""
    import nats as nats_client

    from analytics_engine.streaming.consumer import Puller
    from tests.streaming.support import NATS_URL

    asyncio.run(publish(nats_names["stream"], nats_names["subject"], [b"x" * 20_000 for _ in range(30)]))

    async def scenario() -> tuple[int, int, int]:
        nc = await nats_client.connect(NATS_URL)
        js = nc.jetstream()
        await js.add_consumer(nats_names["stream"], durable_name="pull", ack_policy="explicit")
        puller = Puller(nc, nats_names["stream"], "pull", max_bytes=100_000)
        await puller.start()
        try:
            first = await puller.pull(30, 1.0)
            await asyncio.sleep(0.3)  # nothing more arrives: the request ended at its byte limit
            buffered = len(puller.buffer)
            rest = []
            while len(first) + len(rest) < 30:
                got = await puller.pull(30, 1.0)
                assert got, "the stream holds 30 messages"
                rest += got
            return len(first), buffered, puller.requests
        finally:
            await puller.stop()
            await nc.close()

    first, buffered, requests = asyncio.run(scenario())
    assert 1 <= first <= 5 and buffered == 0  # 100 kB of 20 kB messages
    assert requests >= 6  # the 30 messages came in several bounded requests
