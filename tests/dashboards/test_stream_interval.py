"""`ANALYTICS_STREAM_INTERVAL_SECONDS`: streamed dashboards also refresh on a timer, so data that
arrives by a path that publishes nothing on the bus (here: a direct warehouse load) still shows."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from analytics_engine.config import Settings
from analytics_engine.datagen.loader import load_events
from analytics_engine.runtime import Runtime
from tests.conftest import build_settings
from tests.dashboards.live import LiveServer, live_tenant
from tests.dashboards.sse import SseClient
from tests.support.factories import events


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory, warehouse_path: Path) -> Settings:
    return build_settings(tmp_path_factory.mktemp("data"), warehouse_path, stream_interval_seconds=0.5)


def test_interval_refresh(live: LiveServer, runtime: Runtime) -> None:
    with httpx.Client(base_url=live.url, timeout=30) as http:
        handle = live_tenant(http, "iv")
        query = {"kind": "trends", "series": [{"event": "signup"}], "date_range": {"date_from": "-7d"}}
        dashboard = handle.post(
            "/v1/dashboards",
            json={"name": "Timer", "widgets": [{"title": "Signups", "viz": "big_number", "query": query}]},
        ).json()
        stream = SseClient(f"{live.url}/v1/dashboards/{dashboard['id']}/stream", handle.headers).start()
        try:
            assert stream.next("snapshot").json()["widgets"][0]["data"]["series"][0]["total"] == 0
            load_events(runtime.warehouse, handle.id, events("signup", 3, users=3))  # no bus event
            update = stream.next("widget", timeout=15).json()
            assert update["data"]["series"][0]["total"] == 3
        finally:
            stream.close()
