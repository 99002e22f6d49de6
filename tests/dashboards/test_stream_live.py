"""Live updates end to end against a real uvicorn server: events posted over HTTP reach every open
stream of that tenant's dashboard as new widget data; other tenants' streams stay quiet."""

from __future__ import annotations

import queue
import time
from pathlib import Path

import httpx
import pytest

from analytics_engine.config import Settings
from tests.conftest import build_settings
from tests.dashboards.live import LiveServer, live_tenant
from tests.dashboards.sse import SseClient
from tests.support.factories import TenantHandle, events

TREND = {"kind": "trends", "series": [{"event": "signup"}], "interval": "day", "date_range": {"date_from": "-7d"}}


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory, warehouse_path: Path) -> Settings:
    return build_settings(tmp_path_factory.mktemp("data"), warehouse_path, stream_debounce_ms=50)


def tenant(http: httpx.Client) -> TenantHandle:
    return live_tenant(http, "live")


def total(widget: dict) -> float:
    return sum(p["value"] or 0 for s in widget["data"]["series"] for p in s["points"])


def dashboard(handle: TenantHandle) -> str:
    body = {
        "name": "Live",
        "widgets": [
            {"title": "Signups", "viz": "big_number", "query": TREND},
            {"title": "Pageviews", "viz": "line", "query": {**TREND, "series": [{"event": "pageview"}]}},
        ],
    }
    created = handle.post("/v1/dashboards", json=body)
    assert created.status_code == 201, created.text
    return created.json()["id"]


def test_new_events_reach_every_open_stream(live: LiveServer, http: httpx.Client) -> None:
    owner, other = tenant(http), tenant(http)
    owner.ingest(events("signup", 3, users=3))
    dashboard_id = dashboard(owner)
    other_dashboard = dashboard(other)
    url = f"{live.url}/v1/dashboards/{dashboard_id}/stream"
    clients = [SseClient(url, owner.headers).start() for _ in range(3)]
    quiet = SseClient(f"{live.url}/v1/dashboards/{other_dashboard}/stream", other.headers).start()
    try:
        for client in clients:
            snapshot = client.next("snapshot").json()
            assert total(snapshot["widgets"][0]) == 3
        assert quiet.next("snapshot").json()["widgets"][0]["data"]["series"][0]["points"] is not None

        posted = time.perf_counter()
        owner.ingest(events("signup", 2, users=2))
        for client in clients:
            update = client.next("widget", timeout=20)
            widget = update.json()
            assert widget["title"] == "Signups"  # only the widget whose data changed
            assert total(widget) == 5
            assert widget["cached"] is False
        assert time.perf_counter() - posted < 10
        # the render API agrees with what was pushed
        rendered = owner.get(f"/v1/dashboards/{dashboard_id}/render").json()
        assert total(rendered["widgets"][0]) == 5
        # another tenant's stream got nothing but heartbeats
        with pytest.raises(queue.Empty):
            quiet.next("widget", timeout=1.5)
        # operations see it in /metrics
        exposition = http.get("/metrics").text
        assert 'analytics_dashboard_stream_messages_total{event="widget"}' in exposition
        open_streams = next(
            float(line.split()[-1])
            for line in exposition.splitlines()
            if line.startswith("analytics_dashboard_streams_open ")
        )
        assert open_streams >= 4
        assert "analytics_dashboard_refresh_seconds_count" in exposition
    finally:
        for client in [*clients, quiet]:
            client.close()


def test_reconnect_gets_the_update_it_missed(live: LiveServer, http: httpx.Client) -> None:
    owner = tenant(http)
    owner.ingest(events("signup", 1))
    dashboard_id = dashboard(owner)
    url = f"{live.url}/v1/dashboards/{dashboard_id}/stream"
    watcher = SseClient(url, owner.headers).start()  # keeps the feed refreshing
    first = SseClient(url, owner.headers).start()
    seen = first.next("snapshot").id
    watcher.next("snapshot")
    first.close()
    owner.ingest(events("pageview", 4, users=2))
    assert watcher.next("widget", timeout=20).json()["title"] == "Pageviews"
    resumed = SseClient(url, {**owner.headers, "Last-Event-ID": seen}).start()
    try:
        missed = resumed.next(timeout=20)
        assert missed.event == "widget" and missed.json()["title"] == "Pageviews"
        assert total(missed.json()) == 4
    finally:
        resumed.close()
        watcher.close()
