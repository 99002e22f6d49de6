"""Running one export: plan the source, stream it from ClickHouse in blocks through the tenant
scope, write the file chunk by chunk. Used by the workers in `serve` and by `analytics-engine export`."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from clickhouse_connect.driver.exceptions import ClickHouseError, DatabaseError, OperationalError

from analytics_engine.exports.integrations import table_plan
from analytics_engine.exports.schemas import EventsSource, ExportFormat
from analytics_engine.exports.sources import SqlPlan, TablePlan, events_plan
from analytics_engine.exports.writers import (
    EXCEL_MAX_ROWS,
    NUMERIC_KINDS,
    ParquetSink,
    RowTextSink,
    TextSink,
    XlsxSink,
    infer_kind,
    merge_kinds,
    typed_value,
)
from analytics_engine.insights.results import Table as ResultTable
from analytics_engine.lifecycle.reads import events_source
from analytics_engine.warehouse.client import render_settings, translate_error
from analytics_engine.warehouse.scoped import TenantScope, tenant_id_of

if TYPE_CHECKING:
    from analytics_engine.runtime import Runtime

EXTENSIONS = {"csv": "csv", "xlsx": "xlsx", "json": "json", "ndjson": "ndjson", "parquet": "parquet"}
READ_CHUNK = 1 << 20
# An events export without a start reaches back to the oldest cold file.
COLD_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# One block (~50k rows) is what memory holds at a time; bigger blocks gained nothing measurable and
# cost peak RSS (bench exports).
BLOCK_SETTINGS = {"max_block_size": 50_000, "max_execution_time": 0}
TEXT_SETTINGS = {"max_execution_time": 0}
# Sorting a big export spills to disk rather than holding it in memory.
SORT_SETTINGS = {"max_bytes_before_external_sort": 200_000_000}

Progress = Callable[[int, int | None], None]


class ExportScope(TenantScope):
    """The tenant scope plus the two streaming reads exports need, under the same policy as every
    tenant read (`warehouse/scoped.py`): bound to the tenant, admitted under its budget (a raw
    export holds one of the tenant's query slots while it streams) and recorded in its usage."""

    def text_chunks(
        self, sql: str, params: Mapping[str, Any] | None, fmt: str, settings: Mapping[str, Any] | None = None
    ) -> Iterator[bytes]:
        """ClickHouse-formatted bytes (CSV, JSONEachRow), read in 1 MiB chunks."""
        with self.bound_connection(sql, params, settings) as (client, bound, merged):
            try:
                # The synchronous client returns io.IOBase (StreamContext is the async client's).
                stream = cast(io.IOBase, client.raw_stream(sql + render_settings(merged), parameters=bound, fmt=fmt))
                try:
                    while chunk := stream.read(READ_CHUNK):
                        yield chunk
                finally:
                    stream.close()
            except (ClickHouseError, DatabaseError, OperationalError) as exc:
                raise translate_error(exc) from exc

    def column_blocks(
        self, sql: str, params: Mapping[str, Any] | None, settings: Mapping[str, Any] | None = None
    ) -> Iterator[Sequence[Sequence[Any]]]:
        """Column-oriented blocks decoded from the Native stream."""
        with self.bound_connection(sql, params, settings) as (client, bound, merged):
            try:
                with client.query_column_block_stream(sql, parameters=bound, settings=merged) as stream:
                    yield from stream
            except (ClickHouseError, DatabaseError, OperationalError) as exc:
                raise translate_error(exc) from exc


@dataclass
class ExportOutcome:
    rows: int
    bytes: int
    columns: list[str]
    sheets: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def extension(fmt: ExportFormat | str) -> str:
    return EXTENSIONS[str(fmt)]


def plan_for(runtime: Runtime, tenant: Any, source: Any, *, default_end: datetime | None) -> SqlPlan | TablePlan:
    if isinstance(source, EventsSource):
        plan = events_plan(source, default_end=default_end)
        end = source.end or default_end or datetime.now(UTC)
        plan.table = events_source(runtime, tenant_id_of(tenant), source.start or COLD_EPOCH, end)
        return plan
    return table_plan(runtime, tenant, source)


def count_rows(scope: TenantScope, plan: SqlPlan | TablePlan) -> int:
    if isinstance(plan, TablePlan):
        return plan.total_rows()
    return int(scope.query(plan.count_sql(plan.table or scope.table("events")), plan.params).scalar() or 0)


def write_export(
    scope: ExportScope,
    plan: SqlPlan | TablePlan,
    fmt: ExportFormat | str,
    path: Path,
    *,
    on_progress: Progress | None = None,
    rows_total: int | None = None,
    xlsx_max_rows: int | None = None,
    tmpdir: Path | None = None,
) -> ExportOutcome:
    """Write the whole export to `path`. `on_progress(rows_done, rows_total)` runs after each block
    and may raise to stop the export (a cancel, a shutdown)."""
    fmt = str(fmt)
    report = on_progress or (lambda done, total: None)
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(plan, TablePlan):
        outcome = _write_tables(plan, fmt, path, report, xlsx_max_rows, tmpdir)
    elif fmt in ("csv", "ndjson", "json"):
        outcome = _write_text(scope, plan, fmt, path, report, rows_total)
    else:
        outcome = _write_blocks(scope, plan, fmt, path, report, rows_total, xlsx_max_rows, tmpdir)
    outcome.bytes = path.stat().st_size
    return outcome


def _settings(plan: SqlPlan, base: dict[str, Any]) -> dict[str, Any]:
    return {**base, **(SORT_SETTINGS if plan.order_by else {})}


def _write_text(
    scope: ExportScope, plan: SqlPlan, fmt: str, path: Path, report: Progress, total: int | None
) -> ExportOutcome:
    clickhouse_format = "CSV" if fmt == "csv" else "JSONEachRow"
    sql = plan.select(plan.table or scope.table("events"), native_json=fmt != "csv")
    settings = _settings(plan, TEXT_SETTINGS)
    if fmt != "csv":
        settings["output_format_json_quote_64bit_integers"] = 0
    with path.open("wb") as out:
        sink = TextSink(out, fmt, plan.names)
        since_report = 0
        for chunk in scope.text_chunks(sql, plan.params, clickhouse_format, settings):
            since_report += len(chunk)
            sink.feed(chunk)
            if since_report >= 8 * READ_CHUNK:
                report(sink.rows, total)
                since_report = 0
        sink.close()
    report(sink.rows, total)
    return ExportOutcome(sink.rows, 0, plan.names)


def _write_blocks(
    scope: ExportScope,
    plan: SqlPlan,
    fmt: str,
    path: Path,
    report: Progress,
    total: int | None,
    xlsx_max_rows: int | None,
    tmpdir: Path | None,
) -> ExportOutcome:
    kinds = [column.kind for column in plan.columns]
    sink: ParquetSink | XlsxSink
    if fmt == "parquet":
        sink = ParquetSink(path, plan.names, kinds)
    else:
        sink = XlsxSink(
            path, plan.names, kinds, title="Events", tmpdir=tmpdir, max_rows=xlsx_max_rows or EXCEL_MAX_ROWS
        )
    sql = plan.select(plan.table or scope.table("events"), block=True)
    try:
        for block in scope.column_blocks(sql, plan.params, _settings(plan, BLOCK_SETTINGS)):
            sink.write_block(block)
            report(sink.rows, total)
    finally:
        sink.close()
    return ExportOutcome(sink.rows, 0, plan.names, sheets=getattr(sink, "sheets", None))


def table_kinds(table: ResultTable) -> list[str]:
    """The kind of each column: the result's own, or inferred from the values when it gives none."""
    if len(table.kinds) == len(table.columns):
        return list(table.kinds)
    return [infer_kind([row[i] for row in table.rows]) for i in range(len(table.columns))]


def _write_tables(
    plan: TablePlan, fmt: str, path: Path, report: Progress, xlsx_max_rows: int | None, tmpdir: Path | None
) -> ExportOutcome:
    total = plan.total_rows()
    tables = plan.tables
    if fmt == "xlsx":
        first = tables[0] if tables else None
        sink = XlsxSink(
            path,
            first.columns if first else ["value"],
            table_kinds(first) if first else ["text"],
            title=first.title if first else "Export",
            tmpdir=tmpdir,
            max_rows=xlsx_max_rows or EXCEL_MAX_ROWS,
            typed=True,
        )
        for number, table in enumerate(tables):
            if number:
                sink.start_table(table.title, table.columns, table_kinds(table))
            sink.write_rows(table.rows)
            report(sink.rows, total)
        sink.close()
        return ExportOutcome(sink.rows, 0, first.columns if first else [], sheets=sink.sheets)
    # One table: as is. Several (a dashboard): one long table with the widget title first and the
    # union of the columns.
    if len(tables) == 1:
        names = tables[0].columns
        kinds = table_kinds(tables[0])
        rows_of: list[tuple[ResultTable, Callable[[Sequence[Any]], Sequence[Any]]]] = [(tables[0], lambda row: row)]
    else:
        names = ["table"]
        kinds_of: dict[str, list[str]] = {}
        for table in tables:
            names += [c for c in table.columns if c not in names]
            for column, kind in zip(table.columns, table_kinds(table), strict=True):
                kinds_of.setdefault(column, []).append(kind)
        kinds = ["text", *[merge_kinds(kinds_of[name]) for name in names[1:]]]

        def widen(table: ResultTable) -> Callable[[Sequence[Any]], list[Any]]:
            index = {c: i for i, c in enumerate(table.columns)}
            return lambda row: [table.title] + [row[index[c]] if c in index else None for c in names[1:]]

        rows_of = [(table, widen(table)) for table in tables]
    if fmt == "parquet":
        sink_p = ParquetSink(path, names, kinds)
        for table, shape in rows_of:
            sink_p.write_rows([shape(row) for row in table.rows])
            report(sink_p.rows, total)
        sink_p.close()
        return ExportOutcome(sink_p.rows, 0, names)
    # Text formats keep dates and times as the result's ISO text; numbers are rounded to their unit
    # as in Parquet and XLSX (no float noise in a CSV either).
    numeric = [i for i, kind in enumerate(kinds) if kind in NUMERIC_KINDS]

    def rounded(row: Sequence[Any]) -> list[Any]:
        out = list(row)
        for i in numeric:
            if isinstance(out[i], int | float) and not isinstance(out[i], bool):
                out[i] = typed_value(kinds[i], out[i])
        return out

    with path.open("wb") as out:
        sink_t = RowTextSink(out, fmt, names)
        for table, shape in rows_of:
            sink_t.write_rows([rounded(shape(row)) for row in table.rows])
            report(sink_t.rows, total)
        sink_t.close()
    return ExportOutcome(sink_t.rows, 0, names)
