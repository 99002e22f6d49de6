"""Exports of many rows in every format through the API and the real workers, each file read back
(csv, json, pyarrow, openpyxl) with its row count and a checksum (the sum of property `n`).

Sizes: 1,000,000 rows for CSV (the format whose row counting is hardest: quoted newlines), 200,000
for NDJSON, JSON and Parquet, 30,000 for XLSX (openpyxl reads ~20k rows/s); the sheet split past
Excel's limit is tested with a small per-sheet limit in
test_writers.py::test_xlsx_splits_sheets_past_the_row_limit."""

from __future__ import annotations

import csv
import io
import json

import openpyxl
import pyarrow.parquet as pq
import pytest

from analytics_engine.bus.base import InProcessBus
from tests.exports.helpers import fill_events, wait_export

BIG = 1_000_000
MEDIUM = 200_000
SMALL = 30_000


@pytest.fixture(scope="module")
def tenants(client, admin_headers, runtime):  # type: ignore[no-untyped-def]
    from tests.support.factories import make_tenant

    big = make_tenant(client, admin_headers, "export-big")
    medium = make_tenant(client, admin_headers, "export-medium")
    small = make_tenant(client, admin_headers, "export-small")
    fill_events(runtime, big.id, BIG)
    fill_events(runtime, medium.id, MEDIUM)
    fill_events(runtime, small.id, SMALL)
    return {"big": big, "medium": medium, "small": small}


def download(client, status):  # type: ignore[no-untyped-def]
    assert status["status"] == "succeeded", status
    url = status["download_url"]
    response = client.get(url)  # no API key: the signature is the permission
    assert response.status_code == 200, response.text[:300]
    assert int(response.headers["content-length"]) == status["bytes"]
    return response.content


def run(handle, body):  # type: ignore[no-untyped-def]
    response = handle.post("/v1/exports", json=body)
    assert response.status_code == 202, response.text
    accepted = response.json()
    assert accepted["status_url"] == f"/v1/exports/{accepted['id']}"
    return wait_export(handle, accepted["id"])


def expected_sum(rows: int) -> int:
    return rows * (rows - 1) // 2


def test_csv_one_million_rows_with_quoted_newlines(tenants, client, runtime) -> None:  # type: ignore[no-untyped-def]
    handle = tenants["big"]
    status = run(
        handle,
        {
            "source": {"type": "events", "columns": ["timestamp", "distinct_id", "properties.n", "properties.note"]},
            "format": "csv",
        },
    )
    assert status["rows_written"] == BIG and status["rows_total"] == BIG and status["progress"] == 1.0
    body = download(client, status)
    reader = csv.reader(io.StringIO(body.decode()))
    assert next(reader) == ["timestamp", "distinct_id", "properties.n", "properties.note"]
    count = total = 0
    for row in reader:
        count += 1
        total += int(row[2])
        if count == 1:
            assert row[3] == 'a, "quoted"\nline' and row[0].startswith("2026-")
    assert count == BIG
    assert total == expected_sum(BIG)
    # export.completed (v1) was published with the same figures
    events = [e for e in runtime.bus.published if e.type == "export.completed" and e.data["export_id"] == status["id"]]
    assert isinstance(runtime.bus, InProcessBus) and len(events) == 1
    assert events[0].tenant_id == handle.id and events[0].data["rows"] == BIG
    assert events[0].data["bytes"] == status["bytes"] and events[0].subject == "analytics.export.completed.v1"


@pytest.mark.parametrize("fmt", ["ndjson", "json"])
def test_json_formats(tenants, client, fmt) -> None:  # type: ignore[no-untyped-def]
    status = run(tenants["medium"], {"source": {"type": "events"}, "format": fmt})
    body = download(client, status)
    rows = [json.loads(line) for line in body.splitlines()] if fmt == "ndjson" else json.loads(body)
    assert len(rows) == MEDIUM == status["rows_written"]
    assert set(rows[0]) == {"timestamp", "event", "distinct_id", "event_id", "properties"}
    assert rows[0]["properties"]["note"] == 'a, "quoted"\nline'  # a nested object, not a string
    assert sum(int(r["properties"]["n"]) for r in rows) == expected_sum(MEDIUM)


def test_parquet(tenants, client, tmp_path) -> None:  # type: ignore[no-untyped-def]
    status = run(
        tenants["medium"],
        {
            "source": {"type": "events", "columns": ["timestamp", "event", "properties.n", "properties"]},
            "format": "parquet",
        },
    )
    path = tmp_path / "x.parquet"
    path.write_bytes(download(client, status))
    file = pq.ParquetFile(path)
    assert file.metadata.num_rows == MEDIUM == status["rows_written"]
    assert file.metadata.num_row_groups >= 2  # written block by block, not in one piece
    table = file.read()
    assert str(table.schema.field("timestamp").type) == "timestamp[ms, tz=UTC]"
    assert sum(int(v) for v in table.column("properties.n").to_pylist()) == expected_sum(MEDIUM)
    assert json.loads(table.column("properties")[0].as_py())["plan"] in ("free", "pro", "team")


def test_xlsx(tenants, client, tmp_path) -> None:  # type: ignore[no-untyped-def]
    status = run(
        tenants["small"],
        {"source": {"type": "events", "columns": ["timestamp", "distinct_id", "properties.n"]}, "format": "xlsx"},
    )
    path = tmp_path / "x.xlsx"
    path.write_bytes(download(client, status))
    book = openpyxl.load_workbook(path, read_only=True)
    rows = list(book.worksheets[0].iter_rows(values_only=True))
    assert rows[0] == ("timestamp", "distinct_id", "properties.n")
    assert len(rows) - 1 == SMALL == status["rows_written"]
    assert sum(int(r[2]) for r in rows[1:]) == expected_sum(SMALL)
    assert rows[1][0].year == 2026  # a real date cell


def test_filters_and_columns(tenants, client) -> None:  # type: ignore[no-untyped-def]
    status = run(
        tenants["small"],
        {
            "source": {
                "type": "events",
                "events": ["pageview"],
                "start": "2026-05-31T22:00:00Z",
                "end": "2026-06-01T00:00:00Z",
                "where": [{"property": "plan", "value": "pro"}],
                "columns": ["distinct_id", "properties.plan", "properties.n"],
                "order_by_time": True,
            },
            "format": "csv",
        },
    )
    rows = list(csv.reader(io.StringIO(download(client, status).decode())))[1:]
    # 7200 seconds before the fixed instant, every third event is "pro" (n % 3 == 1)
    expected = [n for n in range(1, 7201) if n % 3 == 1]
    assert len(rows) == len(expected) == status["rows_written"]
    assert {r[1] for r in rows} == {"pro"}
    assert sorted(int(r[2]) for r in rows) == expected
    assert [int(r[2]) for r in rows] == sorted(expected, reverse=True)  # ordered by time (n counts back)
