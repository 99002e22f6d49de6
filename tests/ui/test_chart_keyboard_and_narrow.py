"""In Chromium: the people behind a chart's marks reached by keyboard from the chart view (a trend's
points, a funnel's steps, a retention cell, a Sankey band), the paths chart at 420 px (a readable list
inside its widget) and at 1280 px (inside its widget), and a dashboard first drawn from last known
answers, labelled with their age, then fresh ones; axe-core finds no serious violation on these views."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.dashboards.live import LiveServer
from tests.ui.conftest import axe_violations, call, screenshot, sign_in

pytestmark = pytest.mark.browser

PATHS = {"kind": "paths", "start_event": "signup", "steps": 3, "date_range": {"date_from": "-90d"}}


def _people(page: Any) -> list[str]:
    page.wait_for_function(
        "document.querySelector('#drawer .people') && !document.querySelector('#drawer p.muted')"
        ".textContent.startsWith('Loading')"
    )
    return page.eval_on_selector_all("#drawer .people button", "bs => bs.map(b => b.dataset.person)")


def _tab_to(page: Any, selector: str, limit: int = 200) -> None:
    """Press Tab until the focus is on an element matching `selector` (fails if it never is)."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("(s) => document.activeElement && document.activeElement.matches(s)", selector):
            return
    pytest.fail(f"{selector} is not reachable by Tab")


@pytest.fixture
def paths_board(live: LiveServer, demo: dict[str, str]) -> Iterator[dict[str, Any]]:
    """A dashboard with the paths chart between two other widgets."""
    trend = {"kind": "trends", "series": [{"event": "pageview"}], "interval": "day"}
    body = {
        "name": "Paths board",
        "filters": {"date_from": "-90d"},
        "widgets": [
            {"title": "Views", "viz": "line", "query": trend, "layout": {"x": 0, "y": 0, "w": 12, "h": 3}},
            {
                "title": "Paths after signup",
                "viz": "sankey",
                "query": PATHS,
                "layout": {"x": 0, "y": 3, "w": 12, "h": 5},
            },
            {"title": "Views again", "viz": "bar", "query": trend, "layout": {"x": 0, "y": 8, "w": 12, "h": 3}},
        ],
    }
    board = call(live, demo["key"], "/v1/dashboards", method="POST", json=body)
    yield board
    call(live, demo["key"], f"/v1/dashboards/{board['id']}", method="DELETE")


def _boxes(page: Any) -> list[list[float]]:
    return page.eval_on_selector_all(
        "[data-widget-id]",
        "els => els.map(e => { const r = e.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; })",
    )


def _inside(inner: list[float], outer: list[float]) -> bool:
    left, top, right, bottom = inner
    return left >= outer[0] - 0.5 and top >= outer[1] - 0.5 and right <= outer[2] + 0.5 and bottom <= outer[3] + 0.5


def test_the_paths_chart_at_420_pixels_is_a_readable_list(
    page: Any, live: LiveServer, demo: dict[str, str], paths_board: dict[str, Any]
) -> None:
    key = demo["key"]
    widget_id = paths_board["widgets"][1]["id"]
    answer = call(live, key, "/v1/insights/paths", method="POST", json=PATHS)
    context = page.context.browser.new_context(viewport={"width": 420, "height": 900}, device_scale_factor=1)
    try:
        narrow = context.new_page()
        errors: list[str] = []
        narrow.on("pageerror", lambda exc: errors.append(str(exc)))
        sign_in(narrow, live, key, f"#/d/{paths_board['id']}")
        chart = f"[data-widget-id='{widget_id}'] .sankey-list"
        narrow.wait_for_selector(chart, timeout=60_000)
        narrow.wait_for_function("document.body.dataset.freshPaintMs !== undefined", timeout=60_000)
        assert narrow.is_visible(chart)
        # every node and link of the answer, with its people
        nodes = narrow.eval_on_selector_all(
            f"{chart} button[data-id]", "bs => bs.map(b => [b.dataset.id, Number(b.dataset.people)])"
        )
        assert sorted(nodes) == sorted([[n["id"], n["people"]] for n in answer["nodes"]]) and nodes
        links = narrow.eval_on_selector_all(f"{chart} button[data-source]", "bs => bs.length")
        assert links == len(answer["links"])
        # inside its widget, the widgets apart, nothing wider than the screen
        boxes = _boxes(narrow)
        order = [w["id"] for w in paths_board["widgets"]]
        mine = boxes[order.index(widget_id)]
        box = narrow.eval_on_selector(
            chart, "e => { const r = e.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; }"
        )
        assert _inside(box, mine) and box[3] - box[1] > 150, (box, mine)
        for i, a in enumerate(boxes):
            for b in boxes[i + 1 :]:
                assert a[3] <= b[1] + 0.5 or b[3] <= a[1] + 0.5, (a, b)
        assert narrow.evaluate("document.documentElement.scrollWidth") <= 420
        # readable: 12 px or more, no name cut off, each entry a named button
        readable = narrow.eval_on_selector_all(
            f"{chart} .sankey-item",
            """bs => bs.map(b => [parseFloat(getComputedStyle(b).fontSize), b.scrollWidth <= b.clientWidth + 1,
                                  !!b.getAttribute('aria-label')])""",
        )
        assert all(size >= 12 and fits and named for size, fits, named in readable), readable
        assert axe_violations(narrow) == []
        screenshot(narrow, "ui-paths-420px.png")
        # a step's people by keyboard
        node = next(n for n in answer["nodes"] if n["step"] == 2)
        narrow.focus(f"{chart} button[data-id='{node['id']}']")
        narrow.keyboard.press("Enter")
        narrow.wait_for_selector("#drawer:not([hidden])")
        expected = call(
            live,
            key,
            "/v1/insights/paths/people",
            method="POST",
            json={
                "query": {**PATHS, "date_range": {"date_from": "-90d"}},
                "step": 2,
                "name": node["name"],
                "limit": 100,
            },
        )["people"]
        assert _people(narrow) == expected and expected
        assert errors == []
    finally:
        context.close()


def test_the_paths_chart_at_1280_pixels_stays_in_its_widget_and_its_bands_take_the_keyboard(
    page: Any, live: LiveServer, demo: dict[str, str], paths_board: dict[str, Any]
) -> None:
    key = demo["key"]
    widget_id = paths_board["widgets"][1]["id"]
    page.set_viewport_size({"width": 1280, "height": 1000})
    try:
        sign_in(page, live, key, f"#/d/{paths_board['id']}")
        svg = f"[data-widget-id='{widget_id}'] svg.sankey"
        page.wait_for_selector(svg, timeout=60_000)
        mine = _boxes(page)[1]
        labels = page.eval_on_selector_all(
            f"{svg} text",
            "ts => ts.map(t => { const r = t.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; })",
        )
        assert labels and all(_inside(label, mine) for label in labels), mine
        answer = call(live, key, "/v1/insights/paths", method="POST", json=PATHS)
        link = max(answer["links"], key=lambda x: x["people"])
        source = next(n for n in answer["nodes"] if n["id"] == link["source"])
        target = next(n for n in answer["nodes"] if n["id"] == link["target"])
        band = f"{svg} .sankey-links path[data-source='{link['source']}'][data-target='{link['target']}']"
        page.focus(f"[data-widget-id='{widget_id}'] h3")  # just before the chart, then Tab into it
        _tab_to(page, f"{svg} .sankey-links path")
        page.focus(band)
        assert page.evaluate("document.activeElement.getAttribute('role')") == "button"
        page.keyboard.press("Enter")
        page.wait_for_selector("#drawer:not([hidden])")
        expected = call(
            live,
            key,
            "/v1/insights/paths/people",
            method="POST",
            json={"query": PATHS, "step": source["step"], "name": source["name"], "next_name": target["name"]},
        )["people"]
        assert _people(page) == expected and expected
        page.keyboard.press("Escape")
        assert axe_violations(page) == []
    finally:
        page.set_viewport_size({"width": 1440, "height": 1000})


def test_a_points_and_a_steps_people_by_keyboard_from_the_chart(
    page: Any, live: LiveServer, demo: dict[str, str]
) -> None:
    key = demo["key"]
    sign_in(page, live, key, f"#/d/{demo['dashboard_id']}")
    page.wait_for_function("document.querySelectorAll('[data-widget-id] canvas').length >= 4", timeout=60_000)
    widgets = {w["title"]: w for w in page.evaluate("window.aeDashboard.dashboard.widgets")}
    views = widgets["Pageviews per day"]
    canvas = f"[data-widget-id='{views['id']}'] canvas"
    _tab_to(page, canvas)
    assert page.get_attribute(canvas, "role") == "application" and "Arrow keys" in page.get_attribute(
        canvas, "aria-label"
    )
    points = views["data"]["series"][0]["points"]
    index = max(i for i, p in enumerate(points[:-1]) if (p["value"] or 0) > 0)
    page.keyboard.press("Home")
    for _ in range(index):
        page.keyboard.press("ArrowRight")
    assert page.get_attribute(canvas, "data-mark") == f"0:{index}"
    spoken = page.inner_text(f"[data-widget-id='{views['id']}'] [aria-live]")
    assert ": " in spoken  # the highlighted point is read out
    page.keyboard.press("Enter")
    page.wait_for_selector("#drawer:not([hidden])")
    bucket = points[index]["bucket"] or points[index]["label"]
    funnel = {
        "kind": "funnels",
        "steps": [{"event": "pageview", "filters": []}, {"event": "pageview", "filters": []}],
        "date_range": {"date_from": bucket[:10], "date_to": bucket[:10]},
        "timezone": None,
    }
    expected = call(
        live,
        key,
        "/v1/insights/funnels/people",
        method="POST",
        json={"query": funnel, "step": 1, "status": "converted", "limit": 100},
    )["people"]
    assert _people(page) == expected and expected
    assert axe_violations(page) == []
    page.keyboard.press("Escape")

    # a funnel step: ↓ is no other series, → the next step, Enter its people
    steps = widgets["Signup → activated → purchase"]
    canvas = f"[data-widget-id='{steps['id']}'] canvas"
    page.focus(canvas)
    page.keyboard.press("ArrowRight")  # the first step
    page.keyboard.press("ArrowRight")  # the second
    assert page.get_attribute(canvas, "data-mark") == "0:1"
    with page.expect_request("**/v1/insights/funnels/people") as sent:
        page.keyboard.press("Enter")
    assert sent.value.post_data_json["step"] == 2
    page.wait_for_selector("#drawer:not([hidden])")
    page.keyboard.press("Escape")

    # a retention cell: a button in the heatmap itself
    retention = widgets["Weekly retention after signup"]
    _tab_to(page, f"[data-widget-id='{retention['id']}'] .retention button.cell")
    with page.expect_request("**/v1/insights/retention/people"):
        page.keyboard.press("Enter")
    page.wait_for_selector("#drawer:not([hidden])")
    assert axe_violations(page) == []
    page.keyboard.press("Escape")
    assert page.errors == []  # type: ignore[attr-defined]


def test_a_dashboard_draws_last_known_answers_labelled_then_fresh_ones(
    page: Any, live: LiveServer, demo: dict[str, str]
) -> None:
    key, dashboard_id = demo["key"], demo["dashboard_id"]
    page.goto("about:blank")  # no live stream open on the dashboard (it would recompute after the event)
    page.wait_for_timeout(500)
    before = call(live, key, f"/v1/dashboards/{dashboard_id}/render")["widgets"]  # known answers
    now = datetime.now(UTC).isoformat()
    call(
        live,
        key,
        "/v1/events",
        method="POST",
        json=[{"event": "pageview", "distinct_id": "new-visitor", "timestamp": now}],
    )
    # the new event moved the data version on: each widget has its last known answer, marked stale
    page.wait_for_timeout(300)
    # a new visit, its first render the page's own (no sign-in step opening another dashboard first),
    # the fresh answers held back (the per-widget asks and the live stream) to see the first paint alone
    context = page.context.browser.new_context(viewport={"width": 1280, "height": 1000})
    context.add_init_script(f"sessionStorage.setItem('ae_api_key', {json.dumps(key)})")
    try:
        visit = context.new_page()
        held = lambda route: route.abort()  # noqa: E731
        visit.route("**/render?*widgets=*", held)
        visit.route("**/stream?*", held)
        visit.goto(f"{live.url}/ui/#/d/{dashboard_id}")
        visit.wait_for_function("document.body.dataset.firstPaintMs !== undefined", timeout=60_000)
        states = visit.eval_on_selector_all("[data-widget-id]", "els => els.map(e => e.dataset.state)")
        assert states == ["stale"] * len(before), states
        label = visit.inner_text("[data-widget-id][data-state=stale] .meta")
        assert label.startswith("last known, as of ") and "updating" in label
        assert visit.get_attribute("[data-widget-id][data-state=stale]", "aria-busy") == "true"
        assert axe_violations(visit) == []
        screenshot(visit, "ui-dashboard-last-known.png", full_page=False)
        # the fresh answers let through: every widget redrawn fresh, the labels gone
        visit.unroute("**/render?*widgets=*")
        visit.unroute("**/stream?*")
        visit.reload()
        visit.wait_for_function("document.body.dataset.freshPaintMs !== undefined", timeout=60_000)
        states = visit.eval_on_selector_all("[data-widget-id]", "els => els.map(e => e.dataset.state)")
        assert set(states) == {"fresh"}, states
        assert visit.locator(".widget .meta:has-text('updating')").count() == 0
    finally:
        context.close()


@pytest.mark.parametrize("width", [1280, 420])
def test_every_screen_as_a_new_user_at_two_widths(
    page: Any, live: LiveServer, demo: dict[str, str], width: int
) -> None:
    """Each screen of the page in turn (the dashboard, the builder with every kind, the cohorts,
    exports and reports lists): drawn, nothing wider than the window, no script error, no serious
    axe-core violation."""
    context = page.context.browser.new_context(viewport={"width": width, "height": 900}, device_scale_factor=1)
    try:
        visit = context.new_page()
        errors: list[str] = []
        visit.on("pageerror", lambda exc: errors.append(str(exc)))
        sign_in(visit, live, demo["key"], f"#/d/{demo['dashboard_id']}")
        visit.wait_for_function("document.body.dataset.freshPaintMs !== undefined", timeout=60_000)
        found: dict[str, Any] = {}

        def check(screen: str) -> None:
            wide = visit.evaluate("document.documentElement.scrollWidth")
            found[screen] = {"width": wide, "axe": axe_violations(visit)}

        check("dashboard")
        visit.evaluate("location.hash = '#/insight'")
        visit.wait_for_selector("#b-chart canvas", timeout=60_000)
        for kind in ("trends", "funnels", "retention", "engagement", "paths"):
            runs = int(visit.evaluate("document.body.dataset.builderRuns || '0'"))
            visit.click(f"#b-kinds [data-kind='{kind}']")
            visit.wait_for_function(f"Number(document.body.dataset.builderRuns || 0) > {runs}", timeout=60_000)
            check(f"builder {kind}")
        for screen in ("cohorts", "exports", "reports"):
            visit.evaluate(f"location.hash = '#/{screen}'")
            visit.wait_for_function("!document.getElementById('view-manage').hidden", timeout=30_000)
            visit.wait_for_timeout(300)
            check(screen)
        problems = {k: v for k, v in found.items() if v["width"] > width or v["axe"]}
        assert problems == {}, problems
        assert errors == []
    finally:
        context.close()
