"""Reports end to end: CRUD and isolation, a run that renders a PDF (pages rasterised with
pdftoppm, numbers read back with pdftotext) and an XLSX, emails them through a real local SMTP
server (aiosmtpd) and posts a signed webhook to a local HTTP server; schedules (missed runs once)."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import openpyxl
import pytest

from analytics_engine.bench.common import free_port
from analytics_engine.metadata.models import ScheduleRun
from analytics_engine.reports.delivery import verify_webhook
from analytics_engine.reports.service import schedule_name
from tests.conftest import build_settings
from tests.reports.servers import HookReceiver, Mailbox, start_smtp
from tests.support.factories import events

DAILY = {3: 11, 2: 23, 1: 37}  # days ago -> signups that day (total 71)
PURCHASES = 5


@pytest.fixture(scope="module")
def smtp() -> Iterator[tuple[int, Mailbox]]:
    port = free_port()
    controller, mailbox = start_smtp(port)
    yield port, mailbox
    controller.stop()


@pytest.fixture(scope="module")
def hook() -> Iterator[HookReceiver]:
    receiver = HookReceiver()
    yield receiver
    receiver.close()


@pytest.fixture(scope="module")
def settings(tmp_path_factory, warehouse_path, smtp):  # type: ignore[no-untyped-def]
    return build_settings(
        tmp_path_factory.mktemp("data"),
        warehouse_path,
        smtp_host="127.0.0.1",
        smtp_port=smtp[0],
        smtp_from="reports@analytics.test",
        public_url="http://testserver",
        outgoing_allow=["127.0.0.1"],  # the local receiver; internal addresses are refused by default
    )


@pytest.fixture(scope="module")
def tenant(client, admin_headers):  # type: ignore[no-untyped-def]
    from tests.support.factories import make_tenant

    handle = make_tenant(client, admin_headers, "reports-acme")
    today = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)
    batch = []
    for days_ago, count in DAILY.items():
        batch += events("signup", count, users=count, start=today - timedelta(days=days_ago), step=timedelta(seconds=5))
    batch += events("purchase", PURCHASES, users=PURCHASES, start=today - timedelta(days=1), step=timedelta(seconds=5))
    handle.ingest(batch)
    return handle


def report_body(hook_url: str | None = None, **extra):  # type: ignore[no-untyped-def]
    body = {
        "name": "Weekly growth",
        "queries": [
            {
                "title": "Signups per day",
                "query": {"kind": "trends", "series": [{"event": "signup", "label": "signups"}], "interval": "day"},
            },
            {
                "title": "Signup to purchase",
                "query": {"kind": "funnels", "steps": [{"event": "signup"}, {"event": "purchase"}]},
            },
        ],
        "filters": {"date_from": "-7d"},
        "formats": ["pdf", "xlsx"],
        "recipients": {
            "emails": ["ceo@acme.test", "cfo@acme.test"],
            "webhooks": [{"url": f"{hook_url}/hooks/report"}] if hook_url else [],
        },
    }
    body.update(extra)
    return body


def test_crud_validation_and_isolation(tenant, client, admin_headers) -> None:  # type: ignore[no-untyped-def]
    from tests.support.factories import make_tenant

    created = tenant.post("/v1/reports", json=report_body(schedule="0 8 * * MON"))
    assert created.status_code == 201, created.text
    report = created.json()
    assert report["webhook_secret"].startswith("whsec_") and report["next_run_at"]
    assert tenant.get(f"/v1/reports/{report['id']}").json()["name"] == "Weekly growth"
    patched = tenant.request("PATCH", f"/v1/reports/{report['id']}", json={"name": "Renamed", "schedule": None})
    assert patched.status_code == 200 and patched.json()["name"] == "Renamed" and patched.json()["next_run_at"] is None
    other = make_tenant(client, admin_headers, "reports-other")
    assert other.get(f"/v1/reports/{report['id']}").status_code == 404
    assert other.post(f"/v1/reports/{report['id']}/run").status_code == 404
    assert other.get("/v1/reports").json() == []
    bad = [
        report_body(schedule="every monday"),
        report_body(timezone="Mars/Olympus"),
        report_body(dashboard_id="dsh_x"),  # both a dashboard and queries
        report_body(queries=[]),  # neither
        report_body(recipients={"emails": ["not-an-address"]}),
        report_body(recipients={"webhooks": [{"url": "ftp://x"}]}),
        report_body(queries=[{"query": {"kind": "nope"}}]),
    ]
    for body in bad:
        response = tenant.post("/v1/reports", json=body)
        assert response.status_code in (404, 422), (body, response.text)
    read_only = make_tenant(client, admin_headers, "reports-readonly", scopes=("read",))
    assert read_only.post("/v1/reports", json=report_body()).status_code == 403
    assert tenant.request("DELETE", f"/v1/reports/{report['id']}").status_code == 204
    assert tenant.get(f"/v1/reports/{report['id']}").status_code == 404


def test_run_renders_pdf_xlsx_and_delivers(tenant, client, smtp, hook, tmp_path) -> None:  # type: ignore[no-untyped-def]
    _, mailbox = smtp
    report = tenant.post("/v1/reports", json=report_body(hook.url)).json()
    response = tenant.post(f"/v1/reports/{report['id']}/run", params={"wait": "true"})
    assert response.status_code == 200, response.text
    run = response.json()
    assert run["status"] == "succeeded", run
    assert run["duration_ms"] > 0 and run["trigger"] == "manual"
    assert {d["channel"] for d in run["deliveries"]} == {"email", "webhook"} and all(d["ok"] for d in run["deliveries"])
    artifacts = {a["format"]: a for a in run["artifacts"]}
    assert set(artifacts) == {"pdf", "xlsx"}

    # the PDF: downloaded by its signed link, one page per section plus a cover, the numbers inside
    pdf = client.get(artifacts["pdf"]["url"])
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    (tmp_path / "report.pdf").write_bytes(pdf.content)
    assert shutil.which("pdftoppm"), "poppler-utils missing: scripts/bootstrap.d/system installs it"
    subprocess.run(["pdftoppm", "-png", "-r", "60", str(tmp_path / "report.pdf"), str(tmp_path / "page")], check=True)
    pages = sorted(tmp_path.glob("page-*.png"))
    assert len(pages) == 3 and all(p.stat().st_size > 5_000 for p in pages)
    shutil.copy(pages[1], Path("/tmp/report-page-2.png"))  # for a human look
    text = subprocess.run(["pdftotext", "-layout", str(tmp_path / "report.pdf"), "-"], capture_output=True, check=True)
    content = text.stdout.decode()
    assert "Weekly growth" in content and "Signups per day" in content and "Signup to purchase" in content
    cover = content.split("\f")[0]
    assert "71" in cover and "signups, total" in cover  # the cover's headline: 11 + 23 + 37
    assert "-7d" not in cover and "(UTC)" in cover  # the real dates, not the relative spec
    assert "vs previous period" in cover or "previous period: 0" in cover
    for number in DAILY.values():
        assert f" {number}" in content, number
    assert f"converted: {PURCHASES} of 37" in content  # people: u0..u36 signed up, u0..u4 bought
    assert f"{PURCHASES / 37:.1%}" in content  # the conversion as a percentage

    # the XLSX: one sheet per table, the same numbers
    xlsx = client.get(artifacts["xlsx"]["url"])
    (tmp_path / "report.xlsx").write_bytes(xlsx.content)
    book = openpyxl.load_workbook(tmp_path / "report.xlsx", read_only=True)
    assert book.sheetnames == ["Signups per day", "Signup to purchase"]
    rows = list(book["Signups per day"].iter_rows(values_only=True))
    assert rows[0] == ("label", "signups")
    assert sorted(v for _, v in rows[1:] if v) == sorted(DAILY.values())
    funnel = list(book["Signup to purchase"].iter_rows(values_only=True))
    assert [r[3] for r in funnel[1:]] == [37, PURCHASES]

    # the email reached the SMTP server with both files attached
    message = next(m for m in mailbox.messages if "Weekly growth" in m["Subject"])
    assert message["To"] == "ceo@acme.test, cfo@acme.test" and message["From"] == "reports@analytics.test"
    attachments = {part.get_filename(): part for part in message.iter_attachments()}
    assert len(attachments) == 2
    pdf_part = next(p for name, p in attachments.items() if name.endswith(".pdf"))
    assert pdf_part.get_content_type() == "application/pdf" and pdf_part.get_content() == pdf.content
    assert any(name.endswith(".xlsx") for name in attachments)
    assert "Signups per day: 71 (signups, total)" in message.get_body(("plain",)).get_content()

    # the webhook: signed with the report's secret, carrying the numbers and the links
    received = [r for r in hook.received if json.loads(r.body)["run_id"] == run["id"]]
    assert len(received) == 1 and received[0].path == "/hooks/report"
    assert verify_webhook(report["webhook_secret"], received[0].body, received[0].headers["x-analytics-signature"])
    assert not verify_webhook("whsec_wrong", received[0].body, received[0].headers["x-analytics-signature"])
    payload = json.loads(received[0].body)
    assert payload["sections"][0]["headline"].startswith("71 (signups, total)")
    assert {a["format"] for a in payload["artifacts"]} == {"pdf", "xlsx"}

    runs = tenant.get(f"/v1/reports/{report['id']}/runs").json()
    assert [r["id"] for r in runs] == [run["id"]]


def test_failed_delivery_is_recorded_as_partial(tenant) -> None:  # type: ignore[no-untyped-def]
    port = free_port()  # nothing listens there
    body = report_body(formats=["xlsx"], recipients={"webhooks": [{"url": f"http://127.0.0.1:{port}/x"}]})
    report = tenant.post("/v1/reports", json=body).json()
    run = tenant.post(f"/v1/reports/{report['id']}/run", params={"wait": "true"}).json()
    assert run["status"] == "partial"
    assert run["deliveries"][0]["ok"] is False and run["deliveries"][0]["error"]
    assert [a["format"] for a in run["artifacts"]] == ["xlsx"]


def test_dashboard_report(tenant) -> None:  # type: ignore[no-untyped-def]
    dashboard = tenant.post(
        "/v1/dashboards",
        json={
            "name": "Growth board",
            "widgets": [
                {
                    "title": "Signups",
                    "viz": "line",
                    "query": {"kind": "trends", "series": [{"event": "signup"}], "interval": "day"},
                }
            ],
        },
    )
    assert dashboard.status_code == 201, dashboard.text
    body = report_body(formats=["pdf"], recipients={}, queries=[], dashboard_id=dashboard.json()["id"])
    report = tenant.post("/v1/reports", json=body)
    assert report.status_code == 201, report.text
    run = tenant.post(f"/v1/reports/{report.json()['id']}/run", params={"wait": "true"}).json()
    assert run["status"] == "succeeded", run
    assert run["artifacts"][0]["format"] == "pdf" and run["artifacts"][0]["bytes"] > 1000


def test_missed_schedule_runs_once(tenant, runtime) -> None:  # type: ignore[no-untyped-def]
    report = tenant.post("/v1/reports", json=report_body(formats=["xlsx"], recipients={}, schedule="0 8 * * *")).json()
    name = schedule_name(report["id"])
    assert name in runtime.scheduler.names()
    next_run = runtime.scheduler.next_run(name)
    assert next_run > datetime.now(UTC)  # never ran: the next 08:00
    # as if the service had been down for three days since the last run
    with runtime.metadata.session() as session:
        session.merge(ScheduleRun(name=name, last_run_at=datetime.now(UTC) - timedelta(days=3)))
    service = runtime.reports
    assert service.schedule_all() >= 1
    assert runtime.scheduler.next_run(name) <= datetime.now(UTC)  # due now, once
    deadline = time.monotonic() + 60
    while True:  # the running scheduler (ticking every second inside the app) picks it up
        runs = tenant.get(f"/v1/reports/{report['id']}/runs").json()
        if runs and runs[0]["status"] != "running":
            break
        assert time.monotonic() < deadline, runs
        time.sleep(0.2)
    time.sleep(2.5)  # a few more ticks: still one run, and the next slot is in the future
    runs = tenant.get(f"/v1/reports/{report['id']}/runs").json()
    assert [r["trigger"] for r in runs] == ["schedule"] and runs[0]["status"] == "succeeded"
    assert runtime.scheduler.next_run(name) > datetime.now(UTC)


def test_report_runs_leave_no_temporary_files_and_dead_attempts_are_swept(tenant, runtime) -> None:  # type: ignore[no-untyped-def]
    from analytics_engine.exports.worker import sweep_export_orphans
    from analytics_engine.exports.workspace import report_temp_dir

    root = report_temp_dir(runtime.settings)
    report = tenant.post("/v1/reports", json=report_body(formats=["xlsx"])).json()
    assert tenant.post(f"/v1/reports/{report['id']}/run", params={"wait": "true"}).json()["status"] == "succeeded"
    assert not root.exists() or list(root.iterdir()) == []
    # What a killed process left: an attempt folder of a run whose job no longer runs.
    leftover = root / "job_killed_long_ago" / "a1"
    leftover.mkdir(parents=True)
    (leftover / "report.xlsx").write_bytes(b"x" * 1000)
    outcome = sweep_export_orphans(runtime)
    assert outcome.removed >= 1 and outcome.bytes >= 1000
    assert not leftover.exists()
