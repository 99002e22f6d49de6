"""Issue 24 item 2: `/docs` (Swagger UI) and `/redoc` work with no internet, in Debian's headless
Chromium (Playwright, as tests/ui/test_browser.py). Every request to another host is refused, the
pages must still draw every operation, and Swagger's Authorize button must send the key: "Try it
out" on `GET /v1/usage` with a tenant key answers 200."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlparse

import pytest

from analytics_engine.config import Settings
from analytics_engine.runtime import Runtime
from tests.dashboards.live import LiveServer, live_server
from tests.support.factories import make_tenant
from tests.ui.test_browser import browser_page

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def live(settings: Settings, runtime: Runtime) -> Iterator[LiveServer]:
    with live_server(settings, runtime) as server:
        yield server


@pytest.fixture(scope="module")
def offline_page(live: LiveServer) -> Iterator[Any]:
    with browser_page(1280, 900) as page:
        outside: list[str] = []

        def only_this_server(route: Any) -> None:
            if urlparse(route.request.url).netloc == urlparse(live.url).netloc:
                route.continue_()
            else:
                outside.append(route.request.url)
                route.abort()

        page.route("**/*", only_this_server)
        page.outside = outside
        yield page


def test_swagger_ui_draws_every_operation_and_sends_the_key(offline_page: Any, live: LiveServer, client: Any) -> None:
    page = offline_page
    tenant = make_tenant(client, {"Authorization": "Bearer test-admin-key"}, "swagger-tenant")
    tags = sorted(
        {
            tag
            for item in client.get("/openapi.json").json()["paths"].values()
            for op in item.values()
            for tag in op.get("tags", [])
        }
    )
    page.goto(f"{live.url}/docs")
    # Tags start collapsed (`docExpansion: none`): every tag is listed, and a tag opens to its operations.
    page.wait_for_function(f"document.querySelectorAll('.opblock-tag').length >= {len(tags)}", timeout=60_000)
    assert sorted(page.locator(".opblock-tag").evaluate_all("els => els.map(e => e.dataset.tag)")) == tags
    page.locator(".opblock-tag[data-tag='budgets']").click()
    page.wait_for_selector("#operations-budgets-get_usage_v1_usage_get")
    page.click("button.authorize")
    page.locator(".auth-container").filter(has_text="tenantKey").locator("input").fill(tenant.key)
    page.locator(".auth-container").filter(has_text="tenantKey").locator("button.authorize").click()
    page.click(".btn-done")
    usage = page.locator("#operations-budgets-get_usage_v1_usage_get")
    usage.locator(".opblock-summary").click()
    usage.locator("button.execute").click()
    cell = ".live-responses-table tr.response .response-col_status"
    page.wait_for_selector(f"#operations-budgets-get_usage_v1_usage_get {cell}")
    status = usage.locator(cell).first.inner_text()
    assert status.strip().startswith("200"), status
    assert not page.outside and not page.errors, (page.outside, page.errors)


def test_redoc_draws_every_operation(offline_page: Any, live: LiveServer) -> None:
    page = offline_page
    page.goto(f"{live.url}/redoc")
    page.wait_for_selector("[data-section-id^='operation/']", state="attached", timeout=60_000)
    assert page.locator("[data-section-id^='operation/']").count() >= 100
    # ReDoc's footer logo is the one outside asset; the bundle hides the image when it cannot load.
    outside = [url for url in page.outside if url != "https://cdn.redoc.ly/redoc/logo-mini.svg"]
    assert not outside and not page.errors, (outside, page.errors)
