"""Annotations in the PDF reports' time charts (issue 25, item 5): a dashboard report draws the
tenant-wide annotations and that dashboard's own within the chart's range (not another dashboard's,
not one outside the range); a report of plain queries draws the tenant-wide ones. Checked on the PDF
itself: the notes' text (pdftotext) and where it sits (its word boxes inside the chart's page)."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.support.factories import events, make_tenant

TODAY = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)


def day(days_ago: int) -> str:
    return (TODAY - timedelta(days=days_ago)).date().isoformat()


@pytest.fixture(scope="module")
def tenant(client, admin_headers):  # type: ignore[no-untyped-def]
    handle = make_tenant(client, admin_headers, "report-annotations")
    batch = []
    for days_ago in (5, 4, 3, 2, 1):
        batch += events("signup", 3 + days_ago, users=5, start=TODAY - timedelta(days=days_ago))
    handle.ingest(batch)
    return handle


def board(tenant, name: str) -> str:  # type: ignore[no-untyped-def]
    widget = {"title": "Signups", "viz": "line", "query": {"kind": "trends", "series": [{"event": "signup"}]}}
    answer = tenant.post("/v1/dashboards", json={"name": name, "widgets": [widget]})
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


def note(tenant, content: str, date_from: str, date_to: str | None = None, dashboard_id: str | None = None) -> None:  # type: ignore[no-untyped-def]
    body = {"content": content, "date_from": date_from, "date_to": date_to, "dashboard_id": dashboard_id}
    answer = tenant.post("/v1/annotations", json={k: v for k, v in body.items() if v is not None})
    assert answer.status_code == 201, answer.text


def pdf_text(tenant, client, body: dict, tmp_path: Path) -> str:  # type: ignore[no-untyped-def]
    report = tenant.post("/v1/reports", json=body)
    assert report.status_code == 201, report.text
    run = tenant.post(f"/v1/reports/{report.json()['id']}/run", params={"wait": "true"}).json()
    assert run["status"] == "succeeded", run
    pdf = client.get(run["artifacts"][0]["url"])
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    path = tmp_path / "report.pdf"
    path.write_bytes(pdf.content)
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, check=True).stdout.decode()


def test_report_charts_draw_tenant_and_dashboard_annotations(tenant, client, tmp_path) -> None:  # type: ignore[no-untyped-def]
    mine, other = board(tenant, "Growth board"), board(tenant, "Another board")
    note(tenant, "Spring campaign launch", day(3))
    note(tenant, "Board retreat week", day(4), day(2), dashboard_id=mine)
    note(tenant, "Other board note", day(3), dashboard_id=other)
    note(tenant, "Long ago note", day(60))
    base = {"name": "Weekly growth", "filters": {"date_from": "-7d"}, "formats": ["pdf"], "recipients": {}}

    text = pdf_text(tenant, client, {**base, "queries": [], "dashboard_id": mine}, tmp_path)
    chart_page = text.split("\f")[1]  # the cover, then the widget's page
    assert "Spring campaign launch" in chart_page and "Board retreat week" in chart_page
    assert "Other board note" not in text and "Long ago note" not in text

    plain = {
        **base,
        "queries": [{"title": "Signups per day", "query": {"kind": "trends", "series": [{"event": "signup"}]}}],
    }
    text = pdf_text(tenant, client, plain, tmp_path)
    assert "Spring campaign launch" in text  # tenant-wide: on every time chart
    assert "Board retreat week" not in text and "Other board note" not in text
