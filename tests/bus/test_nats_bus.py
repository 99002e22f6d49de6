"""NatsBus on the real NATS server: the envelope on `analytics.<type>.<version>` in JetStream with
Nats-Msg-Id, delivery to subscribers in other processes (another bus instance), and an outbox that
neither blocks nor loses events while NATS is unreachable."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
import uuid

import nats
import orjson

from analytics_engine.bus.nats import NatsBus, build_bus
from analytics_engine.config import Settings
from tests.support.services import NATS, require_service

URL = "nats://127.0.0.1:4222"


def test_publish_stores_the_envelope_in_jetstream_with_its_id_as_msg_id():
    require_service("NATS", NATS)
    event_type = f"test{uuid.uuid4().hex[:8]}.completed"

    async def scenario():  # type: ignore[no-untyped-def]
        bus = NatsBus(URL)
        event = await bus.publish(event_type, {"rows": 3}, tenant_id="tn_a")
        assert await bus.flush(10)
        nc = await nats.connect(URL)
        js = nc.jetstream()
        stream = await js.find_stream_name_by_subject(event.subject)
        stored = await js.get_last_msg(stream, event.subject)
        # Publishing the same event again (a retry) is dropped by the duplicate window.
        await js.publish(event.subject, b"{}", headers={"Nats-Msg-Id": event.id})
        again = await js.get_last_msg(stream, event.subject)
        await nc.close()
        await bus.close()
        return event, stream, stored, again

    event, stream, stored, again = asyncio.run(scenario())
    assert event.subject == f"analytics.{event_type}.v1"
    assert stream == "ANALYTICS_OUT"
    assert stored.headers["Nats-Msg-Id"] == event.id and again.seq == stored.seq
    body = orjson.loads(stored.data)
    assert set(body) == {"type", "version", "id", "tenant_id", "time", "data"}
    assert (body["type"], body["version"], body["tenant_id"], body["data"]) == (event_type, "v1", "tn_a", {"rows": 3})


def test_subscribers_get_events_from_other_processes_once_and_their_own_at_once():
    require_service("NATS", NATS)
    prefix = f"test{uuid.uuid4().hex[:8]}"

    async def scenario():  # type: ignore[no-untyped-def]
        here, there = NatsBus(URL), NatsBus(URL)
        got_here: list[str] = []
        got_there: list[str] = []

        async def on_here(event):  # type: ignore[no-untyped-def]
            got_here.append(event.id)

        async def on_there(event):  # type: ignore[no-untyped-def]
            got_there.append(event.id)

        here.subscribe(f"{prefix}.*", on_here)
        unsubscribe = there.subscribe(f"{prefix}.*", on_there)
        await here.start()
        await there.start()
        deadline = time.monotonic() + 10
        while not (here.connected and there.connected) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        first = await here.publish(f"{prefix}.evaluated", {"size": 1}, tenant_id="tn_a")
        await here.publish("unrelated.event", {}, tenant_id="tn_a")
        deadline = time.monotonic() + 10
        while first.id not in got_there and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)  # an echo from NATS would arrive by now
        unsubscribe()
        await here.close()
        await there.close()
        return first, got_here, got_there

    first, got_here, got_there = asyncio.run(scenario())
    assert got_there == [first.id]  # through NATS, from the other bus
    assert got_here == [first.id]  # locally, once: the NATS echo of its own event is skipped


def _closed_port() -> int:
    """A port nothing listens on: bound, then released (port 1 may be in use on some machines)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_unreachable_nats_neither_blocks_publish_nor_loses_local_delivery():
    async def scenario():  # type: ignore[no-untyped-def]
        bus = NatsBus(f"nats://127.0.0.1:{_closed_port()}", retry_max_seconds=0.2)
        received = []

        async def handler(event):  # type: ignore[no-untyped-def]
            received.append(event.type)

        bus.subscribe("export.*", handler)
        started = time.monotonic()
        await bus.publish("export.completed", {"rows": 1}, tenant_id="tn_a")
        publish_seconds = time.monotonic() - started
        await asyncio.sleep(0.5)
        pending = len(bus._outbox)
        error = bus.last_error
        close_started = time.monotonic()
        await bus.close()
        return publish_seconds, received, pending, error, time.monotonic() - close_started

    publish_seconds, received, pending, error, close_seconds = asyncio.run(asyncio.wait_for(scenario(), 30))
    assert publish_seconds < 0.2 and received == ["export.completed"]
    assert pending == 1 and error  # kept for retry, with the reason
    assert close_seconds < 8


class _SwallowsCancellation(NatsBus):
    """A connect that loses a cancellation, as Python 3.11's `asyncio.wait_for` does when the cancel
    arrives just as the awaited connect fails (the hang behind a CI timeout on 2026-12-06)."""

    async def _connect(self) -> None:
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(30)
        raise OSError("connection refused")


def test_close_ends_the_sender_even_when_a_cancellation_is_lost():
    async def scenario() -> tuple[float, bool, int]:
        bus = _SwallowsCancellation("nats://127.0.0.1:4222", retry_max_seconds=0.2)
        await bus.publish("export.completed", {"rows": 1}, tenant_id="tn_a")
        await asyncio.sleep(0.1)  # the sender is inside the connect now
        task = bus._task
        started = time.monotonic()
        await bus.close()
        return time.monotonic() - started, task is not None and task.done(), len(bus._outbox)

    outcome: list[tuple[float, bool, int]] = []
    # In a thread of its own: a close that hangs (the defect) fails this test in 30 s instead of
    # hanging the test process (asyncio.run's teardown would wait on the task forever too).
    runner = threading.Thread(target=lambda: outcome.append(asyncio.run(scenario())), daemon=True)
    runner.start()
    runner.join(30)
    assert outcome, "NatsBus.close() did not return within 30 s"
    close_seconds, ended, pending = outcome[0]
    assert ended and close_seconds < 10
    assert pending == 1  # never published: kept, not silently dropped


def test_the_bus_is_chosen_by_setting():
    assert type(build_bus(Settings(bus_url=None))).__name__ == "InProcessBus"
    bus = build_bus(Settings(bus_url=URL, bus_stream="OUT_X"))
    assert isinstance(bus, NatsBus) and bus.stream == "OUT_X"


def test_serve_with_a_bus_url_publishes_ingest_commits_to_nats(tmp_path, warehouse_path):
    require_service("NATS", NATS)
    from fastapi.testclient import TestClient

    from analytics_engine.api.app import create_app
    from tests.conftest import ADMIN_KEY, build_settings
    from tests.support.factories import events, make_tenant

    settings = build_settings(tmp_path, warehouse_path, bus_url=URL)
    received: list[dict] = []

    async def listen(tenant_ready: asyncio.Event, done: asyncio.Event) -> None:
        nc = await nats.connect(URL)

        async def on_message(msg):  # type: ignore[no-untyped-def]
            received.append(orjson.loads(msg.data))
            done.set()

        await nc.subscribe("analytics.ingest.batch.committed.v1", cb=on_message)
        tenant_ready.set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(done.wait(), 20)
        await nc.close()

    with TestClient(create_app(settings)) as client:
        assert type(client.app.state.runtime.bus).__name__ == "NatsBus"
        tenant = make_tenant(client, {"Authorization": f"Bearer {ADMIN_KEY}"}, f"bus-{uuid.uuid4().hex[:6]}")
        loop = asyncio.new_event_loop()
        ready, done = asyncio.Event(), asyncio.Event()
        listener = threading.Thread(target=loop.run_until_complete, args=(listen(ready, done),))
        listener.start()
        deadline = time.monotonic() + 10
        while not ready.is_set() and time.monotonic() < deadline:
            time.sleep(0.05)
        tenant.ingest(events("signup", 3))
        listener.join(30)
        loop.close()
    mine = [r for r in received if r["tenant_id"] == tenant.id]
    assert mine and mine[0]["type"] == "ingest.batch.committed" and mine[0]["data"]["events"] == 3
