"""A saved SQL query as a metric: created and versioned through the API, queried, drawn on a
dashboard, exported and put in a report section like any insight-backed metric."""

from __future__ import annotations

from typing import Any

import pytest

from tests.exports.helpers import wait_export
from tests.support.factories import events

pytestmark = pytest.mark.filterwarnings("ignore")
DAILY = "SELECT toDate(timestamp) AS day, count() AS n FROM events GROUP BY day ORDER BY day"


@pytest.fixture
def loaded(new_tenant):  # type: ignore[no-untyped-def]
    tenant = new_tenant()
    tenant.ingest(events("pageview", 9, users=3, plan="pro"))
    return tenant


def create(tenant: Any, sql: str, name: str = "Daily pageviews") -> Any:
    return tenant.post("/v1/metrics", json={"name": name, "query": {"kind": "sql", "sql": sql, "limit": 100}})


def test_create_and_query(loaded: Any) -> None:
    created = create(loaded, DAILY)
    assert created.status_code == 201, created.text
    metric = created.json()
    assert metric["definition"]["query"] == {"kind": "sql", "sql": DAILY, "limit": 100}
    answer = loaded.post(f"/v1/metrics/{metric['id']}/query", json={"time_range": {"from": "-7d"}})
    assert answer.status_code == 200, answer.text
    result = answer.json()["result"]
    assert result["kind"] == "sql" and [c["name"] for c in result["columns"]] == ["day", "n"]
    assert sum(row[1] for row in result["rows"]) == 9
    assert result["series"][0]["label"] == "n"


def test_refused_sql_is_not_saved(loaded: Any) -> None:
    refused = create(loaded, "SELECT * FROM system.users", "Nope")
    assert refused.status_code == 422
    assert "not allowed" in refused.text


def test_on_a_dashboard(loaded: Any) -> None:
    metric = create(loaded, DAILY, "SQL widget").json()
    body = {"name": "SQL", "widgets": [{"title": "Daily", "viz": "line", "metric_id": metric["id"]}]}
    dashboard = loaded.post("/v1/dashboards", json=body)
    assert dashboard.status_code == 201, dashboard.text
    rendered = loaded.get(f"/v1/dashboards/{dashboard.json()['id']}/render").json()
    [widget] = rendered["widgets"]
    assert widget["error"] is None, widget
    assert sum(row[1] for row in widget["data"]["rows"]) == 9


def test_exported_and_in_a_report_section(loaded: Any, runtime: Any) -> None:
    from analytics_engine.exports.integrations import metric_section
    from analytics_engine.reports.render import headline

    metric = create(loaded, "SELECT count() AS n FROM events", "Total").json()
    response = loaded.post(
        "/v1/exports", json={"source": {"type": "metric", "metric_id": metric["id"]}, "format": "csv"}
    )
    assert response.status_code == 202, response.text
    status = wait_export(loaded, response.json()["id"])
    assert status["status"] == "succeeded", status
    content = loaded.client.get(status["download_url"]).text
    assert content.splitlines()[:2] == ["n", "9"]
    tenant = runtime.tenants.authenticate(loaded.key)
    section = metric_section(runtime, tenant, metric["id"], {})
    assert section.tables[0].rows == [[9]] and headline(section) == "9 (n)"
