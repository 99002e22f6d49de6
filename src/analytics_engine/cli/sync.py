"""`analytics-engine sync ...`: copy PostgreSQL sources into the warehouse (docs/sync.md)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypedDict

import typer

from analytics_engine.cli.common import clean_errors, console, fail, out, runtime, settings

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

sync_app = typer.Typer(
    help="Copy PostgreSQL tables into the warehouse: backfill, incremental sync, verify (docs/sync.md).",
    no_args_is_help=True,
)


@sync_app.callback()
def options(
    sources_file: Annotated[
        Path | None,
        typer.Option("--sources-file", "-f", help="YAML file of sources (ANALYTICS_SYNC_SOURCES_FILE)."),
    ] = None,
) -> None:
    if sources_file is not None:
        from analytics_engine.config import get_settings

        os.environ["ANALYTICS_SYNC_SOURCES_FILE"] = str(sources_file.resolve())
        get_settings.cache_clear()


def _progress() -> Progress:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("rows  {task.fields[rate]}"),
        TimeRemainingColumn(),
        console=console,
    )


def _run(names: list[str], mode: str, restart: bool = False) -> None:
    rt = runtime()
    failed = []
    try:
        service = rt.sync
        for name in names or [spec.name for spec, _ in service.registry.all()]:
            started = time.perf_counter()
            with _progress() as progress:
                task = progress.add_task(name, total=None, rate="")

                def show(
                    done: int, total: int | None, _cursor: object, task: TaskID = task, t0: float = started
                ) -> None:
                    rate = done / max(time.perf_counter() - t0, 1e-6)
                    progress.update(task, completed=done, total=total, rate=f"{rate:,.0f}/s")

                job = service.run(name, mode, restart=restart, progress=show)
            if job.state == "succeeded":
                result = job.result
                out.print(
                    f"[green]{name}[/]: {result.get('rows', 0):,} rows in {result.get('seconds', 0)} s "
                    f"({result.get('rows_per_second') or 0:,}/s), job {job.id}"
                    + (", resumed after an interrupted run" if result.get("resumed_after_crash") else "")
                )
                if result.get("events_rejected"):
                    out.print(f"  {result['events_rejected']:,} rows rejected as events: {result['rejection_reasons']}")
            else:
                console.print(f"[bold red]{name}: {job.state}[/] (job {job.id}): {job.error or 'cancelled'}")
                failed.append(name)
    finally:
        rt.close()
    if failed:
        raise typer.Exit(1)


@sync_app.command("backfill")
@clean_errors
def backfill(
    source: Annotated[str, typer.Argument(help="Source name.")],
    restart: Annotated[bool, typer.Option(help="Empty the target and copy everything again.")] = False,
) -> None:
    """Copy a source into the warehouse in chunks, resuming from its checkpoint if interrupted."""
    _run([source], "backfill", restart)


@sync_app.command("run")
@clean_errors
def run(
    sources: Annotated[list[str] | None, typer.Argument(help="Source names (default: every source).")] = None,
) -> None:
    """Incremental sync: rows past each source's checkpoint, updates and soft deletes."""
    _run(list(sources or []), "sync")


@sync_app.command("reconcile")
@clean_errors
def reconcile(source: Annotated[str, typer.Argument(help="Source name (a table target).")]) -> None:
    """Hard deletes: mark warehouse rows whose key PostgreSQL no longer has as deleted."""

    rt = runtime()
    try:
        job = rt.sync.run(source, "reconcile")
    finally:
        rt.close()
    if job.state != "succeeded":
        fail(f"{source}: {job.state} (job {job.id}): {job.error}")
    out.print(
        f"[green]{source}[/]: {job.result['source_keys']:,} keys in the source, "
        f"{job.result['tombstoned']:,} rows marked deleted, job {job.id}"
    )


class _LastJob(TypedDict):
    id: str
    state: str
    error: str | None


class _SourceRow(TypedDict):
    name: str
    origin: str
    source: str
    target: str
    rows_copied: int
    backfill_done: bool
    cursor: list[str] | None
    last_job: _LastJob | None


@sync_app.command("list")
@clean_errors
def list_sources(as_json: Annotated[bool, typer.Option("--json", help="JSON instead of a table.")] = False) -> None:
    """Sources, their checkpoints and last jobs (metadata only: works while `serve` runs)."""
    from analytics_engine.jobs.service import JobService
    from analytics_engine.metadata.db import MetadataDB
    from analytics_engine.sync.registry import SourceRegistry
    from analytics_engine.sync.service import KINDS

    config = settings()
    metadata = MetadataDB(str(config.metadata_url))
    metadata.migrate_if_needed()
    registry, jobs = SourceRegistry(metadata, config.sync_sources_file), JobService(metadata)
    recent = [j for kind in KINDS.values() for j in jobs.list(kind=kind, limit=500)]
    rows: list[_SourceRow] = []
    for spec, origin in registry.all():
        checkpoint = registry.checkpoint(spec.name)
        last = max((j for j in recent if j.source == spec.name), key=lambda j: j.created_at, default=None)
        rows.append(
            {
                "name": spec.name,
                "origin": origin,
                "source": spec.table or "query",
                "target": spec.target.table if spec.target.kind == "table" else "events",
                "rows_copied": checkpoint.rows_copied,
                "backfill_done": checkpoint.backfill_done,
                "cursor": checkpoint.cursor,
                "last_job": None if last is None else {"id": last.id, "state": last.state, "error": last.error},
            }
        )
    metadata.dispose()
    if as_json:
        out.print_json(json.dumps(rows))
        return
    from rich.table import Table

    table = Table("name", "from", "source", "target", "rows copied", "backfilled", "cursor", "last job")
    for column in table.columns:
        column.overflow = "fold"  # ids and names are never cut with an ellipsis
    for row in rows:
        last_job = row["last_job"]
        table.add_row(
            row["name"],
            row["origin"],
            row["source"],
            row["target"],
            f"{row['rows_copied']:,}",
            "yes" if row["backfill_done"] else "no",
            ", ".join(row["cursor"] or []),
            "" if last_job is None else f"{last_job['state']} {last_job['id']}",
        )
    out.print(table)


@sync_app.command("check")
@clean_errors
def check(source: Annotated[str, typer.Argument(help="Source name.")]) -> None:
    """Connect, check the columns and print the derived warehouse schema; writes nothing."""

    rt = runtime()
    try:
        out.print_json(json.dumps(rt.sync.check_source(source)))
    finally:
        rt.close()


@sync_app.command("verify")
@clean_errors
def verify(
    source: Annotated[str, typer.Argument(help="Source name.")],
    repair: Annotated[
        bool, typer.Option(help="Copy the differing key ranges again from PostgreSQL, then verify again.")
    ] = False,
) -> None:
    """Compare the values of every synced column per key range (events targets: each row's event
    exactly once) between PostgreSQL and the warehouse; exits 1 on a mismatch."""

    rt = runtime()
    try:
        report = rt.sync.verify(source, repair=repair)
    finally:
        rt.close()
    out.print_json(json.dumps(report, default=str))
    if "repair" in report:
        done = report["repair"]
        console.print(f"repair: {done['ranges']} range(s) copied again ({report['source']})")
    if not report["match"]:
        fail(describe_mismatch(report))


def describe_mismatch(report: dict[str, Any]) -> str:
    """One line: what differs and where (the JSON above has every detail)."""
    values = report.get("values", {})
    if "error" in values:
        return f"{report['source']}: {values['error']}"
    keys = ", ".join(f"{k['key']} ({k['problem']})" for k in values.get("sample_keys", [])[:5])
    ranges = values.get("differing_range_count", 0)
    if not ranges:
        tenants = [t["tenant_id"] for t in report.get("tenants", []) if not t["match"]]
        return f"{report['source']}: rows or key checksums differ for tenant(s) {', '.join(tenants)}"
    return (
        f"{report['source']}: {ranges} of {values['ranges_compared']} key ranges differ, "
        f"{values['differing_key_count']} key(s) found"
        + (f", e.g. {keys}" if keys else "")
        + "; `sync verify --repair` copies them again"
    )
