"""Export workers inside `serve`: N loops claim queued export jobs (an atomic queued -> running
update, so two processes never run the same job), run them in a thread, keep a heartbeat, and
publish `export.completed` (v1). A job left running by a dead worker (no heartbeat for
`export_stale_after_seconds`) is queued again at start-up and by a periodic check, and run again
from the start (a re-run writes the same rows: raw events stop at the time of the request)."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import structlog
from sqlalchemy import select, update

from analytics_engine.errors import AppError
from analytics_engine.exports.runner import ExportScope, count_rows, extension, plan_for, write_export
from analytics_engine.exports.schemas import ExportCreate
from analytics_engine.exports.service import KIND, get_export_service, parse_time
from analytics_engine.jobs.schemas import JobState
from analytics_engine.jobs.service import JobCancelled
from analytics_engine.metadata.models import Job, utcnow
from analytics_engine.scheduler.core import Every
from analytics_engine.storage import get_storage
from analytics_engine.tenants.service import TenantContext

log = structlog.get_logger(__name__)
MAX_ATTEMPTS = 3
PROGRESS_EVERY_SECONDS = 0.5


class ShuttingDown(Exception):
    """Raised inside a running export when the service stops: the job goes back to the queue."""


def tenant_context(runtime: Any, tenant_id: str) -> TenantContext:
    tenant = runtime.tenants.get(tenant_id)
    return TenantContext(tenant.id, tenant.name, tenant.timezone, frozenset({"read"}), "export-worker")


def export_temp_dir(settings: Any) -> Path:
    return settings.data_dir / "tmp" / "exports"


class _Heartbeat:
    """Touches the job's heartbeat on a timer while a long step (a count, a sorted query's first
    block) gives no progress."""

    def __init__(self, metadata: Any, job_id: str, interval: float) -> None:
        self.metadata, self.job_id, self.interval = metadata, job_id, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"heartbeat-{job_id}", daemon=True)

    def __enter__(self) -> _Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            with contextlib.suppress(Exception), self.metadata.session() as session:
                session.execute(
                    update(Job)
                    .where(Job.id == self.job_id, Job.state == JobState.running.value)
                    .values(heartbeat_at=utcnow())
                )


class ExportWorkers:
    def __init__(self, runtime: Any, concurrency: int) -> None:
        self.runtime = runtime
        self.concurrency = concurrency
        self.settings = runtime.settings
        self._wake = asyncio.Event()
        self._stopping = threading.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._watcher: asyncio.Task[None] | None = None
        self.running: set[str] = set()
        self.paused = False  # while True, no new job is claimed (maintenance, tests)

    # --- lifecycle -------------------------------------------------------------------------------
    async def start(self) -> None:
        recovered = await asyncio.to_thread(self.recover)
        if recovered:
            log.info("exports.recovered", jobs=recovered)
        for number in range(self.concurrency):
            self._tasks.append(asyncio.create_task(self._loop(), name=f"export-worker-{number}"))
        self._watcher = asyncio.create_task(self._watch_stale(), name="export-stale-check")

    async def stop(self, timeout: float = 30.0) -> None:
        self._stopping.set()
        self._wake.set()
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
        if self._tasks:
            _, pending = await asyncio.wait(self._tasks, timeout=timeout)
            for task in pending:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()

    def wake(self) -> None:
        with contextlib.suppress(RuntimeError):
            self._wake.set()

    def recover(self) -> int:
        return self.runtime.jobs.recover_stale(
            kinds=[KIND], stale_after=timedelta(seconds=self.settings.export_stale_after_seconds), requeue=True
        )

    async def _watch_stale(self) -> None:
        interval = max(1.0, self.settings.export_stale_after_seconds / 2)
        while not self._stopping.is_set():
            await asyncio.sleep(interval)
            try:
                if await asyncio.to_thread(self.recover):
                    self._wake.set()
            except Exception as exc:  # the metadata DB may blink; try again next time
                log.warning("exports.recover_failed", error=str(exc))

    async def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                job_id = None if self.paused else await asyncio.to_thread(self.claim)
            except Exception as exc:
                log.warning("exports.claim_failed", error=str(exc))
                job_id = None
            if job_id is None:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=1.0)
                continue
            self.running.add(job_id)
            try:
                event = await asyncio.to_thread(self.run_job, job_id)
            finally:
                self.running.discard(job_id)
            if event is not None:
                tenant_id, data = event
                await self.runtime.bus.publish("export.completed", data, tenant_id=tenant_id)

    # --- claiming ----------------------------------------------------------------------------------
    def claim(self) -> str | None:
        """Take the oldest queued export: the conditional update succeeds in one process only."""
        with self.runtime.metadata.session() as session:
            candidates = session.scalars(
                select(Job.id)
                .where(Job.kind == KIND, Job.state == JobState.queued.value)
                .order_by(Job.created_at)
                .limit(5)
            ).all()
        for job_id in candidates:
            now = utcnow()
            with self.runtime.metadata.session() as session:
                claimed = session.execute(
                    update(Job)
                    .where(Job.id == job_id, Job.state == JobState.queued.value)
                    .values(state=JobState.running.value, started_at=now, heartbeat_at=now, finished_at=None)
                ).rowcount
                if claimed == 1:
                    # Counted in the claim's own transaction: a worker killed right after the claim
                    # still leaves the attempt on record.
                    job = session.get(Job, job_id)
                    params = dict(job.params or {})
                    params["attempts"] = int(params.get("attempts", 0)) + 1
                    job.params = params
            if claimed == 1:
                return job_id
        return None

    # --- one job -----------------------------------------------------------------------------------
    def run_job(self, job_id: str) -> tuple[str, dict[str, Any]] | None:
        """Run one claimed job to its end; returns the `export.completed` payload on success."""
        runtime = self.runtime
        with runtime.metadata.session() as session:
            job = session.get(Job, job_id)
            params = dict(job.params or {})
            tenant_id = job.tenant_id
        if params["attempts"] > MAX_ATTEMPTS:
            runtime.jobs.fail(job_id, f"Gave up after {MAX_ATTEMPTS} attempts (the worker stopped each time).")
            return None
        fmt = params["format"]
        ext = extension(fmt)
        temp = export_temp_dir(self.settings) / f"{job_id}.{ext}"
        xlsx_tmp = export_temp_dir(self.settings) / f"{job_id}.xlsx-tmp"
        started = time.perf_counter()
        last_report = 0.0

        def on_progress(rows_done: int, rows_total: int | None) -> None:
            nonlocal last_report
            if self._stopping.is_set():
                raise ShuttingDown(job_id)
            now = time.monotonic()
            if now - last_report >= PROGRESS_EVERY_SECONDS:
                last_report = now
                runtime.jobs.progress(job_id, rows_done=rows_done, rows_total=rows_total)

        try:
            with _Heartbeat(runtime.metadata, job_id, max(0.5, self.settings.export_stale_after_seconds / 4)):
                request = ExportCreate.model_validate({"source": params["source"], "format": fmt})
                tenant = tenant_context(runtime, tenant_id)
                scope = ExportScope(runtime.warehouse, tenant_id)
                plan = plan_for(runtime, tenant, request.source, default_end=parse_time(params.get("as_of")))
                total = count_rows(scope, plan)
                runtime.jobs.progress(job_id, rows_done=0, rows_total=total)
                xlsx_tmp.mkdir(parents=True, exist_ok=True)
                outcome = write_export(
                    scope, plan, fmt, temp, on_progress=on_progress, rows_total=total, tmpdir=xlsx_tmp
                )
                runtime.jobs.progress(job_id, rows_done=outcome.rows, rows_total=outcome.rows)
                key = f"exports/{job_id}.{ext}"
                size = get_storage(runtime).put_file(tenant_id, key, temp)
        except JobCancelled:
            runtime.jobs.mark_cancelled(job_id)
            log.info("exports.cancelled", export_id=job_id)
            return None
        except ShuttingDown:
            with runtime.metadata.session() as session:
                session.execute(update(Job).where(Job.id == job_id).values(state=JobState.queued.value))
            log.info("exports.requeued_at_shutdown", export_id=job_id)
            return None
        except AppError as exc:
            runtime.jobs.fail(job_id, exc.message)
            return None
        except Exception as exc:
            log.exception("exports.failed", export_id=job_id)
            runtime.jobs.fail(job_id, f"The export failed: {str(exc)[:500]}")
            return None
        finally:
            temp.unlink(missing_ok=True)
            shutil.rmtree(xlsx_tmp, ignore_errors=True)
        elapsed = time.perf_counter() - started
        expires_at = datetime.now(UTC) + timedelta(hours=self.settings.export_retention_hours)
        result = {
            "key": key,
            "bytes": size,
            "rows": outcome.rows,
            "format": fmt,
            "columns": outcome.columns,
            "sheets": outcome.sheets,
            "seconds": round(elapsed, 3),
            "expires_at": expires_at.isoformat(),
        }
        runtime.jobs.succeed(job_id, result)
        log.info("exports.succeeded", export_id=job_id, rows=outcome.rows, bytes=size, seconds=round(elapsed, 2))
        storage = get_storage(runtime)
        base = (
            (self.settings.public_url or f"http://{self.settings.host}:{self.settings.port}")
            if storage.kind == "local"
            else ""
        )
        url = storage.download_url(tenant_id, key, self.settings.download_url_ttl_seconds, base_url=base)
        return tenant_id, {
            "export_id": job_id,
            "format": fmt,
            "source_type": request.source.type,
            "rows": outcome.rows,
            "bytes": size,
            "key": key,
            "expires_at": expires_at.isoformat(),
            "download_url": url,
        }


async def start_export_workers(runtime: Any) -> None:
    """STARTUP_HOOK: the workers, and the hourly clean-up of expired export files."""
    workers = ExportWorkers(runtime, runtime.settings.export_workers)
    runtime.extras["export_workers"] = workers
    await workers.start()
    service = get_export_service(runtime)

    async def cleanup() -> None:
        removed = await asyncio.to_thread(service.cleanup_expired)
        if removed:
            log.info("exports.expired_removed", files=removed)

    runtime.scheduler.add("exports:cleanup", Every(seconds=3600), cleanup)


async def stop_export_workers(runtime: Any) -> None:
    workers = runtime.extras.pop("export_workers", None)
    if workers is not None:
        await workers.stop()
