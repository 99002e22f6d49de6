"""The streaming writers on their own: CSV record counting across chunk boundaries, the JSON array
wrapper, XLSX sheet splitting past the per-sheet row limit, Parquet row groups."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime

import openpyxl
import pyarrow.parquet as pq
import pytest

from analytics_engine.exports.writers import EXCEL_MAX_ROWS, CsvRowCounter, ParquetSink, TextSink, XlsxSink

ROWS = [[i, f'text "{i}",\nwith newline' if i % 3 == 0 else f"plain {i}", f"{i * 1.5}"] for i in range(500)]


def _csv_bytes() -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, quoting=csv.QUOTE_NONNUMERIC, lineterminator="\n").writerows(ROWS)
    return buffer.getvalue().encode()


@pytest.mark.parametrize("chunk", [1, 7, 64, 4096, 1 << 20])
def test_csv_counter_counts_records_not_lines(chunk: int) -> None:
    data = _csv_bytes()
    assert data.count(b"\n") > len(ROWS)  # quoted newlines are there
    counter = CsvRowCounter()
    for start in range(0, len(data), chunk):
        counter.feed(data[start : start + chunk])
    assert counter.rows == len(ROWS)


@pytest.mark.parametrize("chunk", [1, 5, 100, 1 << 20])
def test_json_array_from_jsonl_chunks(chunk: int) -> None:
    lines = b"".join(json.dumps({"n": i, "s": f"a\nb{i}"}).encode() + b"\n" for i in range(300))
    out = io.BytesIO()
    sink = TextSink(out, "json", ["n", "s"])
    for start in range(0, len(lines), chunk):
        sink.feed(lines[start : start + chunk])
    sink.close()
    data = json.loads(out.getvalue())
    assert [r["n"] for r in data] == list(range(300)) and sink.rows == 300
    empty = io.BytesIO()
    sink = TextSink(empty, "json", ["n"])
    sink.close()
    assert json.loads(empty.getvalue()) == [] and sink.rows == 0


def test_xlsx_splits_sheets_past_the_row_limit(tmp_path) -> None:  # type: ignore[no-untyped-def]
    assert EXCEL_MAX_ROWS == 1_048_576
    path = tmp_path / "split.xlsx"
    sink = XlsxSink(path, ["n", "at"], ["string", "timestamp"], title="Events", max_rows=1_000)
    epoch_ms = int(datetime(2026, 1, 1, tzinfo=UTC).timestamp() * 1000)
    for start in range(0, 2_500, 300):  # blocks that straddle sheet boundaries
        block = [
            list(range(start, min(start + 300, 2_500))),
            [epoch_ms + n for n in range(start, min(start + 300, 2_500))],
        ]
        sink.write_block(block)
    sink.close()
    assert sink.rows == 2_500 and sink.sheets == 3
    book = openpyxl.load_workbook(path, read_only=True)
    assert book.sheetnames == ["Events", "Events (2)", "Events (3)"]
    seen = []
    for sheet in book.worksheets:
        rows = list(sheet.iter_rows(values_only=True))
        assert rows[0] == ("n", "at")  # each sheet starts with the header
        assert len(rows) <= 1_000
        seen += [r[0] for r in rows[1:]]
        assert rows[1][1].year == 2026
    assert seen == list(range(2_500))  # in order, none lost or repeated


def test_parquet_row_groups_gather_small_blocks(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "x.parquet"
    sink = ParquetSink(path, ["ts", "s"], ["timestamp", "string"])
    for block in range(20):  # 20 granule-sized blocks of 8,192 rows
        sink.write_block([[block * 8192 + i for i in range(8192)], [f"v{block}-{i}" for i in range(8192)]])
    sink.close()
    file = pq.ParquetFile(path)
    assert file.metadata.num_rows == 20 * 8192
    assert [file.metadata.row_group(i).num_rows for i in range(file.metadata.num_row_groups)] == [65536, 65536, 32768]
    assert file.read().column("ts")[8192].as_py().year == 1970
    empty = ParquetSink(tmp_path / "empty.parquet", ["a", "b"])
    empty.close()
    assert pq.read_table(tmp_path / "empty.parquet").column_names == ["a", "b"]


def test_result_tables_are_typed_and_rounded_to_the_unit(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The float noise of a sum (21107.159999999993) never reaches a file; ISO text becomes a time."""
    import openpyxl
    import pyarrow as pa
    import pyarrow.parquet as pq

    from analytics_engine.exports.writers import ParquetSink, XlsxSink

    names = ["day", "hour", "revenue", "conversion", "people", "seconds", "note"]
    kinds = ["date", "timestamp", "number", "ratio", "integer", "seconds", "text"]
    rows = [
        ["2026-11-02", "2026-11-02T10:00:00+01:00", 21107.159999999993, 0.127912, 3.0, 190881.25, 7],
        ["2026-11-03", "2026-11-03T10:00:00+01:00", None, None, None, None, None],
    ]
    sink = ParquetSink(tmp_path / "t.parquet", names, kinds)
    sink.write_rows(rows)
    sink.close()
    table = pq.read_table(tmp_path / "t.parquet")
    types = {f.name: f.type for f in table.schema}
    assert types["day"] == pa.date32() and types["hour"] == pa.timestamp("ms", tz="UTC")
    assert types["people"] == pa.int64() and types["revenue"] == pa.float64() and types["note"] == pa.string()
    first = table.to_pylist()[0]
    assert first["revenue"] == 21107.16 and first["conversion"] == 0.1279 and first["people"] == 3
    assert first["hour"].isoformat() == "2026-11-02T09:00:00+00:00" and first["note"] == "7"

    book = XlsxSink(tmp_path / "t.xlsx", names, kinds, typed=True)
    book.write_rows(rows)
    book.close()
    sheet = openpyxl.load_workbook(tmp_path / "t.xlsx").worksheets[0]
    assert sheet["C2"].value == 21107.16 and sheet["C2"].number_format == "#,##0.00"
    assert sheet["D2"].number_format == "0.00%" and sheet["E2"].value == 3
    assert sheet["A2"].value.year == 2026 and sheet["B2"].value.hour == 10  # local wall time


def test_empty_result_table_keeps_its_types(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import pyarrow as pa
    import pyarrow.parquet as pq

    from analytics_engine.exports.writers import ParquetSink

    sink = ParquetSink(tmp_path / "e.parquet", ["day", "n"], ["date", "integer"])
    sink.close()
    assert [f.type for f in pq.read_schema(tmp_path / "e.parquet")] == [pa.date32(), pa.int64()]


def test_file_names_say_what_they_hold() -> None:
    from datetime import datetime

    from analytics_engine.exports.sources import TablePlan, file_name, safe_name

    plan = TablePlan(
        [], name="Ventes été / Q4: *KPIs*", date_from=datetime(2026, 10, 1), date_to=datetime(2026, 12, 31)
    )
    assert file_name(plan, "xlsx") == "ventes-ete-q4-kpis_2026-10-01_to_2026-12-31.xlsx"
    assert safe_name("../../etc/passwd") == "etc-passwd" and safe_name("///") == "export"


def test_text_exports_of_a_result_round_numbers_to_their_unit(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import csv

    from analytics_engine.exports.runner import write_export
    from analytics_engine.exports.sources import TablePlan
    from analytics_engine.insights.results import Table

    table = Table("Revenue", ["label", "revenue"], [["2026-11-02", 21107.159999999993]], ["date", "number"])
    write_export(None, TablePlan([table]), "csv", tmp_path / "r.csv")  # type: ignore[arg-type]
    rows = list(csv.reader((tmp_path / "r.csv").open()))
    assert rows == [["label", "revenue"], ["2026-11-02", "21107.16"]]
