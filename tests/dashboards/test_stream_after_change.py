"""A stream opened after the dashboard changed (its saved filters, a widget added) starts from the
dashboard as it is now, never from a feed computed before the change (the web page saves filters and
reconnects at once)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from analytics_engine.config import Settings
from tests.conftest import build_settings
from tests.dashboards.live import LiveServer, live_tenant
from tests.dashboards.sse import SseClient


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory, warehouse_path: Path) -> Settings:
    return build_settings(tmp_path_factory.mktemp("data"), warehouse_path, stream_debounce_ms=20)


def _snapshot(live: LiveServer, dashboard_id: str, headers: dict[str, str]) -> dict:  # type: ignore[type-arg]
    stream = SseClient(f"{live.url}/v1/dashboards/{dashboard_id}/stream", headers).start()
    try:
        assert stream.status == 200
        return stream.next("snapshot").json()  # type: ignore[no-any-return]
    finally:
        stream.close()


def test_a_new_stream_sees_saved_filters_and_new_widgets(live: LiveServer, http: httpx.Client) -> None:
    handle = live_tenant(http, "sse-change")
    old = (datetime.now(UTC) - timedelta(days=20)).isoformat()
    handle.ingest([{"event": "signup", "distinct_id": "a", "timestamp": old}, {"event": "signup", "distinct_id": "b"}])
    trend = {"kind": "trends", "series": [{"event": "signup"}], "interval": "day"}
    made = handle.post(
        "/v1/dashboards",
        json={
            "name": "D",
            "filters": {"date_from": "-30d"},
            "widgets": [{"title": "S", "viz": "line", "query": trend}],
        },
    )
    assert made.status_code == 201, made.text
    dashboard_id = made.json()["id"]
    first = _snapshot(live, dashboard_id, handle.headers)
    assert first["widgets"][0]["data"]["series"][0]["total"] == 2

    assert (
        handle.request("PATCH", f"/v1/dashboards/{dashboard_id}", json={"filters": {"date_from": "-7d"}}).status_code
        == 200
    )
    second = _snapshot(live, dashboard_id, handle.headers)
    assert second["widgets"][0]["data"]["series"][0]["total"] == 1  # the saved filters of now, not the old feed

    added = handle.post(
        f"/v1/dashboards/{dashboard_id}/widgets", json={"title": "T", "viz": "big_number", "query": trend}
    )
    assert added.status_code == 201, added.text
    third = _snapshot(live, dashboard_id, handle.headers)
    assert [w["title"] for w in third["widgets"]] == ["S", "T"]
