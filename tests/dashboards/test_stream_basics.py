"""The SSE machinery against a real uvicorn server: snapshot on connect, heartbeats, stream tokens,
tenant isolation, the per-tenant cap, and Last-Event-ID resume from the replay buffer."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
import pytest

from analytics_engine.config import Settings
from analytics_engine.runtime import Runtime
from tests.conftest import build_settings
from tests.dashboards.live import LiveServer, live_tenant
from tests.dashboards.sse import SseClient
from tests.support.factories import TenantHandle


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory, warehouse_path: Path) -> Settings:
    return build_settings(
        tmp_path_factory.mktemp("data"),
        warehouse_path,
        stream_heartbeat_seconds=0.3,
        stream_max_per_tenant=3,
        stream_debounce_ms=20,
        stream_replay_size=4,
    )


def tenant(http: httpx.Client) -> TenantHandle:
    return live_tenant(http, "sse")


def empty_dashboard(handle: TenantHandle, name: str = "Empty") -> str:
    response = handle.post("/v1/dashboards", json={"name": name})
    assert response.status_code == 201, response.text
    return response.json()["id"]


def test_snapshot_then_heartbeats(live: LiveServer, http: httpx.Client) -> None:
    handle = tenant(http)
    dashboard_id = empty_dashboard(handle)
    stream = SseClient(f"{live.url}/v1/dashboards/{dashboard_id}/stream", handle.headers).start()
    try:
        assert stream.status == 200
        snapshot = stream.next("snapshot")
        assert snapshot.json() == {"dashboard_id": dashboard_id, "widgets": []}
        assert snapshot.id and snapshot.id.endswith("-0")
        assert stream.next("comment", timeout=5).comment  # a heartbeat within the interval
    finally:
        stream.close()


def test_stream_token_instead_of_header(live: LiveServer, http: httpx.Client) -> None:
    handle = tenant(http)
    dashboard_id = empty_dashboard(handle)
    other_dashboard = empty_dashboard(handle, "Other")
    token = handle.post(f"/v1/dashboards/{dashboard_id}/stream-token").json()["token"]
    stream = SseClient(f"{live.url}/v1/dashboards/{dashboard_id}/stream?token={token}").start()
    try:
        assert stream.status == 200
        assert stream.next("snapshot").json()["dashboard_id"] == dashboard_id
    finally:
        stream.close()
    # bound to its dashboard, and forged tokens fail
    wrong = http.get(f"/v1/dashboards/{other_dashboard}/stream", params={"token": token})
    assert wrong.status_code == 401
    assert wrong.json()["error"]["code"] == "unauthorized"
    forged = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
    assert http.get(f"/v1/dashboards/{dashboard_id}/stream", params={"token": forged}).status_code == 401
    assert http.get(f"/v1/dashboards/{dashboard_id}/stream").status_code == 401


def test_other_tenants_dashboard_is_404(http: httpx.Client) -> None:
    owner, stranger = tenant(http), tenant(http)
    dashboard_id = empty_dashboard(owner)
    assert stranger.get(f"/v1/dashboards/{dashboard_id}/stream").status_code == 404
    assert stranger.post(f"/v1/dashboards/{dashboard_id}/stream-token").status_code == 404
    assert stranger.get(f"/v1/dashboards/{dashboard_id}/render").status_code == 404


def test_per_tenant_cap(live: LiveServer, http: httpx.Client) -> None:
    handle, other = tenant(http), tenant(http)
    dashboard_id = empty_dashboard(handle)
    url = f"{live.url}/v1/dashboards/{dashboard_id}/stream"
    streams = [SseClient(url, handle.headers).start() for _ in range(3)]
    try:
        assert [s.status for s in streams] == [200, 200, 200]
        refused = http.get(url, headers=handle.headers)
        assert refused.status_code == 429
        assert refused.json()["error"]["code"] == "too_many_streams"
        # another tenant is not affected
        other_stream = SseClient(f"{live.url}/v1/dashboards/{empty_dashboard(other)}/stream", other.headers).start()
        assert other_stream.status == 200
        other_stream.close()
    finally:
        for stream in streams:
            stream.close()
    # closed streams give their slots back
    deadline = time.monotonic() + 10
    while True:
        again = SseClient(url, handle.headers).start()
        again.close()
        if again.status == 200 or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert again.status == 200


def _publish(runtime: Runtime, dashboard_id: str, payloads: list[dict]) -> None:
    """Publish messages on the server's loop, as a refresh would."""
    hub = runtime.stream_hub
    feed = next(f for f in hub.feeds.values() if f.dashboard_id == dashboard_id)
    done = threading.Event()

    def publish() -> None:
        for payload in payloads:
            hub._publish(feed, "widget", payload)
        done.set()

    hub.loop.call_soon_threadsafe(publish)
    assert done.wait(5)


def test_last_event_id_resume_and_overflow(live: LiveServer, http: httpx.Client, runtime: Runtime) -> None:
    handle = tenant(http)
    dashboard_id = empty_dashboard(handle)
    url = f"{live.url}/v1/dashboards/{dashboard_id}/stream"
    first = SseClient(url, handle.headers).start()
    snapshot = first.next("snapshot")
    _publish(runtime, dashboard_id, [{"n": 1}, {"n": 2}])
    one, two = first.next("widget"), first.next("widget")
    assert [one.json()["n"], two.json()["n"]] == [1, 2]
    epoch = snapshot.id.split("-")[0]
    assert [one.id, two.id] == [f"{epoch}-1", f"{epoch}-2"]
    first.close()
    # while disconnected, two more messages; the reconnect names the last it saw and gets exactly those
    _publish(runtime, dashboard_id, [{"n": 3}, {"n": 4}])
    again = SseClient(url, {**handle.headers, "Last-Event-ID": two.id}).start()
    missed = [again.next("widget"), again.next("widget")]
    assert [m.json()["n"] for m in missed] == [3, 4]
    assert [m.id for m in missed] == [f"{epoch}-3", f"{epoch}-4"]
    again.close()
    # the replay buffer holds 4 messages: a client further behind gets a snapshot instead
    _publish(runtime, dashboard_id, [{"n": 5}, {"n": 6}])
    stale = SseClient(url, {**handle.headers, "Last-Event-ID": one.id}).start()
    message = stale.next()
    assert message.event == "snapshot" and message.id == f"{epoch}-6"
    stale.close()
    # an id from another epoch (server restarted) also gets a snapshot
    foreign = SseClient(url, {**handle.headers, "Last-Event-ID": "deadbeef-3"}).start()
    assert foreign.next().event == "snapshot"
    foreign.close()


def test_slow_client_does_not_block_others(runtime: Runtime) -> None:
    """Fan-out never awaits a client: a full queue is emptied and that client resyncs by snapshot."""
    import asyncio

    from analytics_engine.dashboards.stream import Client, Feed, StreamHub

    async def scenario() -> tuple[int, int, bool, list[int]]:
        hub = StreamHub.__new__(StreamHub)
        hub.stats = {"refreshes": 0, "messages": 0, "resyncs": 0}
        feed = Feed("k", None, "d", None, replay_size=100)
        slow = Client(asyncio.Queue(maxsize=3), "t")
        fast = Client(asyncio.Queue(maxsize=100), "t")
        feed.clients = {slow, fast}
        started = time.perf_counter()
        for n in range(50):
            hub._publish(feed, "widget", {"n": n})
        elapsed_ms = (time.perf_counter() - started) * 1000
        fast_got = [int(__import__("json").loads(fast.queue.get_nowait().data)["n"]) for _ in range(fast.queue.qsize())]
        return slow.queue.qsize(), elapsed_ms, slow.resync, fast_got

    slow_size, elapsed_ms, resync, fast_got = asyncio.run(scenario())
    assert fast_got == list(range(50))  # the fast client got everything, in order
    assert slow_size <= 3 and resync  # the slow one holds at most its bound and will get a snapshot
    assert elapsed_ms < 100
