"""Dashboards built and changed from the page (Debian's Chromium through Playwright): create, rename,
describe, add a widget from the builder, move and resize it, edit it, remove it, duplicate and delete
the dashboard; dashboard filters for this visit only or saved with the dashboard. Every change is
checked against the API afterwards."""

from __future__ import annotations

from typing import Any

import pytest

from tests.dashboards.live import LiveServer
from tests.ui.conftest import axe_violations, call, chart_value, screenshot, sign_in

pytestmark = pytest.mark.browser


def _dashboards(live: LiveServer, key: str) -> dict[str, dict[str, Any]]:
    return {d["name"]: d for d in call(live, key, "/v1/dashboards")}


def _dialog(page: Any, values: dict[str, str], ok: bool = True) -> None:
    page.wait_for_selector("#dialog[open]")
    for name, value in values.items():
        page.fill(f"#dlg-{name}", value)
    if ok:
        page.click("#dialog-ok")
        page.wait_for_selector("#dialog[open]", state="detached")


def test_create_rename_add_move_resize_edit_remove_duplicate_delete(
    page: Any, live: LiveServer, demo: dict[str, str]
) -> None:
    key = demo["key"]
    sign_in(page, live, key)
    page.wait_for_selector("[data-widget-id]")

    # create, with a description
    page.click("#new-dashboard")
    page.wait_for_selector("#dialog[open]")
    assert axe_violations(page) == []  # the dialog too
    _dialog(page, {"name": "Growth board", "description": "Made in the browser"})
    page.wait_for_function("document.getElementById('dashboard-title').textContent === 'Growth board'")
    made = _dashboards(live, key)["Growth board"]
    assert made["description"] == "Made in the browser" and made["widgets"] == 0
    page.wait_for_selector(".empty-dashboard")
    assert page.inner_text("#dashboard-description") == "Made in the browser"

    # rename and describe
    page.click("#dash-actions summary")
    page.click("#rename-dashboard")
    _dialog(page, {"name": "Growth", "description": "Weekly growth numbers"})
    page.wait_for_function("document.getElementById('dashboard-title').textContent === 'Growth'")
    assert _dashboards(live, key)["Growth"]["description"] == "Weekly growth numbers"
    assert "Growth" in page.inner_text("#dashboard-list")

    # add a widget: the builder, a trend of signups as a bar chart, "Add to dashboard"
    page.click("#add-widget")
    page.wait_for_selector("#b-chart canvas")
    page.fill("#b-form .s-event", "signup")
    page.select_option("#b-display", "bar")
    page.fill("#b-title", "Signups per day")
    page.click("#b-run")
    page.wait_for_function("window.aeBuilder.query && window.aeBuilder.query.series[0].event === 'signup'")
    page.click("#b-add-dashboard")
    page.wait_for_selector("#dialog[open]")
    page.select_option("#dlg-dashboard", made["id"])
    page.click("#dialog-ok")
    page.wait_for_function(f"location.hash === '#/d/{made['id']}'")
    page.wait_for_selector("[data-widget-id] canvas")
    widget = call(live, key, f"/v1/dashboards/{made['id']}")["widgets"][0]
    assert widget["title"] == "Signups per day" and widget["viz"] == "bar"
    assert [(s["event"], s["math"]) for s in widget["query"]["series"]] == [("signup", "total")]
    assert widget["options"] == {"display": "bar"}
    wid = widget["id"]

    # move and resize with the layout buttons (keyboard reachable), saved through the API
    page.click("#edit-layout")
    assert page.get_attribute("#edit-layout", "aria-pressed") == "true"
    before = widget["layout"]
    for action in ("right", "right", "down", "wider", "taller", "taller"):
        page.click(f"[data-widget-id='{wid}'] [data-layout='{action}']")
        page.wait_for_function(f"document.querySelector(\"[data-widget-id='{wid}']\").dataset.saved !== undefined")
    page.wait_for_timeout(300)
    layout = call(live, key, f"/v1/dashboards/{made['id']}")["widgets"][0]["layout"]
    assert layout == {"x": before["x"] + 2, "y": before["y"] + 1, "w": before["w"] + 1, "h": before["h"] + 2}
    page.focus(f"[data-widget-id='{wid}'] [data-layout='left']")
    page.keyboard.press("Enter")
    page.wait_for_timeout(400)
    assert call(live, key, f"/v1/dashboards/{made['id']}")["widgets"][0]["layout"]["x"] == before["x"] + 1
    page.click("#edit-layout")

    # edit: the widget's ⋯ menu → the builder with its query → a line of unique users → saved back
    page.click(f"[data-widget-id='{wid}'] .widget-menu summary")
    page.click(f"[data-widget-id='{wid}'] [data-action='edit']")
    page.wait_for_selector("#b-save-widget")
    assert page.input_value("#b-form .s-event") == "signup" and page.input_value("#b-title") == "Signups per day"
    page.select_option("#b-form .s-math", "unique_users")
    page.select_option("#b-display", "area")
    page.fill("#b-title", "People signing up")
    page.click("#b-run")
    page.wait_for_function("window.aeBuilder.query && window.aeBuilder.query.series[0].math === 'unique_users'")
    page.click("#b-save-widget")
    page.wait_for_function(f"location.hash === '#/d/{made['id']}'")
    page.wait_for_selector(f"[data-widget-id='{wid}'] canvas")
    edited = call(live, key, f"/v1/dashboards/{made['id']}")["widgets"][0]
    assert edited["title"] == "People signing up" and edited["viz"] == "line"
    assert edited["query"]["series"][0]["math"] == "unique_users" and edited["options"]["display"] == "area"
    fill = chart_value(page, f"[data-widget-id='{wid}'] canvas", "chart.data.datasets[0].fill")
    assert fill == "origin"  # an area chart
    assert axe_violations(page) == []

    # duplicate: a copy with the same widgets
    page.click("#dash-actions summary")
    page.click("#duplicate-dashboard")
    _dialog(page, {"name": "Growth copy"})
    page.wait_for_function("document.getElementById('dashboard-title').textContent === 'Growth copy'")
    copy = _dashboards(live, key)["Growth copy"]
    copied = call(live, key, f"/v1/dashboards/{copy['id']}")["widgets"]
    assert [(w["title"], w["query"], w["layout"]) for w in copied] == [
        (edited["title"], edited["query"], edited["layout"])
    ]

    # remove the copy's widget, then delete the copy
    cid = copied[0]["id"]
    page.wait_for_selector(f"[data-widget-id='{cid}']")
    page.click(f"[data-widget-id='{cid}'] .widget-menu summary")
    page.click(f"[data-widget-id='{cid}'] [data-action='remove']")
    _dialog(page, {})
    page.wait_for_selector(".empty-dashboard")
    assert call(live, key, f"/v1/dashboards/{copy['id']}")["widgets"] == []
    page.click("#dash-actions summary")
    page.click("#delete-dashboard")
    _dialog(page, {})
    page.wait_for_function("!document.getElementById('dashboard-list').textContent.includes('Growth copy')")
    assert "Growth copy" not in _dashboards(live, key)
    assert page.errors == []  # type: ignore[attr-defined]


def test_filters_for_this_visit_or_saved(page: Any, live: LiveServer, demo: dict[str, str]) -> None:
    key, dashboard_id = demo["key"], demo["dashboard_id"]
    sign_in(page, live, key, f"#/d/{dashboard_id}")
    page.wait_for_function(f"location.hash === '#/d/{dashboard_id}'")
    page.wait_for_selector("[data-widget-id] .value")
    saved = call(live, key, f"/v1/dashboards/{dashboard_id}")["filters"]

    def signups() -> float:
        # widgets are drawn one by one as their answers come (pending, then stale or fresh): wait for
        # the Signups widget's fresh answer
        handle = page.wait_for_function(
            """() => {
                const widgets = (window.aeDashboard.dashboard || {}).widgets || [];
                const w = widgets.find((w) => w.title === 'Signups');
                return w && w.data && !w.pending && !w.stale ? {total: w.data.series[0].total} : undefined;
            }""",
            timeout=60_000,
        )
        return float(handle.json_value()["total"])

    everyone = signups()
    # two property filters and a range, for this visit only
    page.select_option("#f-range", "-30d")
    page.click("#f-add-prop")
    page.fill("#f-props .prop:nth-of-type(1) .p-key", "plan")
    page.fill("#f-props .prop:nth-of-type(1) .p-value", "pro")
    page.click("#f-add-prop")
    page.fill("#f-props .prop:nth-of-type(2) .p-key", "plan")
    page.select_option("#f-props .prop:nth-of-type(2) .p-op", "neq")
    page.fill("#f-props .prop:nth-of-type(2) .p-value", "free")
    page.click("#apply-filters")
    page.wait_for_function(
        "(window.aeDashboard.dashboard || {filters: {properties: []}}).filters.properties.length === 2"
    )
    two = '[{"key":"plan","operator":"eq","value":"pro"},{"key":"plan","operator":"neq","value":"free"}]'
    expected = call(
        live,
        key,
        f"/v1/dashboards/{dashboard_id}/render",
        params={
            "date_from": "-30d",
            "properties": two,
        },
    )
    expected_signups = next(w for w in expected["widgets"] if w["title"] == "Signups")["data"]["series"][0]["total"]
    assert signups() == expected_signups < everyone
    assert call(live, key, f"/v1/dashboards/{dashboard_id}")["filters"] == saved  # not saved

    # saved with the dashboard: a reload keeps them
    page.select_option("#f-interval", "week")
    page.fill("#f-tz", "UTC")
    page.click("#save-filters")
    page.wait_for_function("document.getElementById('toast').textContent.includes('saved')")
    stored = call(live, key, f"/v1/dashboards/{dashboard_id}")["filters"]
    assert stored["date_from"] == "-30d" and stored["interval"] == "week" and stored["timezone"] == "UTC"
    assert [p["value"] for p in stored["properties"]] == ["pro", "free"]
    page.reload()
    page.wait_for_function("document.querySelectorAll('[data-widget-id] .value').length === 2", timeout=60_000)
    assert page.input_value("#f-range") == "-30d" and page.input_value("#f-tz") == "UTC"
    assert page.locator("#f-props .prop").count() == 2
    screenshot(page, "ui-dashboard-filters.png", full_page=False)
    # an invalid time zone: the API's reason, shown once
    page.fill("#f-tz", "Mars/Olympus")
    page.click("#apply-filters")
    page.wait_for_selector("#dashboard-error:not([hidden])")
    # the widgets' answers come one by one: wait until each widget has its error, then said once
    page.wait_for_function(
        "document.querySelectorAll('.widget-error').length === document.querySelectorAll('[data-widget-id]').length"
    )
    banner = page.inner_text("#dashboard-error")
    assert "widgets could not be drawn" in banner and "unknown time zone 'Mars/Olympus'" in banner, banner
    assert page.locator("[role=alert]:visible").count() == 1  # said once, not on every widget
    assert set(page.eval_on_selector_all(".widget-error", "els => els.map(e => e.textContent)")) == {
        "Not shown: see the message above."
    }
    call(live, key, f"/v1/dashboards/{dashboard_id}", method="PATCH", json={"filters": saved})
    assert page.errors == []  # type: ignore[attr-defined]
