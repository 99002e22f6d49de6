"""Exports of an insight result, a metric and a dashboard (tables computed by the insight engine)."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta

import openpyxl
import pytest

from tests.exports.helpers import wait_export
from tests.support.factories import events

DAILY = {2: 4, 1: 9}


@pytest.fixture(scope="module")
def tenant(client, admin_headers):  # type: ignore[no-untyped-def]
    from tests.support.factories import make_tenant

    handle = make_tenant(client, admin_headers, "export-sources")
    noon = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)
    batch = []
    for days_ago, count in DAILY.items():
        batch += events("signup", count, users=count, start=noon - timedelta(days=days_ago), step=timedelta(seconds=1))
    handle.ingest(batch)
    return handle


TRENDS = {"kind": "trends", "series": [{"event": "signup", "label": "signups"}], "interval": "day"}


def run(handle, body):  # type: ignore[no-untyped-def]
    response = handle.post("/v1/exports", json=body)
    assert response.status_code == 202, response.text
    status = wait_export(handle, response.json()["id"])
    assert status["status"] == "succeeded", status
    return status


def test_insight_to_csv_and_json(tenant, client) -> None:  # type: ignore[no-untyped-def]
    status = run(tenant, {"source": {"type": "insight", "query": TRENDS}, "format": "csv"})
    rows = list(csv.reader(io.StringIO(client.get(status["download_url"]).text)))
    assert rows[0] == ["label", "signups"]
    assert sorted(int(float(r[1])) for r in rows[1:] if float(r[1])) == sorted(DAILY.values())
    status = run(tenant, {"source": {"type": "insight", "query": TRENDS}, "format": "json"})
    data = json.loads(client.get(status["download_url"]).content)
    assert sum(r["signups"] for r in data) == sum(DAILY.values())


def test_dashboard_to_xlsx_one_sheet_per_widget(tenant, client, tmp_path) -> None:  # type: ignore[no-untyped-def]
    funnel = {"kind": "funnels", "steps": [{"event": "signup"}, {"event": "purchase"}]}
    dashboard = tenant.post(
        "/v1/dashboards",
        json={
            "name": "Board",
            "widgets": [
                {"title": "Signups", "viz": "line", "query": TRENDS},
                {"title": "Funnel", "viz": "funnel", "query": funnel},
            ],
        },
    ).json()
    status = run(tenant, {"source": {"type": "dashboard", "dashboard_id": dashboard["id"]}, "format": "xlsx"})
    path = tmp_path / "d.xlsx"
    path.write_bytes(client.get(status["download_url"]).content)
    book = openpyxl.load_workbook(path, read_only=True)
    assert book.sheetnames == ["Signups", "Funnel"]
    funnel_rows = list(book["Funnel"].iter_rows(values_only=True))
    assert funnel_rows[1][3] == max(DAILY.values())  # people who signed up (u0..u8)


def test_unknown_dashboard_or_metric_is_404(tenant) -> None:  # type: ignore[no-untyped-def]
    for source in ({"type": "dashboard", "dashboard_id": "dsh_nope"}, {"type": "metric", "metric_id": "met_nope"}):
        response = tenant.post("/v1/exports", json={"source": source, "format": "csv"})
        assert response.status_code == 404, response.text


def test_bad_insight_query_is_422(tenant) -> None:  # type: ignore[no-untyped-def]
    response = tenant.post("/v1/exports", json={"source": {"type": "insight", "query": {"kind": "trends"}}})
    assert response.status_code == 422, response.text


def test_metric_to_ndjson(tenant, client) -> None:  # type: ignore[no-untyped-def]
    metric = tenant.post("/v1/metrics", json={"name": "Daily signups", "query": TRENDS})
    assert metric.status_code == 201, metric.text
    status = run(
        tenant,
        {
            "source": {"type": "metric", "metric_id": metric.json()["id"], "query": {"interval": "day"}},
            "format": "ndjson",
        },
    )
    lines = [json.loads(line) for line in client.get(status["download_url"]).content.splitlines()]
    assert status["rows_written"] == len(lines) > 0
    assert sum(r["signups"] for r in lines) == sum(DAILY.values())


# --- typed files (issue 24): numbers stay numbers, times become times, names say what they hold ----
def test_insight_to_parquet_is_typed_and_named_after_what_it_holds(tenant, client, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import pyarrow as pa
    import pyarrow.parquet as pq

    status = run(tenant, {"source": {"type": "insight", "query": TRENDS}, "format": "parquet"})
    url = status["download_url"]
    name = url.split("?")[0].rsplit("/", 1)[-1]
    assert name.startswith("trends-signup_") and name.endswith(".parquet") and status["id"] not in name
    response = client.get(url)
    assert f'filename="{name}"' in response.headers["content-disposition"]
    path = tmp_path / name
    path.write_bytes(response.content)
    table = pq.read_table(path)
    assert table.schema.field("label").type == pa.date32()
    assert table.schema.field("signups").type == pa.int64()
    assert sum(table.column("signups").to_pylist()) == sum(DAILY.values())


def test_funnel_to_parquet_and_xlsx_keeps_ratios_and_seconds_as_rounded_numbers(tenant, client, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import pyarrow as pa
    import pyarrow.parquet as pq

    funnel = {"kind": "funnels", "steps": [{"event": "signup"}, {"event": "signup"}]}
    status = run(tenant, {"source": {"type": "insight", "query": funnel}, "format": "parquet"})
    path = tmp_path / "f.parquet"
    path.write_bytes(client.get(status["download_url"]).content)
    schema = pq.read_schema(path)
    assert schema.field("count").type == pa.int64() and schema.field("step").type == pa.int64()
    assert schema.field("conversion_from_first").type == pa.float64()
    assert schema.field("median_seconds").type == pa.float64()

    status = run(tenant, {"source": {"type": "insight", "query": funnel}, "format": "xlsx"})
    path = tmp_path / "f.xlsx"
    path.write_bytes(client.get(status["download_url"]).content)
    sheet = openpyxl.load_workbook(path).worksheets[0]
    assert isinstance(sheet["D2"].value, int) and sheet["D2"].number_format == "#,##0"
    assert isinstance(sheet["E2"].value, int | float) and sheet["E2"].number_format == "0.00%"


def test_dashboard_to_xlsx_has_dates_as_dates(tenant, client, tmp_path) -> None:  # type: ignore[no-untyped-def]
    dashboard = tenant.post(
        "/v1/dashboards",
        json={"name": "Weekly KPIs: Acme/Ops", "widgets": [{"title": "Signups", "viz": "line", "query": TRENDS}]},
    ).json()
    status = run(tenant, {"source": {"type": "dashboard", "dashboard_id": dashboard["id"]}, "format": "xlsx"})
    name = status["download_url"].split("?")[0].rsplit("/", 1)[-1]
    assert name.startswith("weekly-kpis-acme-ops_") and "_to_" in name
    path = tmp_path / name
    path.write_bytes(client.get(status["download_url"]).content)
    sheet = openpyxl.load_workbook(path).worksheets[0]
    assert isinstance(sheet["A2"].value, datetime) and sheet["A2"].number_format == "yyyy-mm-dd"
    assert isinstance(sheet["B2"].value, int)
