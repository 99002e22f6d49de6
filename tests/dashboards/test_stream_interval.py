"""`ANALYTICS_STREAM_INTERVAL_SECONDS`: streamed dashboards also refresh on a timer, so data that
arrives by a path that publishes nothing on the bus (here: a direct warehouse load) still shows."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from analytics_engine.config import Settings
from analytics_engine.datagen.loader import load_events
from analytics_engine.runtime import Runtime
from tests.conftest import ADMIN_KEY, build_settings
from tests.dashboards.live import LiveServer, live_server
from tests.dashboards.sse import SseClient
from tests.support.factories import events, make_tenant


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory, warehouse_path: Path) -> Settings:
    return build_settings(tmp_path_factory.mktemp("data"), warehouse_path, stream_interval_seconds=0.5)


@pytest.fixture(scope="module")
def live(settings: Settings, runtime: Runtime) -> Iterator[LiveServer]:
    with live_server(settings, runtime) as server:
        yield server


def test_interval_refresh(live: LiveServer, runtime: Runtime) -> None:
    with httpx.Client(base_url=live.url, timeout=30) as http:
        handle = make_tenant(http, {"Authorization": f"Bearer {ADMIN_KEY}"}, f"iv-{uuid.uuid4().hex[:8]}")  # type: ignore[arg-type]
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
