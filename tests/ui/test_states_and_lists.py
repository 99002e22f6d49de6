"""Clear states and the lists in Chromium: a guided first dashboard for a new tenant, a tenant with no
events yet, loading, partial periods dashed, the page at 420 px wide and by keyboard; cohorts, exports
and reports listed and managed; axe-core finds no serious violation on any of these screens."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from analytics_engine.runtime import Runtime
from tests.dashboards.live import LiveServer
from tests.ui.conftest import axe_violations, call, make_tenant, screenshot, sign_in

pytestmark = pytest.mark.browser


def _all_drawn(page: Any, count: int) -> None:
    page.wait_for_function(
        f"""() => {{
            const widgets = [...document.querySelectorAll('[data-widget-id]')];
            const drawn = (w) => w.querySelector('canvas, .value, table, .empty, .widget-error');
            return widgets.length === {count} && widgets.every(drawn);
        }}""",
        timeout=60_000,
    )


def test_a_new_tenant_gets_a_guided_first_dashboard(page: Any, live: LiveServer, runtime: Runtime) -> None:
    fresh = make_tenant(runtime, "Fresh start", 800, dashboard=False)
    sign_in(page, live, fresh["key"])
    page.wait_for_selector("#welcome:not([hidden])")
    assert "No dashboards yet." in page.inner_text("#dashboard-list")
    top = [e["name"] for e in call(live, fresh["key"], "/v1/taxonomy")["events"][:3]]
    assert all(name in page.inner_text("#welcome") for name in top)
    assert axe_violations(page) == []
    screenshot(page, "ui-welcome.png", full_page=False)
    page.click("#starter-dashboard")
    page.wait_for_function("location.hash.startsWith('#/d/')")
    _all_drawn(page, 4)
    made = call(live, fresh["key"], "/v1/dashboards")
    assert [d["name"] for d in made] == ["My first dashboard"] and made[0]["widgets"] == 4
    rendered = call(live, fresh["key"], f"/v1/dashboards/{made[0]['id']}/render")
    assert all(w["error"] is None for w in rendered["widgets"])
    assert page.locator(".widget-error").count() == 0 and page.is_hidden("#dashboard-error")
    # the big number compares with the previous period
    assert page.locator("[data-widget-id] .change").count() == 1
    assert page.errors == []  # type: ignore[attr-defined]

    empty = make_tenant(runtime, "No events yet", 0, dashboard=False)
    sign_in(page, live, empty["key"])
    page.wait_for_selector("#welcome:not([hidden])")
    assert "No events yet" in page.inner_text("#welcome") and page.is_disabled("#starter-dashboard")


def test_loading_partial_period_and_keyboard(page: Any, live: LiveServer, demo: dict[str, str]) -> None:
    key = demo["key"]
    sign_in(page, live, key)
    _all_drawn(page, 7)

    # loading: a slow render shows placeholders and a busy grid, then the widgets
    def slow(route: Any) -> None:
        page.wait_for_timeout(800)
        route.continue_()

    page.route("**/render*", slow)
    page.evaluate("document.getElementById('grid').replaceChildren()")
    page.click("#apply-filters")
    page.wait_for_selector("#grid[aria-busy='true'] .skeleton")
    _all_drawn(page, 7)
    page.unroute("**/render*")

    # the last day is still being counted: drawn dashed, not as a drop to zero
    pageviews = next(
        w for w in page.evaluate("window.aeDashboard.dashboard.widgets") if w["title"] == "Pageviews per day"
    )
    partial = page.evaluate(
        f"""() => {{
            const chart = Chart.getChart(document.querySelector("[data-widget-id='{pageviews["id"]}'] canvas"));
            return [chart.partialIndex, chart.data.labels.length];
        }}"""
    )
    assert partial[0] == partial[1] - 1

    # keyboard: the skip link, then every control in order; a widget's menu opens and acts with Enter
    page.reload()
    _all_drawn(page, 7)
    # every widget fresh and the live stream open: no answer still on its way to redraw a widget
    page.wait_for_selector("body[data-fresh-paint-ms]")
    page.wait_for_selector("#live[data-state='on']", state="attached")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
    signups = next(w for w in page.evaluate("window.aeDashboard.dashboard.widgets") if w["title"] == "Signups")
    summary = f"[data-widget-id='{signups['id']}'] .widget-menu summary"
    for _ in range(80):
        page.keyboard.press("Tab")
        if page.evaluate(f'document.activeElement === document.querySelector("{summary}")'):
            break
    else:
        pytest.fail("the widget menu is not reachable by Tab")
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.dataset.action") == "table"
    page.keyboard.press("Enter")
    shown = f"[data-widget-id='{signups['id']}']"
    try:
        page.wait_for_selector(f"{shown} table.data-table")
    except Exception as exc:  # say what the widget showed instead (a race with a redraw, an error)
        state = page.evaluate(
            f'(() => {{ const e = document.querySelector("{shown}"); '
            "return e && [e.dataset.state, e.dataset.table, e.innerText]; })()"
        )
        raise AssertionError(f"no table; the widget shows {state}") from exc
    focus = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert focus != "none"  # a visible focus ring
    assert page.errors == []  # type: ignore[attr-defined]


def test_420_pixels_wide(page: Any, live: LiveServer, demo: dict[str, str]) -> None:
    context = page.context.browser.new_context(viewport={"width": 420, "height": 900}, device_scale_factor=1)
    try:
        narrow = context.new_page()
        errors: list[str] = []
        narrow.on("pageerror", lambda exc: errors.append(str(exc)))
        sign_in(narrow, live, demo["key"])
        _all_drawn(narrow, 7)
        boxes = narrow.eval_on_selector_all(
            "[data-widget-id]",
            "els => els.map(e => { const r = e.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; })",
        )
        for i, a in enumerate(boxes):
            assert a[2] <= 420 + 0.5 and a[3] - a[1] > 100, a  # inside the screen, tall enough to read
            for b in boxes[i + 1 :]:
                assert a[3] <= b[1] + 0.5 or b[3] <= a[1] + 0.5, (a, b)  # no two widgets overlap
        sizes = narrow.eval_on_selector_all(
            "[data-widget-id] canvas", "cs => cs.map(c => [c.clientWidth, c.clientHeight])"
        )
        assert len(sizes) == 4 and all(w > 300 and h > 150 for w, h in sizes), sizes
        assert narrow.evaluate("document.documentElement.scrollWidth") <= 420
        assert axe_violations(narrow) == []
        screenshot(narrow, "ui-dashboard-420px.png")
        narrow.evaluate("location.hash = '#/insight'")
        narrow.wait_for_selector("#b-chart canvas", timeout=60_000)
        assert narrow.evaluate("document.documentElement.scrollWidth") <= 420
        assert errors == []
    finally:
        context.close()


def test_cohorts_exports_and_reports_are_managed(page: Any, live: LiveServer, demo: dict[str, str]) -> None:
    key, dashboard_id = demo["key"], demo["dashboard_id"]
    sign_in(page, live, key, f"#/d/{dashboard_id}")
    _all_drawn(page, 7)
    screenshot(page, "ui-dashboard.png", full_page=True)

    # cohorts: a property cohort made here, listed, deleted
    page.click("#tabs a[data-tab='cohorts']")
    page.wait_for_selector("#new-cohort")
    page.click("#new-cohort")
    page.wait_for_selector("#dialog[open]")
    page.fill("#dlg-name", "Pro plan")
    page.fill("#dlg-key", "plan")
    page.fill("#dlg-value", "pro")
    page.click("#dialog-ok")
    page.wait_for_selector("#dialog[open]", state="detached")
    cohort = next(c for c in call(live, key, "/v1/cohorts") if c["name"] == "Pro plan")
    page.wait_for_selector(f"tr[data-cohort='{cohort['id']}']")
    assert cohort["kind"] == "dynamic" and cohort["definition"]["criteria"][0]["value"] == "pro"
    assert axe_violations(page) == []
    screenshot(page, "ui-cohorts.png", full_page=False)
    page.click(f"tr[data-cohort='{cohort['id']}'] button.danger")
    page.click("#dialog-ok")
    page.wait_for_selector(f"tr[data-cohort='{cohort['id']}']", state="detached")
    assert all(c["id"] != cohort["id"] for c in call(live, key, "/v1/cohorts"))

    # reports: a weekly report of the dashboard, run now, deleted
    page.click("#tabs a[data-tab='reports']")
    page.wait_for_selector("#new-report")
    page.click("#new-report")
    page.wait_for_selector("#dialog[open]")
    page.fill("#dlg-name", "Weekly overview")
    page.select_option("#dlg-dashboard", dashboard_id)
    page.fill("#dlg-emails", "team@example.com")
    page.click("#dialog-ok")
    page.wait_for_selector("#dialog[open]", state="detached")
    report = next(r for r in call(live, key, "/v1/reports") if r["name"] == "Weekly overview")
    assert report["dashboard_id"] == dashboard_id and report["schedule"] == "0 8 * * MON"
    assert report["recipients"]["emails"] == ["team@example.com"]
    page.wait_for_selector(f"tr[data-report='{report['id']}']")
    page.click(f"tr[data-report='{report['id']}'] button:not(.danger)")
    page.wait_for_function("document.getElementById('toast').textContent.startsWith('Report run')")
    assert call(live, key, f"/v1/reports/{report['id']}/runs")
    assert axe_violations(page) == []
    page.click(f"tr[data-report='{report['id']}'] button.danger")
    page.click("#dialog-ok")
    page.wait_for_selector(f"tr[data-report='{report['id']}']", state="detached")

    # exports: the dashboard exported from its menu, listed with a download link, removed
    page.click("#tabs a[data-tab='dashboards']")
    _all_drawn(page, 7)
    page.click("#dash-actions summary")
    page.click("#export-dashboard")
    page.wait_for_selector("#export-download", timeout=60_000)
    page.click("#drawer-close")
    page.click("#tabs a[data-tab='exports']")
    page.wait_for_selector("tr[data-export]")
    export = call(live, key, "/v1/exports")[0]
    row = f"tr[data-export='{export['id']}']"
    assert export["source_type"] == "dashboard" and export["status"] == "succeeded"
    assert page.get_attribute(f"{row} a", "href").split("?")[0] == export["download_url"].split("?")[0]
    assert axe_violations(page) == []
    screenshot(page, "ui-exports.png", full_page=False)
    page.click(f"{row} button.danger")
    page.click("#dialog-ok")
    page.wait_for_selector(row, state="detached")
    assert page.errors == []  # type: ignore[attr-defined]


@contextmanager
def _signed_in_tab(page: Any, key: str) -> Iterator[Any]:
    """A new tab in a new context of the module's browser (an empty HTTP cache), the key already stored."""
    context = page.context.browser.new_context(viewport={"width": 1440, "height": 1000})
    context.add_init_script(f"sessionStorage.setItem('ae_api_key', {json.dumps(key)})")
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    tab.errors = errors
    try:
        yield tab
    finally:
        context.close()


def test_a_signed_in_visit_asks_the_api_at_once_and_a_repeat_visit_uses_the_cache(
    page: Any, live: LiveServer, demo: dict[str, str]
) -> None:
    with _signed_in_tab(page, demo["key"]) as fresh:
        fresh.goto(f"{live.url}/ui/#/d/{demo['dashboard_id']}")
        fresh.wait_for_function("document.body.dataset.firstPaintMs !== undefined", timeout=60_000)
        _all_drawn(fresh, 7)
        timing = fresh.evaluate(
            """() => ({
                dcl: performance.getEntriesByType('navigation')[0].domContentLoadedEventEnd,
                renders: performance.getEntriesByType('resource').filter((e) => e.name.includes('/render'))
                  .map((e) => e.startTime),
                modules: performance.getEntriesByType('resource').filter((e) => e.name.includes('/ui/static/js/'))
                  .map((e) => e.name),
            })"""
        )
        # the render was asked for once, by the page's inline script, before the modules had run
        assert len(timing["renders"]) == 1 and timing["renders"][0] < timing["dcl"], timing
        # every module by its content hash (the import map reaches the modules' own imports)
        assert timing["modules"] and all("?v=" in name for name in timing["modules"]), timing["modules"]
        # a repeat visit: the modules and the stylesheet come from the browser's cache, unasked
        fresh.reload()
        fresh.wait_for_function("document.body.dataset.firstPaintMs !== undefined", timeout=60_000)
        _all_drawn(fresh, 7)
        sent = fresh.evaluate(
            """() => performance.getEntriesByType('resource').filter((e) => e.name.includes('/ui/static/'))
                .map((e) => [e.name, e.transferSize])"""
        )
        assert sent and all(size == 0 for _, size in sent), sent
        assert fresh.errors == []  # type: ignore[attr-defined]

    # no dashboard in the address: the first one's render is still asked for early, and once
    with _signed_in_tab(page, demo["key"]) as fresh:
        fresh.goto(f"{live.url}/ui/")
        fresh.wait_for_function("document.body.dataset.firstPaintMs !== undefined", timeout=60_000)
        renders = fresh.evaluate(
            "performance.getEntriesByType('resource').filter((e) => e.name.includes('/render')).length"
        )
        assert renders == 1 and f"#/d/{demo['dashboard_id']}" in fresh.url
