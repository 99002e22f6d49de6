"""Annotations on the web page's time charts: a trend widget draws the tenant-wide note its answer
carries and the dashboard's own note (headless Chromium, as tests/ui/test_browser.py)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from analytics_engine.config import Settings
from analytics_engine.runtime import Runtime
from analytics_engine.tenants.schemas import KeyCreate, Scope, TenantCreate
from tests.dashboards.live import LiveServer, live_server
from tests.ui.conftest import chart_value
from tests.ui.test_browser import browser_page

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def live(settings: Settings, runtime: Runtime) -> Iterator[LiveServer]:
    with live_server(settings, runtime) as server:
        yield server


def test_trend_chart_draws_annotations(live: LiveServer, runtime: Runtime) -> None:
    tenant = runtime.tenants.create(TenantCreate(name="Annotated", timezone="UTC"))
    key = runtime.tenants.create_key(tenant.id, KeyCreate(scopes=[Scope.ingest, Scope.read, Scope.admin])).key
    headers = {"Authorization": f"Bearer {key}"}

    def call(method: str, path: str, body: Any = None) -> Any:
        response = httpx.request(method, f"{live.url}{path}", headers=headers, json=body, timeout=60)
        assert response.status_code < 300, response.text
        return response.json()

    start = datetime.now(UTC) - timedelta(days=6)
    call(
        "POST",
        "/v1/events",
        [
            {"event": "signup", "distinct_id": f"u{i}", "timestamp": (start + timedelta(hours=5 * i)).isoformat()}
            for i in range(25)
        ],
    )
    query = {"kind": "trends", "series": [{"event": "signup"}], "interval": "day", "date_range": {"date_from": "-7d"}}
    dashboard = call(
        "POST", "/v1/dashboards", {"name": "Notes", "widgets": [{"title": "Signups", "viz": "line", "query": query}]}
    )
    day = (start + timedelta(days=2)).date().isoformat()
    call("POST", "/v1/annotations", {"content": "Campaign", "date_from": day})
    call("POST", "/v1/annotations", {"content": "Board only", "date_from": day, "dashboard_id": dashboard["id"]})
    widget_id = dashboard["widgets"][0]["id"]

    with browser_page(1200, 900) as page:
        page.goto(f"{live.url}/ui/")
        page.fill("#api-key", key)
        page.click("#sign-in-button")
        page.wait_for_selector(f"[data-widget-id='{widget_id}'] canvas", timeout=60_000)
        marks = chart_value(
            page,
            f"[data-widget-id='{widget_id}'] canvas",
            "chart.annotationMarks.map((m) => [m.content, m.bucket, chart.data.labels.length > m.at])",
        )
        label = page.get_attribute(f"[data-widget-id='{widget_id}'] canvas", "aria-label")
        assert page.errors == []
    assert sorted(marks) == [["Board only", day, True], ["Campaign", day, True]]
    assert "annotations:" in label and "Campaign" in label
