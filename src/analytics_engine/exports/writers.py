"""File writers, one per format, all streaming: whatever the row count, memory holds one block.

Two kinds of input:
- text bytes ClickHouse already formatted (CSV, JSONEachRow), copied chunk by chunk while rows
  are counted (the fast path of raw-event exports to csv, ndjson and json);
- column blocks decoded from ClickHouse's Native stream, or small result tables, for Parquet
  (one row group per block through pyarrow's ParquetWriter) and XLSX (xlsxwriter in
  constant_memory mode, a new sheet past Excel's 1,048,576 rows).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import orjson

EXCEL_MAX_ROWS = 1_048_576  # rows per worksheet, the header row included
ROW_GROUP_ROWS = 65_536  # Parquet row group size (rows)
_EPOCH = datetime(1970, 1, 1)


class CsvRowCounter:
    """Counts CSV records in a byte stream: a newline ends a record only outside quotes (a quoted
    field may hold newlines; doubled quotes toggle twice, so parity stays right)."""

    def __init__(self) -> None:
        self.rows = 0
        self._odd = 0  # quotes seen so far, mod 2

    def feed(self, chunk: bytes) -> int:
        newlines = chunk.count(b"\n")
        if not newlines:
            self._odd = (self._odd + chunk.count(b'"')) & 1
            return 0
        data = np.frombuffer(chunk, dtype=np.uint8)
        quotes = np.flatnonzero(data == 34)
        if not len(quotes) and not self._odd:
            counted = newlines
        else:
            ends = np.flatnonzero(data == 10)
            before = np.searchsorted(quotes, ends) + self._odd
            counted = int(np.count_nonzero((before & 1) == 0))
        self._odd = (self._odd + len(quotes)) & 1
        self.rows += counted
        return counted


def csv_header(names: Sequence[str]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, quoting=csv.QUOTE_ALL, lineterminator="\n").writerow(names)
    return buffer.getvalue().encode()


class TextSink:
    """Copies ClickHouse-formatted text (CSV or JSONEachRow) into the file, counting rows.
    `json_array` wraps JSONEachRow lines into one JSON array."""

    def __init__(self, out: BinaryIO, fmt: str, names: Sequence[str]) -> None:
        self.out = out
        self.fmt = fmt
        self.rows = 0
        self._csv = CsvRowCounter() if fmt == "csv" else None
        self._pending = b""
        if fmt == "csv":
            out.write(csv_header(names))
        elif fmt == "json":
            out.write(b"[")

    def feed(self, chunk: bytes) -> int:
        if self._csv is not None:
            counted = self._csv.feed(chunk)
            self.out.write(chunk)
        elif self.fmt == "ndjson":
            counted = chunk.count(b"\n")
            self.out.write(chunk)
        else:  # json array: JSON text never holds a raw newline, so each line is one row
            data = self._pending + chunk
            cut = data.rfind(b"\n")
            if cut < 0:
                self._pending = data
                return 0
            complete, self._pending = data[: cut + 1], data[cut + 1 :]
            counted = complete.count(b"\n")
            body = complete[:-1].replace(b"\n", b",\n")
            self.out.write((b",\n" if self.rows else b"\n") + body)
        self.rows += counted
        return counted

    def close(self) -> None:
        if self.fmt == "json":
            if self._pending.strip():
                self.out.write((b",\n" if self.rows else b"\n") + self._pending.rstrip(b"\n"))
                self.rows += 1
            self.out.write(b"\n]\n")


# --- typed result tables (issue 24): numbers stay numbers, times become times, rounded to the unit ----
NUMERIC_KINDS = ("integer", "number", "ratio", "percent", "seconds")
# Decimal places kept per kind: enough for the unit, never a float's binary noise (21107.15999999999).
DECIMALS = {"number": 4, "ratio": 4, "percent": 2, "seconds": 1}
# Excel number formats per kind (a ratio shows as a percentage; the stored value stays the ratio).
EXCEL_FORMATS = {
    "integer": "#,##0",
    "number": "#,##0.00",
    "ratio": "0.00%",
    "percent": '0.00"%"',
    "seconds": '#,##0.0" s"',
    "date": "yyyy-mm-dd",
    "timestamp": "yyyy-mm-dd hh:mm",
}


def infer_kind(values: Sequence[Any]) -> str:
    """A column's kind from its values, for tables that do not say (see `insights.results.ColumnKind`)."""
    present = [v for v in values if v is not None]
    if not present:
        return "text"
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in present):
        return "integer" if all(float(v).is_integer() for v in present) else "number"
    if all(isinstance(v, datetime) for v in present):
        return "timestamp"
    return "text"


def merge_kinds(kinds: Sequence[str]) -> str:
    """One kind for a column that several tables share (a dashboard's widgets in one file)."""
    distinct = set(kinds)
    if len(distinct) == 1:
        return kinds[0]
    if distinct <= set(NUMERIC_KINDS):
        return "integer" if distinct == {"integer"} else "number"
    return "text"


def typed_value(kind: str, value: Any) -> Any:
    """A table cell as its kind's Python value: int, rounded float, date, aware datetime, or text."""
    if value is None or (isinstance(value, float) and value != value):  # None or NaN
        return None
    if kind in NUMERIC_KINDS:
        if isinstance(value, bool) or not isinstance(value, int | float):
            try:
                value = float(value)
            except (TypeError, ValueError):
                return None
        if kind == "integer":
            return round(value)
        return round(float(value), DECIMALS[kind])
    if kind == "date":
        if isinstance(value, datetime):
            return value.date()
        return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])
    if kind == "timestamp":
        moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    if isinstance(value, dict | list):
        return orjson.dumps(value, default=str).decode()
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def _to_datetime(value: Any) -> datetime | None:
    """Epoch milliseconds (block path) or a datetime -> naive UTC datetime (for Excel)."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value
    return _EPOCH + timedelta(milliseconds=int(value))


class ParquetSink:
    """One row group per block; the schema is fixed by the column kinds. Arrow buffers come from
    the system allocator: pyarrow's default pool (mimalloc) keeps freed blocks mapped, which showed
    as ~30 MB more peak RSS in `bench exports`."""

    def __init__(self, path: Path, names: Sequence[str], kinds: Sequence[str] | None = None) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        self.pa = pa
        self.pool = pa.system_memory_pool()
        self._pending: list[Any] = []
        self._pending_rows = 0
        self.names = list(names)
        self.kinds = list(kinds) if kinds else None
        self.path = path
        self.writer: pq.ParquetWriter | None = None
        self.rows = 0
        self._pq = pq

    def arrow_type(self, kind: str | None) -> Any:
        pa = self.pa
        return {
            "text": pa.string(),
            "string": pa.string(),
            "json": pa.string(),
            "integer": pa.int64(),
            "number": pa.float64(),
            "ratio": pa.float64(),
            "percent": pa.float64(),
            "seconds": pa.float64(),
            "date": pa.date32(),
            "timestamp": pa.timestamp("ms", tz="UTC"),
        }.get(kind or "text", pa.string())

    def _array(self, values: Sequence[Any], kind: str | None) -> Any:
        pa = self.pa
        pool = self.pool
        if kind in NUMERIC_KINDS or kind == "date":
            return pa.array(values, self.arrow_type(kind), memory_pool=pool)
        if kind == "timestamp":
            if values and isinstance(next((v for v in values if v is not None), None), datetime):
                return pa.array(values, pa.timestamp("ms", tz="UTC"), memory_pool=pool)
            return pa.array(values, pa.int64(), memory_pool=pool).cast(pa.timestamp("ms", tz="UTC"), memory_pool=pool)
        if kind in ("string", "json", "text"):
            return pa.array(values, pa.string(), memory_pool=pool)
        return pa.array(values, memory_pool=pool)

    def write_block(self, columns: Sequence[Sequence[Any]]) -> int:
        """Blocks arrive as ClickHouse reads them (often one 8,192-row granule): they are converted to
        compact Arrow batches at once and written as one row group per ~64k rows."""
        kinds: list[str | None] = list(self.kinds) if self.kinds else [None] * len(columns)
        arrays = [self._array(col, kind) for col, kind in zip(columns, kinds, strict=True)]
        batch = self.pa.record_batch(arrays, names=self.names)
        if self.writer is None:
            self.writer = self._pq.ParquetWriter(
                str(self.path), batch.schema, compression="snappy", memory_pool=self.pool
            )
        self._pending.append(batch)
        self._pending_rows += batch.num_rows
        written: int = batch.num_rows  # pyarrow has no stubs
        self.rows += written
        if self._pending_rows >= ROW_GROUP_ROWS:
            self._flush()
        return written

    def _flush(self) -> None:
        if self._pending and self.writer is not None:
            table = self.pa.Table.from_batches(self._pending)
            self.writer.write_table(table, row_group_size=max(table.num_rows, 1))
        self._pending, self._pending_rows = [], 0

    def write_rows(self, rows: Sequence[Sequence[Any]]) -> int:
        """Rows of a result table: typed by the table's kinds (rounded to the unit, ISO text to dates
        and times), or, without kinds, made one Arrow type per column."""
        if not rows:
            return 0
        if self.kinds:
            columns = [[typed_value(kind, row[i]) for row in rows] for i, kind in enumerate(self.kinds)]
        else:
            columns = [_normalise_column([row[i] for row in rows]) for i in range(len(self.names))]
        return self.write_block(columns)

    def close(self) -> None:
        self._flush()
        if self.writer is None:  # no rows: still a valid file with the columns' types
            kinds = self.kinds or ["text"] * len(self.names)
            schema = self.pa.schema([(n, self.arrow_type(k)) for n, k in zip(self.names, kinds, strict=True)])
            self.writer = self._pq.ParquetWriter(str(self.path), schema, memory_pool=self.pool)
        self.writer.close()


def _normalise_column(values: list[Any]) -> list[Any]:
    """Result tables may mix ints and floats, or hold dicts: make each column one Arrow type."""
    kinds = {type(v) for v in values if v is not None}
    if kinds <= {int, float, bool} and kinds - {bool}:
        return [None if v is None else float(v) for v in values] if float in kinds else values
    if kinds <= {str, datetime}:
        return [None if v is None else (v.isoformat() if isinstance(v, datetime) else v) for v in values]
    if len(kinds) <= 1 and not kinds & {dict, list}:
        return values
    return [None if v is None else (v if isinstance(v, str) else orjson.dumps(v, default=str).decode()) for v in values]


class XlsxSink:
    """xlsxwriter in constant_memory mode: rows go to disk as written; a sheet holds at most
    `max_rows` rows (Excel's limit by default), then `<title> (2)`, `(3)`... continue."""

    def __init__(
        self,
        path: Path,
        names: Sequence[str],
        kinds: Sequence[str] | None = None,
        *,
        title: str = "Export",
        max_rows: int = EXCEL_MAX_ROWS,
        tmpdir: Path | None = None,
        typed: bool = False,
    ) -> None:
        """`typed`: the kinds are a result table's (`insights.results.ColumnKind`), written with
        their number formats; otherwise the block path's (`timestamp` as epoch milliseconds)."""
        import xlsxwriter

        options: dict[str, Any] = {"constant_memory": True, "nan_inf_to_errors": True, "strings_to_numbers": False}
        if tmpdir:
            options["tmpdir"] = str(tmpdir)
        self.book = xlsxwriter.Workbook(str(path), options)
        self.bold = self.book.add_format({"bold": True})
        self.date_format = self.book.add_format({"num_format": "yyyy-mm-dd hh:mm:ss.000"})
        self.kind_formats = {kind: self.book.add_format({"num_format": fmt}) for kind, fmt in EXCEL_FORMATS.items()}
        self.max_rows = max_rows
        self.rows = 0
        self.sheets = 0
        self._sheet: Any = None
        self._row = 0
        self._names: list[str] = []
        self._kinds: list[str | None] = []
        self._title = title
        self._part = 0
        self._typed = typed
        self.start_table(title, names, kinds)

    def start_table(self, title: str, names: Sequence[str], kinds: Sequence[str] | None = None) -> None:
        """Begin a new table (a dashboard's next widget): a new sheet named after it."""
        self._names = list(names)
        self._kinds = list(kinds) if kinds else [None] * len(names)
        self._title = _sheet_title(title)
        self._part = 0
        self._sheet = None

    def _new_sheet(self) -> None:
        self._part += 1
        name = self._title if self._part == 1 else f"{self._title[:25]} ({self._part})"
        existing = {s.get_name() for s in self.book.worksheets()}
        base, number = name, 1
        while name in existing:
            number += 1
            name = f"{base[:25]} #{number}"
        self._sheet = self.book.add_worksheet(name)
        self.sheets += 1
        for column, (title, kind) in enumerate(zip(self._names, self._kinds, strict=True)):
            width = max(len(title) + 2, 20 if kind == "timestamp" else 12 if kind in EXCEL_FORMATS else 10)
            self._sheet.set_column(column, column, min(width, 40))
        self._sheet.write_row(0, 0, self._names, self.bold)
        self._sheet.freeze_panes(1, 0)
        self._row = 1

    def write_rows(self, rows: Sequence[Sequence[Any]]) -> int:
        if self._typed:
            return self._write_typed(rows)
        timestamp_columns = [i for i, kind in enumerate(self._kinds) if kind == "timestamp"]
        for row in rows:
            if self._sheet is None or self._row >= self.max_rows:
                self._new_sheet()
            sheet, r = self._sheet, self._row
            for c, value in enumerate(row):
                if value is None:
                    continue
                if c in timestamp_columns or isinstance(value, datetime):
                    sheet.write_datetime(r, c, _to_datetime(value), self.date_format)
                elif isinstance(value, bool):
                    sheet.write_boolean(r, c, value)
                elif isinstance(value, int | float):
                    sheet.write_number(r, c, value)
                elif isinstance(value, dict | list):
                    sheet.write_string(r, c, orjson.dumps(value, default=str).decode())
                else:
                    sheet.write_string(r, c, str(value))
            self._row += 1
        self.rows += len(rows)
        return len(rows)

    def _write_typed(self, rows: Sequence[Sequence[Any]]) -> int:
        """A result table's rows, each cell written as its column's kind with its number format;
        times are the tenant's local wall-clock time (Excel has no time zones)."""
        kinds = [kind or "text" for kind in self._kinds]
        formats = [self.kind_formats.get(kind) for kind in kinds]
        for row in rows:
            if self._sheet is None or self._row >= self.max_rows:
                self._new_sheet()
            sheet, r = self._sheet, self._row
            for c, (kind, value) in enumerate(zip(kinds, row, strict=True)):
                typed = typed_value(kind, value)
                if typed is None:
                    continue
                if isinstance(typed, datetime):
                    sheet.write_datetime(r, c, typed.replace(tzinfo=None), formats[c])
                elif isinstance(typed, date):
                    sheet.write_datetime(r, c, datetime(typed.year, typed.month, typed.day), formats[c])
                elif isinstance(typed, int | float):
                    sheet.write_number(r, c, typed, formats[c])
                else:
                    sheet.write_string(r, c, typed)
            self._row += 1
        self.rows += len(rows)
        return len(rows)

    def write_block(self, columns: Sequence[Sequence[Any]]) -> int:
        return self.write_rows(list(zip(*columns, strict=True)))

    def close(self) -> None:
        if self._sheet is None:
            self._new_sheet()
        self.book.close()


def _sheet_title(title: str) -> str:
    cleaned = "".join("_" if ch in "[]:*?/\\" else ch for ch in title).strip() or "Sheet"
    return cleaned[:31]


class RowTextSink:
    """CSV / NDJSON / JSON from Python rows (result tables; the raw-event path uses `TextSink`)."""

    def __init__(self, out: BinaryIO, fmt: str, names: Sequence[str]) -> None:
        self.out = out
        self.fmt = fmt
        self.names = list(names)
        self.rows = 0
        self._text = io.TextIOWrapper(out, encoding="utf-8", newline="", write_through=True) if fmt == "csv" else None
        self._csv = csv.writer(self._text, lineterminator="\n") if self._text else None
        if self._csv:
            self._csv.writerow(self.names)
        elif fmt == "json":
            out.write(b"[")

    def write_rows(self, rows: Sequence[Sequence[Any]]) -> int:
        if self._csv is not None:
            self._csv.writerows([[_csv_cell(v) for v in row] for row in rows])
        else:
            for row in rows:
                line = orjson.dumps(dict(zip(self.names, row, strict=True)), default=str)
                if self.fmt == "json":
                    self.out.write((b",\n" if self.rows else b"\n") + line)
                else:
                    self.out.write(line + b"\n")
                self.rows += 1
            return len(rows)
        self.rows += len(rows)
        return len(rows)

    def write_block(self, columns: Sequence[Sequence[Any]]) -> int:
        return self.write_rows(list(zip(*columns, strict=True)))

    def close(self) -> None:
        if self._text is not None:
            self._text.flush()
            self._text.detach()
        elif self.fmt == "json":
            self.out.write(b"\n]\n")


def _csv_cell(value: Any) -> Any:
    if isinstance(value, dict | list):
        return orjson.dumps(value, default=str).decode()
    if isinstance(value, datetime):
        return value.isoformat()
    return value
