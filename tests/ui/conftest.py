"""Shared by the page's end-to-end tests: a live server with a demo tenant, Debian's Chromium through
Playwright (tests/ui/test_browser.py starts both), signing in, and the axe-core accessibility check
(vendored in tests/ui/vendor, injected only here)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from analytics_engine.config import Settings
from analytics_engine.dashboards.demo import create_demo_dashboard
from analytics_engine.datagen.generator import GeneratorSpec, generate_events
from analytics_engine.datagen.loader import load_events
from analytics_engine.runtime import Runtime
from analytics_engine.tenants.schemas import KeyCreate, Scope, TenantCreate
from tests.conftest import build_settings
from tests.dashboards.live import LiveServer, live_server
from tests.ui.test_browser import browser_page

AXE = Path(__file__).parent / "vendor" / "axe-4.14.1.min.js"
DOCS = Path(__file__).resolve().parents[2] / "docs" / "images"
OUTPUT = Path(__file__).resolve().parents[2] / "test-output"


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory, warehouse_path: Path) -> Settings:
    return build_settings(tmp_path_factory.mktemp("data"), warehouse_path, stream_debounce_ms=50)


def make_tenant(runtime: Runtime, name: str, events: int, dashboard: bool = True) -> dict[str, str]:
    tenant = runtime.tenants.create(TenantCreate(name=name, timezone="Europe/Oslo"))
    key = runtime.tenants.create_key(tenant.id, KeyCreate(scopes=[Scope.ingest, Scope.read, Scope.admin]))
    if events:
        load_events(runtime.warehouse, tenant.id, generate_events(GeneratorSpec(events=events, days=100, seed=3)))
    made = {"tenant_id": tenant.id, "key": key.key}
    if dashboard:
        made["dashboard_id"] = create_demo_dashboard(runtime, tenant.id).id
    return made


@pytest.fixture(scope="module")
def demo(runtime: Runtime) -> dict[str, str]:
    return make_tenant(runtime, "UI Demo", 6_000)


@pytest.fixture(scope="module")
def live(settings: Settings, runtime: Runtime, demo: dict[str, str]) -> Iterator[LiveServer]:
    with live_server(settings, runtime) as server:
        yield server


@pytest.fixture(scope="module")
def page(live: LiveServer) -> Iterator[Any]:
    with browser_page(1440, 1000) as page:
        yield page


def call(live: LiveServer, key: str, path: str, **kwargs: Any) -> Any:
    """The public API as the page's key sees it."""
    headers = {"Authorization": f"Bearer {key}"}
    response = httpx.request(kwargs.pop("method", "GET"), f"{live.url}{path}", headers=headers, timeout=60, **kwargs)
    response.raise_for_status()
    return response.json() if response.content else None


def sign_in(page: Any, live: LiveServer, key: str, hash_: str = "") -> None:
    page.goto(f"{live.url}/ui/")
    page.wait_for_function("!document.getElementById('sign-in').hidden || !document.getElementById('app').hidden")
    if page.is_visible("#sign-out"):
        page.click("#sign-out")
    page.fill("#api-key", key)
    page.click("#sign-in-button")
    page.wait_for_selector("#tabs:not([hidden])")
    if hash_:
        page.evaluate("(hash) => { location.hash = hash; }", hash_)


def chart_value(page: Any, canvas: str, expression: str, timeout: int = 60_000) -> Any:
    """`expression` (JavaScript over `chart`) for the Chart.js chart on the `canvas` selector, once that
    chart exists with data. A widget is drawn as its answer arrives and drawn again when a fresher one
    comes, so its canvas can be in the page a moment before (or between) its charts; reading at once
    raced that."""
    handle = page.wait_for_function(
        f"""() => {{
            const canvas = document.querySelector({json.dumps(canvas)});
            const chart = canvas && Chart.getChart(canvas);
            if (!chart || !chart.data || !chart.data.datasets.length) return undefined;
            return {{value: ({expression})}};
        }}""",
        timeout=timeout,
    )
    return handle.json_value()["value"]


def axe_violations(page: Any) -> list[dict[str, Any]]:
    """Serious and critical axe-core violations (WCAG 2 A and AA rules) of the page as it is now."""
    if not page.evaluate("typeof window.axe === 'object'"):
        page.add_script_tag(path=str(AXE))
    found = page.evaluate(
        """async () => (await axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21aa']}}))
            .violations.filter((v) => v.impact === 'serious' || v.impact === 'critical')
            .map((v) => ({id: v.id, impact: v.impact, help: v.help,
                          nodes: v.nodes.slice(0, 3).map((n) => n.target.join(' '))}))"""
    )
    return list(found)


def screenshot(page: Any, name: str, full_page: bool = True) -> None:
    """A screenshot of a main screen: into test-output/ on every run, and into docs/images (the
    pictures of docs/ui.md) only with AE_UPDATE_SCREENSHOTS=1, so a test run leaves the tree clean."""
    folder = DOCS if os.environ.get("AE_UPDATE_SCREENSHOTS") == "1" else OUTPUT
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / name), full_page=full_page)
