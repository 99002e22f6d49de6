"""Stored files at erasure: an XLSX export (written by the export code path) is rewritten without the
person's rows, keeping the other rows, their number formats and the header; a workbook where the id
sits inside a longer text, and a PDF holding the id, are deleted; the receipt says which."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from openpyxl import Workbook, load_workbook

from analytics_engine.exports.writers import XlsxSink


def _erase(tenant, person: str) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    response = tenant.post("/v1/privacy/erasures", params={"wait": "true"}, json={"distinct_id": person})
    assert response.status_code == 202, response.text
    body: dict[str, Any] = tenant.get(f"/v1/privacy/erasures/{response.json()['id']}").json()
    assert body["status"] == "completed", body
    return {e["store"]: e for e in body["receipt"]["stores"]}["stored_files"]


def test_xlsx_exports_are_rewritten_without_the_person(runtime, new_tenant, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    tenant = new_tenant()
    tenant.ingest([{"event": "view", "distinct_id": "alice"}, {"event": "view", "distinct_id": "bob"}])
    moment = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)
    export = tmp_path / "export.xlsx"
    sink = XlsxSink(export, ["event", "distinct_id", "timestamp", "n"], ["string", "string", "timestamp", "number"])
    sink.write_rows(
        [
            ["view", "alice", moment, 1],
            ["view", "bob", moment, 2],
            ["buy", "alice", moment, 3],
            ["buy", "alice", moment, 4],
            ["view", "carl", moment, 5],
        ]
    )
    sink.close()
    runtime.storage.put_file(tenant.id, "exports/ex_1.xlsx", export)
    # A workbook where the id is inside a longer text: rows cannot be told apart, so it goes whole.
    summary = tmp_path / "summary.xlsx"
    book = Workbook()
    book.active.append(["note"])
    book.active.append(["top user: alice"])
    book.save(summary)
    runtime.storage.put_file(tenant.id, "reports/rp_1/run/summary.xlsx", summary)
    pdf = tmp_path / "r.pdf"
    pdf.write_bytes(b"%PDF-1.4\n(top user: alice) Tj\n%%EOF\n")
    runtime.storage.put_file(tenant.id, "reports/rp_1/run/r.pdf", pdf)
    # A workbook without the person stays as it is.
    other = tmp_path / "other.xlsx"
    book = Workbook()
    book.active.append(["distinct_id"])
    book.active.append(["bob"])
    book.save(other)
    runtime.storage.put_file(tenant.id, "exports/ex_2.xlsx", other)

    stored = _erase(tenant, "alice")
    files = {f["key"]: (f["action"], f["rows"]) for f in stored["details"]["files"]}
    assert files == {
        "exports/ex_1.xlsx": ("rewritten", 3),
        "reports/rp_1/run/summary.xlsx": ("deleted", 1),
        "reports/rp_1/run/r.pdf": ("deleted", 1),
    }
    assert stored["rows_after"] == 0
    keys = {item.key for prefix in ("exports/", "reports/") for item in runtime.storage.list(tenant.id, prefix)}
    assert {"exports/ex_1.xlsx", "exports/ex_2.xlsx"} <= keys
    assert not {"reports/rp_1/run/summary.xlsx", "reports/rp_1/run/r.pdf"} & keys

    rewritten = tmp_path / "rewritten.xlsx"
    rewritten.write_bytes(b"".join(runtime.storage.open(tenant.id, "exports/ex_1.xlsx")))
    sheet = load_workbook(rewritten).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows == [
        ("event", "distinct_id", "timestamp", "n"),
        ("view", "bob", moment.replace(tzinfo=None), 2),
        ("view", "carl", moment.replace(tzinfo=None), 5),
    ]
    assert sheet["A1"].font.bold and sheet["C2"].number_format == "yyyy-mm-dd hh:mm:ss.000"
    assert sheet.freeze_panes == "A2"
    assert b"alice" not in rewritten.read_bytes()
