"""Drill down in Chromium: a point of a trend and a funnel step to the people behind them (the same
people the API gives), a person's properties and recent events, the people saved as a cohort, a widget
as a table and as a CSV export."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from tests.dashboards.live import LiveServer
from tests.ui.conftest import axe_violations, call, screenshot, sign_in

pytestmark = pytest.mark.browser


def _widgets(page: Any) -> dict[str, dict[str, Any]]:
    return {w["title"]: w for w in page.evaluate("window.aeDashboard.dashboard.widgets")}


def _open_widget(page: Any, live: LiveServer, demo: dict[str, str], title: str) -> dict[str, Any]:
    """Sign in to the demo dashboard, wait for its charts, and give the widget with this title."""
    sign_in(page, live, demo["key"], f"#/d/{demo['dashboard_id']}")
    page.wait_for_function("document.querySelectorAll('[data-widget-id] canvas').length >= 4", timeout=60_000)
    return _widgets(page)[title]


def _click_element(page: Any, widget_id: str, dataset: int, index: int) -> None:
    """Click the chart element (a point or a bar) `index` of `dataset` of a widget's chart."""
    x, y = page.evaluate(
        """([id, d, i]) => {
            const canvas = document.querySelector(`[data-widget-id="${id}"] canvas`);
            canvas.scrollIntoView({block: "center"});
            const chart = Chart.getChart(canvas);
            const element = chart.getDatasetMeta(d).data[i];
            const box = canvas.getBoundingClientRect();
            return [box.left + element.x, box.top + element.y];
        }""",
        [widget_id, dataset, index],
    )
    page.mouse.click(x, y)


def _people(page: Any) -> list[str]:
    page.wait_for_function(
        "document.querySelector('#drawer .people') && !document.querySelector('#drawer p.muted')"
        ".textContent.startsWith('Loading')"
    )
    return page.eval_on_selector_all("#drawer .people button", "bs => bs.map(b => b.dataset.person)")


def test_point_to_people_to_person_and_a_cohort(page: Any, live: LiveServer, demo: dict[str, str]) -> None:
    key = demo["key"]
    widget = _open_widget(page, live, demo, "Pageviews per day")
    points = widget["data"]["series"][0]["points"]
    index = max(i for i, p in enumerate(points[:-1]) if (p["value"] or 0) > 0)
    bucket = points[index]["bucket"] or points[index]["label"]
    _click_element(page, widget["id"], 0, index)
    page.wait_for_selector("#drawer:not([hidden])")
    shown = _people(page)
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
    assert shown == expected and len(shown) > 0
    assert bucket[5:10] in page.inner_text("#drawer-title")
    assert axe_violations(page) == []

    # one person: properties and recent events, as the API gives them
    person = shown[0]
    page.click(f"#drawer .people button[data-person='{person}']")
    page.wait_for_selector("#person-events li")
    events = call(live, key, f"/v1/persons/{person}/events", params={"limit": 50})
    assert page.eval_on_selector_all("#person-events strong", "s => s.map(x => x.textContent)") == [
        e["event"] for e in events
    ]
    assert "pageview" in [e["event"] for e in events]
    screenshot(page, "ui-person.png", full_page=False)
    page.keyboard.press("Escape")
    page.wait_for_selector("#drawer", state="hidden")

    # the people of a funnel step, converted and dropped off, and saved as a cohort
    funnel_widget = _widgets(page)["Signup → activated → purchase"]
    _click_element(page, funnel_widget["id"], 0, 1)
    page.wait_for_selector("#drawer:not([hidden])")
    converted = _people(page)
    query = page.evaluate(f"window.aeDashboard.definition.widgets.find(w => w.id === '{funnel_widget['id']}').query")
    query = {**query, "date_range": {"date_from": "-90d", "date_to": None}}
    api_converted = call(
        live,
        key,
        "/v1/insights/funnels/people",
        method="POST",
        json={"query": query, "step": 2, "status": "converted", "limit": 100},
    )["people"]
    assert converted == api_converted and converted
    page.click("#drawer .segmented button:nth-child(2)")
    page.wait_for_function(
        "document.querySelector('#drawer .segmented button:nth-child(2)').getAttribute('aria-pressed') === 'true'"
    )
    dropped = _people(page)
    api_dropped = call(
        live,
        key,
        "/v1/insights/funnels/people",
        method="POST",
        json={"query": query, "step": 2, "status": "dropped", "limit": 100},
    )["people"]
    assert dropped == api_dropped and not set(dropped) & set(converted)
    page.click("#save-cohort")
    page.wait_for_selector("#dialog[open]")
    page.fill("#dlg-name", "Dropped after signup")
    page.click("#dialog-ok")
    page.wait_for_selector("#dialog[open]", state="detached")
    cohort = next(c for c in call(live, key, "/v1/cohorts") if c["name"] == "Dropped after signup")
    members = call(live, key, f"/v1/cohorts/{cohort['id']}/members", params={"limit": 1000})
    assert sorted(members["distinct_ids"]) == sorted(dropped)
    page.click("#drawer-close")
    assert page.errors == []  # type: ignore[attr-defined]


def test_widget_table_and_export(page: Any, live: LiveServer, demo: dict[str, str]) -> None:
    key = demo["key"]
    widget = _open_widget(page, live, demo, "Purchases by plan")
    wid = widget["id"]
    page.click(f"[data-widget-id='{wid}'] .widget-menu summary")
    page.click(f"[data-widget-id='{wid}'] [data-action='table']")
    page.wait_for_selector(f"[data-widget-id='{wid}'] table.data-table")
    header = page.eval_on_selector_all(f"[data-widget-id='{wid}'] thead th", "ths => ths.map(t => t.textContent)")
    assert header == ["Period", *[s["label"] for s in widget["data"]["series"]]]
    rows = page.eval_on_selector_all(f"[data-widget-id='{wid}'] tbody tr", "trs => trs.length")
    assert rows == len(widget["data"]["series"][0]["points"]) + 1  # and a total

    # by keyboard: a count in the table is a button to the people behind it (here: that week, that plan)
    series = widget["data"]["series"][0]
    row = max(i for i, p in enumerate(series["points"][:-1]) if (p["value"] or 0) > 0)
    button = page.locator(f"[data-widget-id='{wid}'] tbody tr").nth(row).locator("td button").first
    button.focus()
    page.keyboard.press("Enter")
    page.wait_for_selector("#drawer:not([hidden])")
    shown = _people(page)
    week = series["points"][row]["bucket"] or series["points"][row]["label"]
    step = {
        "event": "purchase",
        "filters": [{"type": "property", "key": "plan", "operator": "eq", "value": series["breakdown_value"][0]}],
    }
    funnel = {"kind": "funnels", "steps": [step, step], "date_range": {"date_from": week[:10], "date_to": None}}
    start = datetime.fromisoformat(week[:10])
    funnel["date_range"]["date_to"] = (start + timedelta(days=6)).date().isoformat()
    expected = call(
        live,
        key,
        "/v1/insights/funnels/people",
        method="POST",
        json={"query": funnel, "step": 1, "status": "converted", "limit": 100},
    )["people"]
    assert shown == expected and 0 < len(shown) <= int(series["points"][row]["value"])  # people ≤ purchases
    page.keyboard.press("Escape")

    page.click(f"[data-widget-id='{wid}'] .widget-menu summary")
    page.click(f"[data-widget-id='{wid}'] [data-action='export']")
    page.wait_for_selector("#export-download", timeout=60_000)
    link = page.get_attribute("#export-download", "href")
    text = httpx.get(link if link.startswith("http") else f"{live.url}{link}", timeout=30).text
    table = list(csv.reader(io.StringIO(text)))
    assert len(table) > 2 and any("purchase" in cell for row in table for cell in row)
    page.click("#drawer-close")
    assert page.errors == []  # type: ignore[attr-defined]


def test_a_point_of_any_event_lists_the_people_seen_around_it(
    page: Any, live: LiveServer, demo: dict[str, str]
) -> None:
    key = demo["key"]
    widget = _open_widget(page, live, demo, "Daily active users")
    points = widget["data"]["series"][0]["points"]
    index = len(points) - 3
    _click_element(page, widget["id"], 0, index)
    page.wait_for_selector("#drawer:not([hidden])")
    shown = _people(page)
    assert "Any event" in page.inner_text("#drawer")
    day = (points[index]["bucket"] or points[index]["label"])[:10]
    # the point's day starts at midnight in the tenant's zone (Europe/Oslo), an hour before UTC's;
    # every person seen since then, not only the first page (a few days hold more than 100 people)
    start = datetime.fromisoformat(day).replace(tzinfo=ZoneInfo("Europe/Oslo")).astimezone(UTC)
    end = call(live, key, "/v1/persons", params={"seen_after": start.isoformat(), "limit": 1000})
    assert len(end["results"]) < 1000
    assert shown and set(shown) <= {p["distinct_id"] for p in end["results"]}
    page.click("#drawer-close")
    assert page.errors == []  # type: ignore[attr-defined]


def test_a_retention_cell_lists_its_people(page: Any, live: LiveServer, demo: dict[str, str]) -> None:
    key = demo["key"]
    widget = _open_widget(page, live, demo, "Weekly retention after signup")
    wid = widget["id"]
    # the people who came back in week 1 of the first cohort that has any: a button in the heatmap cell
    row, cohort = next((i, c) for i, c in enumerate(widget["data"]["retention"]) if (c["values"][1] or 0) > 0)
    cell = page.locator(f"[data-widget-id='{wid}'] .retention tbody tr").nth(row).locator("td button.cell").nth(1)
    assert cell.inner_text() == f"{cohort['percentages'][1]:.1f}%"
    with page.expect_request("**/v1/insights/retention/people") as sent:
        cell.focus()
        page.keyboard.press("Enter")  # by keyboard; a click does the same
    page.wait_for_selector("#drawer:not([hidden])")
    shown = _people(page)
    body = sent.value.post_data_json
    assert body["cohort"] == cohort["date"] and body["period"] == 1 and body["query"]["kind"] == "retention"
    expected = call(live, key, "/v1/insights/retention/people", method="POST", json=body)["people"]
    assert shown == expected and len(shown) == min(100, cohort["values"][1])
    assert "came back in week 1" in page.inner_text("#drawer")
    assert axe_violations(page) == []
    page.keyboard.press("Escape")

    # the whole cohort (period 0), from the widget's table view
    page.click(f"[data-widget-id='{wid}'] .widget-menu summary")
    page.click(f"[data-widget-id='{wid}'] [data-action='table']")
    page.wait_for_selector(f"[data-widget-id='{wid}'] table.data-table")
    with page.expect_request("**/v1/insights/retention/people") as sent:
        page.locator(f"[data-widget-id='{wid}'] tbody tr").nth(row).locator("td button").first.click()
    shown = _people(page)
    assert sent.value.post_data_json["period"] == 0 and len(shown) == min(100, cohort["size"])
    page.click("#drawer-close")
    assert page.errors == []  # type: ignore[attr-defined]
