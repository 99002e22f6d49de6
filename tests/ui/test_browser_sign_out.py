"""Issue 27 item 11: after signing out of demo tenant A and signing in with tenant B's key, nothing of
A remains on the page (widgets, numbers, ids, URL, storage) and B's dashboard is shown. Debian's
headless Chromium through Playwright, as in test_browser.py."""

from __future__ import annotations

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

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory, warehouse_path: Path) -> Settings:
    return build_settings(tmp_path_factory.mktemp("data"), warehouse_path, stream_debounce_ms=50)


def _demo(runtime: Runtime, name: str, events: int, seed: int) -> dict[str, Any]:
    tenant = runtime.tenants.create(TenantCreate(name=name, timezone="UTC"))
    key = runtime.tenants.create_key(tenant.id, KeyCreate(scopes=[Scope.ingest, Scope.read, Scope.admin]))
    load_events(runtime.warehouse, tenant.id, generate_events(GeneratorSpec(events=events, days=60, seed=seed)))
    dashboard = create_demo_dashboard(runtime, tenant.id)
    return {"tenant_id": tenant.id, "key": key.key, "dashboard_id": dashboard.id}


@pytest.fixture(scope="module")
def tenants(runtime: Runtime) -> dict[str, dict[str, Any]]:
    # Different volumes, so that the two tenants' numbers differ.
    return {"a": _demo(runtime, "Tenant A", 5_000, 3), "b": _demo(runtime, "Tenant B", 1_500, 11)}


@pytest.fixture(scope="module")
def live(settings: Settings, runtime: Runtime, tenants: dict[str, Any]) -> Iterator[LiveServer]:
    with live_server(settings, runtime) as server:
        yield server


@pytest.fixture(scope="module")
def page(live: LiveServer) -> Iterator[Any]:
    with browser_page(1280, 1000) as page:
        yield page


def _render(live: LiveServer, tenant: dict[str, Any]) -> dict[str, Any]:
    response = httpx.get(
        f"{live.url}/v1/dashboards/{tenant['dashboard_id']}/render",
        headers={"Authorization": f"Bearer {tenant['key']}"},
        timeout=60,
    )
    response.raise_for_status()
    return response.json()


def _signups(rendered: dict[str, Any]) -> float:
    widget = next(w for w in rendered["widgets"] if w["title"] == "Signups")
    return float(widget["data"]["series"][0]["total"])


def _sign_in(page: Any, key: str) -> None:
    page.fill("#api-key", key)
    page.click("#sign-in-button")
    page.wait_for_selector("#dashboard-list a")


def _shown_widget_ids(page: Any) -> set[str]:
    return set(page.eval_on_selector_all("[data-widget-id]", "els => els.map(e => e.dataset.widgetId)"))


def test_sign_out_then_sign_in_as_another_tenant_shows_nothing_of_the_first(
    page: Any, live: LiveServer, tenants: dict[str, Any]
) -> None:
    a, b = tenants["a"], tenants["b"]
    render_a, render_b = _render(live, a), _render(live, b)
    ids_a = {w["id"] for w in render_a["widgets"]}
    ids_b = {w["id"] for w in render_b["widgets"]}
    signups_a, signups_b = _signups(render_a), _signups(render_b)
    assert not ids_a & ids_b and signups_a != signups_b

    page.goto(f"{live.url}/ui/")
    _sign_in(page, a["key"])
    page.wait_for_function(f"location.hash === '#/d/{a['dashboard_id']}'")
    page.wait_for_function(f"document.querySelectorAll('[data-widget-id]').length === {len(ids_a)}", timeout=60_000)
    assert _shown_widget_ids(page) == ids_a
    page.wait_for_selector("#live[data-state='on']", timeout=30_000)
    # Something tenant-scoped left in storage by the page (the retention helper and others may add keys).
    page.evaluate("localStorage.setItem('ae_last_dashboard', location.hash)")

    page.click("#sign-out")
    page.wait_for_selector("#sign-in:not([hidden])")
    state = page.evaluate(
        """() => ({hash: location.hash, widgets: document.querySelectorAll('[data-widget-id]').length,
                  grid: document.getElementById('grid').innerHTML,
                  list: document.getElementById('dashboard-list').innerHTML,
                  key: document.getElementById('api-key').value, live: document.getElementById('live').dataset.state,
                  source: window.aeDashboard.source, dashboard: window.aeDashboard.dashboard,
                  charts: window.aeDashboard.charts.size,
                  storage: Object.keys(sessionStorage).concat(Object.keys(localStorage))
                    .filter(k => k.startsWith('ae_'))})"""
    )
    assert state == {
        "hash": "",
        "widgets": 0,
        "grid": "",
        "list": "",
        "key": "",
        "live": "off",
        "source": None,
        "dashboard": None,
        "charts": 0,
        "storage": [],
    }

    _sign_in(page, b["key"])
    page.wait_for_function(f"location.hash === '#/d/{b['dashboard_id']}'")
    page.wait_for_function(f"document.querySelectorAll('[data-widget-id]').length === {len(ids_b)}", timeout=60_000)
    assert _shown_widget_ids(page) == ids_b
    signups_id = next(w["id"] for w in render_b["widgets"] if w["title"] == "Signups")
    shown = float(page.get_attribute(f"[data-widget-id='{signups_id}'] .value", "data-value"))
    assert shown == signups_b
    html = page.content()
    assert a["dashboard_id"] not in html and a["key"] not in html
    assert not any(widget_id in html for widget_id in ids_a)
    assert page.is_hidden("#dashboard-error")
    assert page.evaluate("sessionStorage.getItem('ae_api_key')") == b["key"]
    assert page.evaluate("window.aeDashboard.dashboard.dashboard_id") == b["dashboard_id"]

    # B opening A's address (a bookmark, a shared link): an error and an empty grid, never A's widgets.
    page.evaluate(f"location.hash = '#/d/{a['dashboard_id']}'")
    page.wait_for_selector("#dashboard-error:not([hidden])")
    page.wait_for_function("document.querySelectorAll('[data-widget-id]').length === 0")
    assert page.evaluate("window.aeDashboard.dashboard") is None
    assert page.errors == []  # type: ignore[attr-defined]
