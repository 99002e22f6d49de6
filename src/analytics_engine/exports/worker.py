"""The `export` job handler. The job runner (jobs/runner.py) claims, heartbeats, retries and
recovers; this module writes the file and, once the job succeeded, publishes `export.completed`
(v1). A job abandoned by a dead process is run again from the start (a re-run writes the same rows:
raw events stop at the time of the request)."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import structlog

from analytics_engine.exports.runner import ExportScope, count_rows, extension, plan_for, write_export
from analytics_engine.exports.schemas import ExportCreate
from analytics_engine.exports.service import KIND, parse_time
from analytics_engine.exports.sources import file_name
from analytics_engine.exports.workspace import (
    SweepOutcome,
    attempt_workspace,
    export_temp_dir,
    report_temp_dir,
    sweep_orphans,
)
from analytics_engine.jobs.context import JobContext
from analytics_engine.jobs.schemas import JobPublic, JobState
from analytics_engine.scheduler.core import Every
from analytics_engine.tenants.service import TenantContext

if TYPE_CHECKING:
    from analytics_engine.runtime import Runtime

log = structlog.get_logger(__name__)
MAX_ATTEMPTS = 3
PROGRESS_EVERY_SECONDS = 0.5


def tenant_context(runtime: Runtime, tenant_id: str) -> TenantContext:
    tenant = runtime.tenants.get(tenant_id)
    return TenantContext(tenant.id, tenant.name, tenant.timezone, frozenset({"read"}), "export-worker")


def run_export(runtime: Runtime, ctx: JobContext) -> dict[str, Any]:
    """The `export` handler: count, write, store; progress at most every half second."""
    settings = runtime.settings
    params, tenant_id, job_id = ctx.params, ctx.tenant_id, ctx.job_id
    assert tenant_id is not None
    fmt = params["format"]
    ext = extension(fmt)
    started = time.perf_counter()
    last_report = 0.0

    def on_progress(rows_done: int, rows_total: int | None) -> None:
        nonlocal last_report
        ctx.check_cancelled()
        now = time.monotonic()
        if now - last_report >= PROGRESS_EVERY_SECONDS:
            last_report = now
            ctx.progress(rows_done, rows_total)

    # Every way out of this block (success, an error retried or final, a cancel, a stop) removes the
    # attempt's folder; a SIGKILL leaves it to the next attempt or to the orphan sweep.
    with attempt_workspace(export_temp_dir(settings), job_id, ctx.attempt, ext) as files:
        request = ExportCreate.model_validate({"source": params["source"], "format": fmt})
        tenant = tenant_context(runtime, tenant_id)
        scope = ExportScope(runtime.warehouse, tenant_id)
        plan = plan_for(runtime, tenant, request.source, default_end=parse_time(params.get("as_of")))
        total = count_rows(scope, plan)
        ctx.progress(0, total)
        outcome = write_export(
            scope, plan, fmt, files.output, on_progress=on_progress, rows_total=total, tmpdir=files.xlsx_tmp
        )
        ctx.progress(outcome.rows, outcome.rows)
        # The folder keeps keys unique; the name says what the file holds (the download's name).
        key = f"exports/{job_id}/{file_name(plan, ext)}"
        size = runtime.storage.put_file(tenant_id, key, files.output)
    elapsed = time.perf_counter() - started
    expires_at = datetime.now(UTC) + timedelta(hours=settings.export_retention_hours)
    log.info("exports.succeeded", export_id=job_id, rows=outcome.rows, bytes=size, seconds=round(elapsed, 2))
    return {
        "key": key,
        "file_name": key.rsplit("/", 1)[-1],
        "bytes": size,
        "rows": outcome.rows,
        "format": fmt,
        "source_type": request.source.type,
        "columns": outcome.columns,
        "sheets": outcome.sheets,
        "seconds": round(elapsed, 3),
        "expires_at": expires_at.isoformat(),
    }


def completed_event(runtime: Runtime, job: JobPublic) -> dict[str, Any]:
    """The `export.completed` (v1) payload of a finished export."""
    settings, result = runtime.settings, job.result
    storage = runtime.storage
    base = (settings.public_url or f"http://{settings.host}:{settings.port}") if storage.kind == "local" else ""
    assert job.tenant_id is not None
    url = storage.download_url(job.tenant_id, result["key"], settings.download_url_ttl_seconds, base_url=base)
    return {
        "export_id": job.id,
        "format": result["format"],
        "source_type": result.get("source_type"),
        "rows": result["rows"],
        "bytes": result["bytes"],
        "key": result["key"],
        "expires_at": result["expires_at"],
        "download_url": url,
    }


def register_exports(runtime: Runtime) -> None:
    """Exports run on the job runner: a failure that is not the request's fault is retried."""

    def handler(ctx: JobContext) -> dict[str, Any]:
        return run_export(runtime, ctx)

    async def after(job: JobPublic) -> None:
        if job.state == JobState.succeeded and job.tenant_id:
            await runtime.bus.publish("export.completed", completed_event(runtime, job), tenant_id=job.tenant_id)

    runtime.runner.register(KIND, handler, max_attempts=MAX_ATTEMPTS, backoff_seconds=2.0, after=after)


def sweep_export_orphans(runtime: Runtime) -> SweepOutcome:
    """Delete temporary export and report files no live attempt will use again
    (exports/workspace.py says what counts as an orphan: the job runner's lease decides, plus this
    process's running jobs)."""
    running = frozenset(runtime.runner.running)
    outcome = SweepOutcome()
    for root in (export_temp_dir(runtime.settings), report_temp_dir(runtime.settings)):
        swept = sweep_orphans(root, runtime.metadata, running_here=running)
        outcome.removed += swept.removed
        outcome.bytes += swept.bytes
        outcome.kept += swept.kept
    return outcome


async def start_export_workers(runtime: Runtime) -> None:
    """STARTUP_HOOK: the workers, a sweep of orphaned temporary files now (before the job runner,
    the last part, starts claiming) and every lease period, and the hourly clean-up of expired
    export files."""
    register_exports(runtime)
    service = runtime.exports
    await asyncio.to_thread(sweep_export_orphans, runtime)

    async def sweep() -> None:
        await asyncio.to_thread(sweep_export_orphans, runtime)

    async def cleanup() -> None:
        removed = await asyncio.to_thread(service.cleanup_expired)
        if removed:
            log.info("exports.expired_removed", files=removed)

    # Orphans appear when recovery gives up a dead process's job or a queued job is cancelled;
    # recovery runs every half lease, so sweeping once per lease keeps them short-lived.
    runtime.scheduler.add("exports:sweep", Every(seconds=max(1.0, runtime.runner.lease_seconds)), sweep)
    runtime.scheduler.add("exports:cleanup", Every(seconds=3600), cleanup)
