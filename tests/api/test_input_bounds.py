"""Issue 27 item 12: times the warehouse cannot store and PATCH nulls are 4xx at validation, never 5xx."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analytics_engine.validation import EARLIEST, LATEST, check_warehouse_time

OUTSIDE = ["0100-12-05T19:43:09.8551+00:13", "1899-12-31T23:00:00", "2300-01-01", "9999-12-31T23:59:59-10:00"]


def error_code(response) -> str:
    """The error code of a 422 (insight queries say `invalid_query`, other bodies `invalid_input`)."""
    assert response.status_code == 422, response.text
    code = response.json()["error"]["code"]
    return "invalid_input" if code == "invalid_query" else code


@given(st.datetimes(timezones=st.sampled_from([None, UTC])))
@settings(max_examples=200, deadline=None)
def test_bound_matches_a_plain_comparison(moment: datetime) -> None:
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    expected = datetime(1900, 1, 2, tzinfo=UTC) <= aware <= datetime(2299, 12, 30, 23, 59, 59, 999000, tzinfo=UTC)
    try:
        check_warehouse_time(moment)
        accepted = True
    except ValueError:
        accepted = False
    assert accepted == expected


def test_bounds_are_inside_datetime64() -> None:
    assert EARLIEST - timedelta(days=1) == datetime(1900, 1, 1, tzinfo=UTC)
    assert LATEST.date().isoformat() == "2299-12-30"


@pytest.mark.parametrize("value", OUTSIDE)
def test_events_count_refuses_times_outside_the_warehouse(new_tenant, value: str) -> None:
    tenant = new_tenant()
    for name in ("from", "to"):
        response = tenant.get("/v1/events/count", params={name: value})
        assert response.status_code == 422, response.text
        assert "outside what the warehouse stores" in response.text
    assert tenant.get("/v1/events/count", params={"from": "1900-01-02T00:00:00Z"}).status_code == 200
    assert tenant.get("/v1/events/count", params={"to": "2299-12-30"}).status_code == 200


@pytest.mark.parametrize("value", OUTSIDE)
def test_every_route_with_a_time_refuses_it(new_tenant, value: str) -> None:
    tenant = new_tenant()
    assert tenant.get("/v1/persons", params={"seen_after": value}).status_code == 422
    assert tenant.get("/v1/persons", params={"seen_before": value}).status_code == 422
    trends = {"series": [{"event": "x"}], "date_range": {"date_from": value}}
    assert error_code(tenant.post("/v1/insights/trends", json=trends)) == "invalid_input"
    export = {"source": {"type": "events", "start": value}, "format": "csv"}
    assert error_code(tenant.post("/v1/exports", json=export)) == "invalid_input"
    cohort = {
        "name": "c",
        "kind": "dynamic",
        "definition": {
            "type": "AND",
            "values": [{"type": "performed_event", "event": "x", "window": {"start": value}}],
        },
    }
    assert error_code(tenant.post("/v1/cohorts", json=cohort)) == "invalid_input"
    dashboard = tenant.post("/v1/dashboards", json={"name": "d"}).json()
    render = tenant.get(f"/v1/dashboards/{dashboard['id']}/render", params={"date_from": value})
    assert error_code(render) == "invalid_input"
    patch = tenant.request("PATCH", f"/v1/dashboards/{dashboard['id']}", json={"filters": {"date_to": value}})
    assert error_code(patch) == "invalid_input"


# --- PATCH with explicit nulls ---------------------------------------------------------------------------


@pytest.fixture
def tenant(new_tenant):
    return new_tenant()


def test_cohort_patch_from_the_issue(tenant) -> None:
    static = tenant.post("/v1/cohorts", json={"name": "s", "kind": "static", "distinct_ids": ["u1"]}).json()
    body = {"definition": None, "description": "", "distinct_ids": [], "is_active": None, "name": "0"}
    response = tenant.request("PATCH", f"/v1/cohorts/{static['id']}", json=body)
    assert error_code(response) == "invalid_input"
    assert "may not be null" in response.text
    # The same body without the refused nulls empties the static cohort.
    body = {"description": "", "distinct_ids": [], "name": "0"}
    response = tenant.request("PATCH", f"/v1/cohorts/{static['id']}", json=body)
    assert response.status_code == 200, response.text
    assert response.json()["name"] == "0"
    # description may be cleared.
    response = tenant.request("PATCH", f"/v1/cohorts/{static['id']}", json={"description": None})
    assert response.status_code == 200 and response.json()["description"] is None


def test_report_patch_from_the_issue(tenant) -> None:
    dashboard = tenant.post("/v1/dashboards", json={"name": "d"}).json()
    report = tenant.post("/v1/reports", json={"name": "r", "dashboard_id": dashboard["id"], "schedule": "0 8 * * 1"})
    assert report.status_code == 201, report.text
    report_id = report.json()["id"]
    response = tenant.request(
        "PATCH", f"/v1/reports/{report_id}", json={"enabled": True, "name": None, "dashboard_id": None}
    )
    assert error_code(response) == "invalid_input"
    assert "name may not be null" in response.text
    # Clearable fields clear: the schedule (on demand only) and the time zone (the tenant's).
    response = tenant.request("PATCH", f"/v1/reports/{report_id}", json={"schedule": None, "timezone": None})
    assert response.status_code == 200, response.text
    assert response.json()["schedule"] is None and response.json()["timezone"] is None
    # dashboard_id null with no queries leaves a report without a source: 422, not 500.
    assert error_code(tenant.request("PATCH", f"/v1/reports/{report_id}", json={"dashboard_id": None})) == (
        "invalid_input"
    )


@pytest.mark.parametrize(
    ("path_kind", "field"),
    [
        ("dashboard", "name"),
        ("dashboard", "filters"),
        ("widget", "title"),
        ("widget", "layout"),
        ("widget", "options"),
        ("report", "formats"),
        ("report", "recipients"),
        ("report", "filters"),
        ("report", "queries"),
        ("cohort", "name"),
        ("sharing", "data_sharing_opt_in"),
    ],
)
def test_null_on_a_required_field_is_422(tenant, path_kind: str, field: str) -> None:
    dashboard = tenant.post(
        "/v1/dashboards",
        json={
            "name": "d",
            "widgets": [{"title": "w", "viz": "line", "query": {"kind": "trends", "series": [{"event": "x"}]}}],
        },
    )
    assert dashboard.status_code == 201, dashboard.text
    dashboard = dashboard.json()
    paths = {
        "dashboard": f"/v1/dashboards/{dashboard['id']}",
        "widget": f"/v1/dashboards/{dashboard['id']}/widgets/{dashboard['widgets'][0]['id']}",
        "report": "/v1/reports/{id}",
        "cohort": "/v1/cohorts/{id}",
        "sharing": "/v1/impact/sharing",
    }
    path = paths[path_kind]
    if path_kind == "report":
        path = path.format(
            id=tenant.post("/v1/reports", json={"name": "r", "dashboard_id": dashboard["id"]}).json()["id"]
        )
    if path_kind == "cohort":
        cohort = tenant.post("/v1/cohorts", json={"name": "c", "kind": "static", "distinct_ids": []}).json()
        path = path.format(id=cohort["id"])
    response = tenant.request("PUT" if path_kind == "sharing" else "PATCH", path, json={field: None})
    assert error_code(response) == "invalid_input"
    assert f"{field} may not be null" in response.text


def test_tenant_patch_null_clears_peer_group_and_refuses_name(client, admin_headers, tenant) -> None:
    path = f"/v1/admin/tenants/{tenant.id}"
    assert client.patch(path, json={"industry": "g", "region": "r"}, headers=admin_headers).status_code == 200
    response = client.patch(path, json={"industry": None}, headers=admin_headers)
    assert response.status_code == 200, response.text
    assert response.json()["industry"] is None and response.json()["region"] == "r"
    assert error_code(client.patch(path, json={"name": None}, headers=admin_headers)) == "invalid_input"
    assert error_code(client.patch(path, json={"timezone": None}, headers=admin_headers)) == "invalid_input"


def test_openapi_marks_only_clearable_fields_nullable(client) -> None:
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    report = schemas["ReportUpdate"]["properties"]
    assert "anyOf" not in report["name"] and report["name"]["type"] == "string"
    assert {"type": "null"} in report["schedule"]["anyOf"]
    cohort = schemas["CohortUpdate"]["properties"]
    assert {"type": "null"} in cohort["description"]["anyOf"]
    assert all({"type": "null"} not in cohort[name].get("anyOf", []) for name in ("name", "is_active", "definition"))


# --- found by the fuzz test (tests/api/test_fuzz_openapi.py) -------------------------------------------


@pytest.mark.parametrize("path", ["/v1/jobs", "/v1/exports", "/v1/cohorts", "/v1/events/rejected"])
def test_offsets_beyond_64_bits_are_422(tenant, path: str) -> None:
    assert error_code(tenant.get(path, params={"offset": 4575057866138846756864})) == "invalid_input"
    assert tenant.get(path, params={"offset": 2**53}).status_code == 200


def test_static_cohort_csv_with_a_carriage_return(tenant) -> None:
    response = tenant.post(
        "/v1/cohorts/static",
        params={"name": "cr"},
        files={"file": ("m.csv", b"distinct_id\nu\r1\nu2\n", "text/csv")},
    )
    assert response.status_code == 201, response.text
