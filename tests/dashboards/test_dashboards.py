"""Dashboards and widgets through the API: CRUD, render with dashboard filters, per-widget errors,
the per-widget cache, and tenant isolation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.support.factories import events

PAGEVIEWS = {"kind": "trends", "series": [{"event": "pageview"}], "interval": "day"}


def series_total(data: dict) -> float:
    return sum(point["value"] or 0 for series in data["series"] for point in series["points"])


@pytest.fixture
def loaded(new_tenant):
    tenant = new_tenant()
    now = datetime.now(UTC)
    tenant.ingest(events("pageview", 8, users=4, start=now - timedelta(days=2), plan="pro"))
    tenant.ingest(events("pageview", 3, users=3, start=now - timedelta(days=2), plan="free"))
    tenant.ingest(events("pageview", 5, users=2, start=now - timedelta(days=60), plan="pro"))
    tenant.ingest(events("signup", 4, users=4, start=now - timedelta(days=3)))
    tenant.ingest(events("purchase", 2, users=2, start=now - timedelta(days=2), amount=10))
    return tenant


def create_dashboard(tenant, **extra) -> dict:
    metric = tenant.post(
        "/v1/metrics",
        json={
            "name": f"Signups {datetime.now().timestamp()}",
            "query": {"kind": "trends", "series": [{"event": "signup"}]},
            "dimensions": ["plan"],
        },
    ).json()
    body = {
        "name": "Overview",
        "filters": {"date_from": "-7d"},
        "widgets": [
            {"title": "Pageviews", "viz": "line", "query": PAGEVIEWS, "layout": {"x": 0, "y": 0, "w": 8, "h": 4}},
            {
                "title": "Signups",
                "viz": "big_number",
                "metric_id": metric["id"],
                "layout": {"x": 8, "y": 0, "w": 4, "h": 2},
            },
            {
                "title": "Funnel",
                "viz": "funnel",
                "query": {"kind": "funnels", "steps": [{"event": "signup"}, {"event": "purchase"}]},
            },
        ],
        **extra,
    }
    created = tenant.post("/v1/dashboards", json=body)
    assert created.status_code == 201, created.text
    return created.json()


def test_crud(loaded, new_tenant) -> None:
    dashboard = create_dashboard(loaded)
    assert [w["viz"] for w in dashboard["widgets"]] == ["line", "big_number", "funnel"]
    assert dashboard["widgets"][0]["layout"] == {"x": 0, "y": 0, "w": 8, "h": 4}
    listed = loaded.get("/v1/dashboards").json()
    assert any(d["id"] == dashboard["id"] and d["widgets"] == 3 for d in listed)
    renamed = loaded.request("PATCH", f"/v1/dashboards/{dashboard['id']}", json={"name": "Renamed"})
    assert renamed.json()["name"] == "Renamed"
    added = loaded.post(
        f"/v1/dashboards/{dashboard['id']}/widgets",
        json={"title": "Bars", "viz": "bar", "query": PAGEVIEWS, "layout": {"x": 0, "y": 4, "w": 12, "h": 3}},
    )
    assert added.status_code == 201, added.text
    widget_id = added.json()["id"]
    changed = loaded.request(
        "PATCH", f"/v1/dashboards/{dashboard['id']}/widgets/{widget_id}", json={"title": "Bars!", "viz": "line"}
    )
    assert changed.status_code == 200 and changed.json()["title"] == "Bars!"
    assert loaded.request("DELETE", f"/v1/dashboards/{dashboard['id']}/widgets/{widget_id}").status_code == 204
    assert len(loaded.get(f"/v1/dashboards/{dashboard['id']}").json()["widgets"]) == 3

    # bad widgets
    base = f"/v1/dashboards/{dashboard['id']}/widgets"
    assert loaded.post(base, json={"title": "x", "viz": "pie", "query": PAGEVIEWS}).status_code == 422
    assert loaded.post(base, json={"title": "x", "viz": "line"}).status_code == 422
    assert loaded.post(base, json={"title": "x", "viz": "line", "query": {"kind": "trends"}}).status_code == 422
    assert loaded.post(base, json={"title": "x", "viz": "line", "metric_id": "met_nope"}).status_code == 404

    # another tenant sees nothing
    stranger = new_tenant()
    assert stranger.get(f"/v1/dashboards/{dashboard['id']}").status_code == 404
    assert stranger.request("DELETE", f"/v1/dashboards/{dashboard['id']}").status_code == 404
    assert dashboard["id"] not in {d["id"] for d in stranger.get("/v1/dashboards").json()}

    assert loaded.request("DELETE", f"/v1/dashboards/{dashboard['id']}").status_code == 204
    assert loaded.get(f"/v1/dashboards/{dashboard['id']}").status_code == 404


def test_render_matches_the_insights_and_applies_filters(loaded) -> None:
    dashboard = create_dashboard(loaded)
    rendered = loaded.get(f"/v1/dashboards/{dashboard['id']}/render")
    assert rendered.status_code == 200, rendered.text
    widgets = {w["title"]: w for w in rendered.json()["widgets"]}
    assert all(w["error"] is None for w in widgets.values()), widgets
    assert series_total(widgets["Pageviews"]["data"]) == 11  # the 60-day-old ones are outside -7d
    assert series_total(widgets["Signups"]["data"]) == 4
    steps = widgets["Funnel"]["data"]["funnel"][0]["steps"]
    assert [s["count"] for s in steps] == [4, 2] or steps[0]["count"] >= steps[1]["count"]

    # dashboard-level overrides apply to every widget
    wide = loaded.get(f"/v1/dashboards/{dashboard['id']}/render", params={"date_from": "-90d"}).json()
    assert series_total(wide["widgets"][0]["data"]) == 16
    pro = loaded.get(
        f"/v1/dashboards/{dashboard['id']}/render",
        params={"properties": '[{"key": "plan", "operator": "eq", "value": "pro"}]'},
    ).json()
    assert series_total(pro["widgets"][0]["data"]) == 8
    assert pro["filters"]["properties"][0]["value"] == "pro"
    bad = loaded.get(f"/v1/dashboards/{dashboard['id']}/render", params={"properties": "not json"})
    assert bad.status_code == 422


def test_cache_per_widget_and_filters(loaded) -> None:
    dashboard = create_dashboard(loaded)
    url = f"/v1/dashboards/{dashboard['id']}/render"
    first = loaded.get(url).json()
    again = loaded.get(url).json()
    assert not any(w["cached"] for w in first["widgets"])
    assert all(w["cached"] for w in again["widgets"])
    assert [w["data"] for w in again["widgets"]] == [w["data"] for w in first["widgets"]]
    other_filters = loaded.get(url, params={"date_from": "-30d"}).json()
    assert not any(w["cached"] for w in other_filters["widgets"])
    fresh = loaded.get(url, params={"refresh": "true"}).json()
    assert not any(w["cached"] for w in fresh["widgets"])


def test_a_failing_widget_does_not_break_the_others(loaded) -> None:
    dashboard = create_dashboard(loaded)
    broken = loaded.post(
        f"/v1/dashboards/{dashboard['id']}/widgets",
        json={"title": "Broken", "viz": "line", "query": {**PAGEVIEWS, "cohort_id": "coh_does_not_exist"}},
    )
    assert broken.status_code == 201, broken.text
    rendered = loaded.get(f"/v1/dashboards/{dashboard['id']}/render").json()
    widgets = {w["title"]: w for w in rendered["widgets"]}
    assert widgets["Broken"]["data"] is None
    assert widgets["Broken"]["error"]["code"] == "not_found"
    assert series_total(widgets["Pageviews"]["data"]) == 11
    assert widgets["Signups"]["error"] is None


def test_deprecated_metric_keeps_rendering_with_a_warning(loaded) -> None:
    dashboard = create_dashboard(loaded)
    metric_id = dashboard["widgets"][1]["metric_id"]
    loaded.post(f"/v1/metrics/{metric_id}/deprecate", json={"message": "use Accounts"})
    rendered = loaded.get(f"/v1/dashboards/{dashboard['id']}/render").json()
    signups = rendered["widgets"][1]
    assert signups["error"] is None and "use Accounts" in signups["warning"]
    assert series_total(signups["data"]) == 4


def test_changes_show_in_the_next_render(loaded) -> None:
    """Renders memoise the dashboard and metric definitions for a moment; writes drop them at once."""
    dashboard = create_dashboard(loaded)
    url = f"/v1/dashboards/{dashboard['id']}/render"
    before = loaded.get(url).json()
    assert before["widgets"][1]["metric_version"] == 1
    metric_id = dashboard["widgets"][1]["metric_id"]
    query = {"kind": "trends", "series": [{"event": "purchase"}]}
    assert loaded.request("PUT", f"/v1/metrics/{metric_id}", json={"query": query}).status_code == 200
    loaded.request(
        "PATCH", f"/v1/dashboards/{dashboard['id']}/widgets/{dashboard['widgets'][0]['id']}", json={"title": "Views"}
    )
    loaded.request("PATCH", f"/v1/dashboards/{dashboard['id']}", json={"filters": {"date_from": "-90d"}})
    after = loaded.get(url).json()
    assert after["widgets"][0]["title"] == "Views"
    assert series_total(after["widgets"][0]["data"]) == 16  # the new dashboard range
    assert after["widgets"][1]["metric_version"] == 2
    assert series_total(after["widgets"][1]["data"]) == 2  # now purchases
    added = loaded.post(
        f"/v1/dashboards/{dashboard['id']}/widgets", json={"title": "New", "viz": "line", "query": PAGEVIEWS}
    )
    assert added.status_code == 201
    assert [w["title"] for w in loaded.get(url).json()["widgets"]][-1] == "New"


def test_cohort_and_timezone_filters(loaded) -> None:
    dashboard = create_dashboard(loaded)
    cohort = loaded.post("/v1/cohorts", json={"name": "two", "kind": "static", "distinct_ids": ["u0", "u1"]})
    assert cohort.status_code == 201, cohort.text
    url = f"/v1/dashboards/{dashboard['id']}/render"
    everyone = loaded.get(url, params={"timezone": "Asia/Kolkata"}).json()
    assert everyone["widgets"][0]["data"]["timezone"] == "Asia/Kolkata"
    members = loaded.get(url, params={"cohort_id": cohort.json()["id"]}).json()
    # pageviews of u0 and u1 only: 8 "pro" views over 4 users (4 of them) + 3 "free" views over 3 users (2)
    assert series_total(members["widgets"][0]["data"]) == 6
    assert members["filters"]["cohort_id"] == cohort.json()["id"]
    unknown = loaded.get(url, params={"cohort_id": "coh_nope"}).json()
    assert all(w["error"]["code"] == "not_found" for w in unknown["widgets"])


def test_widget_cache_is_per_tenant(loaded, new_tenant) -> None:
    other = new_tenant()
    other.ingest(events("pageview", 1))
    body = {"name": "Same", "widgets": [{"title": "Pageviews", "viz": "line", "query": PAGEVIEWS}]}
    mine = loaded.post("/v1/dashboards", json=body).json()
    theirs = other.post("/v1/dashboards", json=body).json()
    assert series_total(loaded.get(f"/v1/dashboards/{mine['id']}/render").json()["widgets"][0]["data"]) == 11
    answer = other.get(f"/v1/dashboards/{theirs['id']}/render").json()["widgets"][0]
    assert answer["cached"] is False and series_total(answer["data"]) == 1
