"""`analytics-engine export`: run an export from the command line into a local file, with a
progress bar. Same planning and writers as the workers in `serve`; no job row, no storage."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from analytics_engine.cli.common import clean_errors, console, fail, find_tenant, out, runtime

export_app = typer.Typer(help="Export events, an insight, a metric or a dashboard to a local file.")


def _where(items: list[str]) -> list[dict[str, str]]:
    conditions = []
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            fail(f"--where takes PROPERTY=VALUE, not {item!r}")
        conditions.append({"property": name, "value": value})
    return conditions


@export_app.callback(invoke_without_command=True)
@clean_errors
def export(
    tenant: Annotated[str, typer.Option(help="Tenant id or name.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="File to write (its folder must exist).")],
    fmt: Annotated[str, typer.Option("--format", "-f", help="csv, xlsx, json, ndjson or parquet.")] = "csv",
    events: Annotated[str | None, typer.Option(help="Comma-separated event names (default: all).")] = None,
    start: Annotated[datetime | None, typer.Option(help="From this time (UTC unless an offset is given).")] = None,
    end: Annotated[datetime | None, typer.Option(help="Until this time (exclusive; default now).")] = None,
    where: Annotated[list[str] | None, typer.Option(help="PROPERTY=VALUE (repeatable).")] = None,
    columns: Annotated[
        str | None, typer.Option(help="Comma-separated: timestamp,event,distinct_id,event_id,properties,properties.X")
    ] = None,
    order_by_time: Annotated[bool, typer.Option(help="Sort rows by timestamp.")] = False,
    limit: Annotated[int | None, typer.Option(min=1, help="At most this many rows.")] = None,
    source: Annotated[
        str | None,
        typer.Option(help='Instead of events: a source as JSON, e.g. \'{"type": "insight", "query": {...}}\'.'),
    ] = None,
) -> None:
    """Write an export to a local file (works on the warehouse directly: with the embedded one,
    not while `serve` holds the data folder; then use POST /v1/exports)."""
    from pydantic import ValidationError
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from analytics_engine.exports.integrations import validate_source
    from analytics_engine.exports.runner import ExportScope, count_rows, plan_for, write_export
    from analytics_engine.exports.schemas import ExportCreate
    from analytics_engine.exports.worker import tenant_context

    if source:
        try:
            source_body = json.loads(source)
        except ValueError:
            fail("--source must be JSON")
    else:
        source_body = {"type": "events", "order_by_time": order_by_time}
        if events:
            source_body["events"] = [e.strip() for e in events.split(",") if e.strip()]
        if start:
            source_body["start"] = start.isoformat()
        if end:
            source_body["end"] = end.isoformat()
        if where:
            source_body["where"] = _where(where)
        if columns:
            source_body["columns"] = [c.strip() for c in columns.split(",") if c.strip()]
        if limit:
            source_body["limit"] = limit
    try:
        request = ExportCreate.model_validate({"source": source_body, "format": fmt})
    except ValidationError as exc:
        fail("; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:5]))
    rt = runtime()
    try:
        tenant_id = find_tenant(rt.tenants, tenant).id
        context = tenant_context(rt, tenant_id)
        validate_source(rt, context, request.source)
        scope = ExportScope(rt.warehouse, tenant_id)
        plan = plan_for(rt, context, request.source, default_end=datetime.now(UTC))
        total = count_rows(scope, plan)
        started = time.perf_counter()
        with Progress(
            TextColumn("[bold]export"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"),
            TimeElapsedColumn(),
            console=console,
        ) as progress:
            task = progress.add_task("export", total=total or None, rate="")

            def advance(done: int, _total: int | None) -> None:
                rate = done / max(time.perf_counter() - started, 1e-6)
                progress.update(task, completed=done, rate=f"{rate:,.0f} rows/s")

            temp = output.with_name(output.name + ".part")
            outcome = write_export(
                scope, plan, request.format, temp, on_progress=advance, rows_total=total, tmpdir=output.parent
            )
            temp.replace(output)
    finally:
        rt.close()
    elapsed = time.perf_counter() - started
    out.print(
        f"wrote {outcome.rows:,} rows ({output.stat().st_size:,} bytes) to {output} in {elapsed:.1f}s "
        f"({outcome.rows / max(elapsed, 1e-6):,.0f} rows/s)"
    )
