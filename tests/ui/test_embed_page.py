"""The read-only embed page in headless Chromium: a token's dashboard is drawn with the locked
figures and no key; a revoked token shows why it is unavailable."""

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
from tests.ui.test_browser import browser_page

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def live(settings: Settings, runtime: Runtime) -> Iterator[LiveServer]:
    with live_server(settings, runtime) as server:
        yield server


def test_embed_page_draws_the_locked_dashboard(live: LiveServer, runtime: Runtime) -> None:
    tenant = runtime.tenants.create(TenantCreate(name="Embedded", timezone="UTC"))
    key = runtime.tenants.create_key(tenant.id, KeyCreate(scopes=[Scope.ingest, Scope.read, Scope.admin])).key
    headers = {"Authorization": f"Bearer {key}"}

    def call(method: str, path: str, body: Any = None) -> Any:
        response = httpx.request(method, f"{live.url}{path}", headers=headers, json=body, timeout=60)
        assert response.status_code < 300, response.text
        return response.json() if response.content else None

    start = datetime.now(UTC) - timedelta(days=3)
    call(
        "POST",
        "/v1/events",
        [
            {
                "event": "signup",
                "distinct_id": f"u{i}",
                "timestamp": (start + timedelta(hours=i)).isoformat(),
                "properties": {"company": "acme" if i % 3 == 0 else "globex"},
            }
            for i in range(30)
        ],
    )
    query = {"kind": "trends", "series": [{"event": "signup"}], "interval": "day", "date_range": {"date_from": "-7d"}}
    dashboard = call(
        "POST", "/v1/dashboards", {"name": "Shared", "widgets": [{"title": "Signups", "viz": "line", "query": query}]}
    )
    locked = {"properties": [{"key": "company", "operator": "eq", "value": "acme"}]}
    embed = call("POST", "/v1/embeds", {"dashboard_id": dashboard["id"], "locked": locked})
    widget_id = dashboard["widgets"][0]["id"]

    with browser_page(1000, 800) as page:
        page.goto(f"{live.url}{embed['url']}")
        page.wait_for_selector("body[data-state='ready']", timeout=60_000)
        assert page.inner_text("#embed-title") == "Shared"
        drawn = page.evaluate(
            """(id) => Chart.getChart(document.querySelector(`[data-widget-id="${id}"] canvas`)).data.datasets[0].data
                .reduce((a, b) => a + Number(b), 0)""",
            widget_id,
        )
        assert drawn == 10  # acme only
        assert page.evaluate("sessionStorage.length") == 0 and page.errors == []
        call("DELETE", f"/v1/embeds/{embed['id']}")
        page.reload()
        page.wait_for_selector("body[data-state='error']", timeout=30_000)
        assert "revoked" in page.inner_text("#embed-error")
