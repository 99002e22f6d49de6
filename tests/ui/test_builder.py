"""The insight builder in Chromium: trends (math, breakdown, compare, formula), funnels, retention and
engagement from the tenant's own names; every chart type; save as a metric; the numbers drawn are the
API's. Also times a click-to-chart for a new trend."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from tests.dashboards.live import LiveServer
from tests.ui.conftest import axe_violations, call, screenshot, sign_in

pytestmark = pytest.mark.browser


def _run(page: Any) -> None:
    runs = int(page.evaluate("document.body.dataset.builderRuns || '0'"))
    page.click("#b-run")
    page.wait_for_function(f"Number(document.body.dataset.builderRuns || 0) > {runs}", timeout=60_000)


def _datasets(page: Any) -> list[list[float]]:
    return page.evaluate(
        "Chart.getChart(document.querySelector('#b-chart canvas')).data.datasets.map((d) => d.data.map(Number))"
    )


def _kind(page: Any, kind: str) -> None:
    runs = int(page.evaluate("document.body.dataset.builderRuns || '0'"))
    page.click(f"#b-kinds [data-kind='{kind}']")
    page.wait_for_function(f"Number(document.body.dataset.builderRuns || 0) > {runs}", timeout=60_000)


def test_trends_with_the_tenants_names_math_breakdown_compare_and_chart_types(
    page: Any, live: LiveServer, demo: dict[str, str]
) -> None:
    key = demo["key"]
    sign_in(page, live, key, "#/insight")
    page.wait_for_selector("#b-chart canvas", timeout=60_000)
    # the pickers offer the tenant's own names
    names = page.eval_on_selector_all("#event-names option", "os => os.map(o => o.value)")
    keys = page.eval_on_selector_all("#property-keys option", "os => os.map(o => o.value)")
    assert {"pageview", "signup", "purchase"} <= set(names) and {"plan", "amount"} <= set(keys)
    # ... from its taxonomy, busiest first
    taxonomy = call(live, key, "/v1/taxonomy")
    assert names == [e["name"] for e in taxonomy["events"]] and keys == [p["key"] for p in taxonomy["properties"]]

    # purchases broken down by plan: one dataset per plan, the API's numbers
    page.fill("#b-form .s-event", "purchase")
    page.fill("#b-breakdown", "plan")
    _run(page)
    query = page.evaluate("window.aeBuilder.query")
    assert query["breakdown"] == ["plan"] and query["series"][0]["event"] == "purchase"
    answer = call(live, key, "/v1/insights/trends", method="POST", json=query)
    assert _datasets(page) == [[float(p["value"] or 0) for p in s["points"]] for s in answer["series"]]
    assert len(answer["series"]) >= 2

    # chart types
    for display, check in (
        ("bar", "chart.config.type === 'bar' && !chart.options.scales.x.stacked"),
        ("stacked", "chart.config.type === 'bar' && chart.options.scales.y.stacked"),
        ("area", "chart.config.type === 'line' && chart.data.datasets[0].fill !== false"),
        ("line", "chart.config.type === 'line' && chart.data.datasets[0].fill === false"),
    ):
        page.select_option("#b-display", display)
        assert page.evaluate(f"(() => {{ const chart = window.aeBuilder.chart; return {check}; }})()"), display
    page.select_option("#b-display", "table")
    page.wait_for_selector("#b-chart table.data-table")
    header = page.eval_on_selector_all("#b-chart thead th", "ths => ths.map(t => t.textContent)")
    assert header == ["Period", *[s["label"] for s in answer["series"]]]

    # revenue: sum of amount, compared with the previous period, as a big number with its change
    page.fill("#b-breakdown", "")
    page.select_option("#b-form .s-math", "sum")
    page.fill("#b-form .s-prop", "amount")
    page.check("#b-compare")
    page.select_option("#b-display", "number")
    _run(page)
    query = page.evaluate("window.aeBuilder.query")
    assert query["compare"] is True and query["series"][0] == {
        "event": "purchase",
        "math": "sum",
        "math_property": "amount",
    }
    answer = call(live, key, "/v1/insights/trends", method="POST", json=query)
    current = next(s for s in answer["series"] if s.get("compare") != "previous")
    previous = next(s for s in answer["series"] if s.get("compare") == "previous")
    assert float(page.get_attribute("#b-chart .value", "data-value")) == pytest.approx(current["total"])
    assert float(page.get_attribute("#b-chart .change", "data-previous")) == pytest.approx(previous["total"])
    assert "vs previous period" in page.inner_text("#b-chart .change")

    # a formula across two series
    page.uncheck("#b-compare")
    page.select_option("#b-form .s-math", "total")
    page.click("#b-add-series")
    page.fill("#b-series .b-series:nth-child(2) .s-event", "signup")
    page.fill("#b-formula", "A / B * 100")
    page.select_option("#b-display", "line")
    _run(page)
    query = page.evaluate("window.aeBuilder.query")
    assert query["formula"] == "A / B * 100" and [s["event"] for s in query["series"]] == ["purchase", "signup"]
    answer = call(live, key, "/v1/insights/trends", method="POST", json=query)
    assert _datasets(page) == [[float(p["value"] or 0) for p in s["points"]] for s in answer["series"]]

    # save as a metric in the registry
    page.fill("#b-title", "Purchases per signup")
    page.click("#b-save-metric")
    page.wait_for_selector("#dialog[open]")
    page.fill("#dlg-unit", "%")
    page.click("#dialog-ok")
    page.wait_for_selector("#dialog[open]", state="detached")
    metric = next(m for m in call(live, key, "/v1/metrics") if m["name"] == "Purchases per signup")["definition"]
    assert metric["unit"] == "%" and metric["query"]["formula"] == "A / B * 100"
    screenshot(page, "ui-builder-trends.png", full_page=False)
    assert axe_violations(page) == []
    assert page.errors == []  # type: ignore[attr-defined]


def test_funnels_retention_and_engagement(page: Any, live: LiveServer, demo: dict[str, str]) -> None:
    key = demo["key"]
    sign_in(page, live, key, "#/insight")
    page.wait_for_selector("#b-chart canvas", timeout=60_000)

    _kind(page, "funnels")
    steps = page.locator("#b-steps .st-event")
    steps.nth(0).fill("signup")
    steps.nth(1).fill("activated")
    page.click("#b-add-step")
    page.locator("#b-steps .st-event").nth(2).fill("purchase")
    page.fill("#b-window", "30")
    _run(page)
    query = page.evaluate("window.aeBuilder.query")
    assert [s["event"] for s in query["steps"]] == ["signup", "activated", "purchase"]
    assert query["conversion_window"] == {"value": 30, "unit": "day"}
    answer = call(live, key, "/v1/insights/funnels", method="POST", json=query)
    assert _datasets(page) == [[float(s["count"]) for s in answer["funnel"][0]["steps"]]]
    screenshot(page, "ui-builder-funnel.png", full_page=False)

    _kind(page, "retention")
    page.fill("#b-start", "signup")
    page.select_option("#b-range", "-90d")
    _run(page)
    query = page.evaluate("window.aeBuilder.query")
    answer = call(live, key, "/v1/insights/retention", method="POST", json=query)
    cells = page.eval_on_selector_all("#b-chart td[data-count]", "tds => tds.map(td => Number(td.dataset.count))")
    assert cells == [v for c in answer["retention"] for v in c["values"] if v is not None] and sum(cells) > 0
    assert axe_violations(page) == []

    _kind(page, "engagement")
    page.select_option("#b-measure", "lifecycle")
    page.select_option("#b-interval", "week")
    _run(page)
    query = page.evaluate("window.aeBuilder.query")
    assert query["measure"] == "lifecycle" and query["interval"] == "week"
    answer = call(live, key, "/v1/insights/engagement", method="POST", json=query)
    drawn = [s for s in answer["series"] if not (s.get("meta") or {}).get("trend")]
    assert _datasets(page) == [[float(p["value"] or 0) for p in s["points"]] for s in drawn]

    # an invalid query: the API's exact reason, in one place
    _kind(page, "trends")
    page.select_option("#b-form .s-math", "sum")
    _run(page)
    status = page.inner_text("#b-status")
    assert "math_property" in status and "(invalid_query)" in status, status
    assert page.errors == []  # type: ignore[attr-defined]


def test_click_to_chart_for_a_new_trend(page: Any, live: LiveServer, demo: dict[str, str]) -> None:
    sign_in(page, live, demo["key"], "#/insight")
    page.wait_for_selector("#b-chart canvas", timeout=60_000)
    timings = []
    for event in ("signup", "purchase", "activated", "pageview"):
        page.fill("#b-form .s-event", event)
        started = time.perf_counter()
        _run(page)
        timings.append((time.perf_counter() - started) * 1000)
        assert page.evaluate("window.aeBuilder.query.series[0].event") == event
    # the target is 500 ms on the demo data (docs/ui.md has the measured figure); generous on a busy CI box
    assert sorted(timings)[len(timings) // 2] < 2000, timings


def test_formula_help_and_the_apis_reason_inline(page: Any, live: LiveServer, demo: dict[str, str]) -> None:
    key = demo["key"]
    sign_in(page, live, key, "#/insight")
    page.wait_for_selector("#b-chart canvas", timeout=60_000)
    page.fill("#b-form .s-event", "purchase")
    page.click("#b-add-series")
    page.fill("#b-series .b-series:nth-child(2) .s-event", "signup")
    assert page.inner_text("#b-formula-hint").startswith("Series here: A, B.")
    # the help: what a formula may contain, with examples that fill the field
    page.click("#b-formula-help summary")
    help_text = page.inner_text("#b-formula-help")
    assert "Series letters" in help_text and "parentheses" in help_text and "(A - B) / B * 100" in help_text
    runs = int(page.evaluate("document.body.dataset.builderRuns || '0'"))
    page.click("#b-formula-help [data-formula='(A - B) / B * 100']")
    page.wait_for_function(f"Number(document.body.dataset.builderRuns || 0) > {runs}", timeout=60_000)
    assert page.input_value("#b-formula") == "(A - B) / B * 100"
    query = page.evaluate("window.aeBuilder.query")
    answer = call(live, key, "/v1/insights/trends", method="POST", json=query)
    assert _datasets(page) == [[float(p["value"] or 0) for p in s["points"]] for s in answer["series"]]

    # a formula naming a series the query lacks: the API's reason under the field, as it gave it
    page.fill("#b-formula", "A / C")
    _run(page)
    page.wait_for_selector("#b-formula-error:not([hidden])")
    refused = httpx.post(
        f"{live.url}/v1/insights/trends",
        json={**query, "formula": "A / C"},
        headers={"Authorization": f"Bearer {key}"},
        timeout=60,
    )
    assert refused.status_code == 422
    reasons = [e["message"] for e in refused.json()["error"]["details"]["errors"]]
    assert page.inner_text("#b-formula-error") == "; ".join(reasons) and "'C'" in reasons[0]
    assert page.get_attribute("#b-formula", "aria-invalid") == "true"
    assert "formula" in page.inner_text("#b-status")
    assert axe_violations(page) == []
    screenshot(page, "ui-builder-formula.png", full_page=False)
    # fixed: the error goes, the chart comes back
    page.fill("#b-formula", "A / B * 100")
    _run(page)
    assert page.is_hidden("#b-formula-error") and page.get_attribute("#b-formula", "aria-invalid") is None
    page.wait_for_selector("#b-chart canvas")
    assert page.errors == []  # type: ignore[attr-defined]


def test_paths_as_a_sankey_with_people_and_on_a_dashboard(page: Any, live: LiveServer, demo: dict[str, str]) -> None:
    key = demo["key"]
    sign_in(page, live, key, "#/insight")
    page.wait_for_selector("#b-chart canvas", timeout=60_000)
    _kind(page, "paths")
    page.fill("#b-path-start", "signup")
    page.fill("#b-path-steps", "3")
    _run(page)
    query = page.evaluate("window.aeBuilder.query")
    assert query["kind"] == "paths" and query["start_event"] == "signup" and query["steps"] == 3
    answer = call(live, key, "/v1/insights/paths", method="POST", json=query)
    # every node of the answer is drawn, with its people; every link is a band
    drawn = page.eval_on_selector_all(
        "#b-chart .sankey-node", "gs => gs.map(g => [g.dataset.id, Number(g.dataset.people)])"
    )
    assert drawn == [[n["id"], n["people"]] for n in answer["nodes"]] and len(drawn) > 3
    bands = page.eval_on_selector_all(
        "#b-chart .sankey-links path",
        "ps => ps.map(p => [p.dataset.source, p.dataset.target, Number(p.dataset.people)])",
    )
    assert sorted(bands) == sorted([[x["source"], x["target"], x["people"]] for x in answer["links"]])
    assert axe_violations(page) == []
    screenshot(page, "ui-builder-paths.png", full_page=False)

    # a node by keyboard: the people at that step
    node = next(n for n in answer["nodes"] if n["step"] == 2)
    page.focus(f"#b-chart .sankey-node[data-id='{node['id']}']")
    page.keyboard.press("Enter")
    page.wait_for_selector("#drawer:not([hidden])")
    people = call(
        live,
        key,
        "/v1/insights/paths/people",
        method="POST",
        json={"query": query, "step": 2, "name": node["name"], "limit": 100},
    )["people"]
    assert _people(page) == people and people
    page.keyboard.press("Escape")
    # a band: the people on that link
    link = answer["links"][0]
    source = next(n for n in answer["nodes"] if n["id"] == link["source"])
    target = next(n for n in answer["nodes"] if n["id"] == link["target"])
    page.dispatch_event(
        f"#b-chart .sankey-links path[data-source='{link['source']}'][data-target='{link['target']}']", "click"
    )
    page.wait_for_selector("#drawer:not([hidden])")
    on_link = call(
        live,
        key,
        "/v1/insights/paths/people",
        method="POST",
        json={"query": query, "step": source["step"], "name": source["name"], "next_name": target["name"]},
    )["people"]
    assert _people(page) == on_link and len(on_link) == min(100, link["people"])
    page.keyboard.press("Escape")
    # the table: a row per link, its people a button
    page.select_option("#b-display", "table")
    page.wait_for_selector("#b-chart table.data-table")
    assert page.locator("#b-chart tbody tr").count() == len(answer["links"])
    assert page.locator("#b-chart tbody td button").count() == len(answer["links"])
    page.select_option("#b-display", "sankey")

    # on a dashboard: a sankey widget
    page.fill("#b-title", "Paths after signup")
    page.click("#b-add-dashboard")
    page.wait_for_selector("#dialog[open]")
    page.select_option("#dlg-dashboard", demo["dashboard_id"])
    page.click("#dialog-ok")
    page.wait_for_function(f"location.hash === '#/d/{demo['dashboard_id']}'")
    widget = next(
        w
        for w in call(live, key, f"/v1/dashboards/{demo['dashboard_id']}")["widgets"]
        if w["title"] == "Paths after signup"
    )
    assert widget["viz"] == "sankey" and widget["query"]["kind"] == "paths"
    page.wait_for_selector(f"[data-widget-id='{widget['id']}'] .sankey-node", timeout=60_000)
    assert axe_violations(page) == []
    call(live, key, f"/v1/dashboards/{demo['dashboard_id']}/widgets/{widget['id']}", method="DELETE")
    assert page.errors == []  # type: ignore[attr-defined]


def _people(page: Any) -> list[str]:
    page.wait_for_function(
        "document.querySelector('#drawer .people') && !document.querySelector('#drawer p.muted')"
        ".textContent.startsWith('Loading')"
    )
    return page.eval_on_selector_all("#drawer .people button", "bs => bs.map(b => b.dataset.person)")
