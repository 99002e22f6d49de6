"""Exports as a service: queue one (a job row of kind `export`), report its status with a fresh
signed download link, cancel or remove it, and delete files past their retention."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import structlog
from sqlalchemy import select

from analytics_engine.errors import NotFound
from analytics_engine.exports.integrations import validate_source
from analytics_engine.exports.schemas import ExportAccepted, ExportCreate, ExportFormat, ExportStatus
from analytics_engine.jobs.schemas import FINAL_STATES, JobPublic, JobState
from analytics_engine.metadata.models import Job, utcnow

if TYPE_CHECKING:
    from analytics_engine.runtime import Runtime

log = structlog.get_logger(__name__)
KIND = "export"


def _aware(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def parse_time(value: Any) -> datetime | None:
    return _aware(datetime.fromisoformat(value)) if isinstance(value, str) and value else None


class ExportService:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    @property
    def storage(self):  # type: ignore[no-untyped-def]
        return self.runtime.storage

    def create(self, tenant: Any, body: ExportCreate) -> ExportAccepted:
        validate_source(self.runtime, tenant, body.source)
        job = self.runtime.runner.enqueue(
            KIND,
            tenant_id=tenant.tenant_id,
            source=body.source.type,
            params={
                "format": body.format.value,
                "source": body.source.model_dump(mode="json"),
                # raw events without an end stop at the moment of the request, so a re-run after a
                # restart writes the same rows
                "as_of": utcnow().isoformat(),
            },
        )
        return ExportAccepted(id=job.id, status=job.state.value, status_url=f"/v1/exports/{job.id}")

    def _job(self, tenant_id: str, export_id: str) -> JobPublic:
        job: JobPublic = self.runtime.jobs.get(export_id, tenant_id=tenant_id)
        if job.kind != KIND:
            raise NotFound(f"No export with id {export_id!r}.")
        return job

    def status(self, tenant_id: str, export_id: str, *, base_url: str = "") -> ExportStatus:
        return self._status(self._job(tenant_id, export_id), base_url=base_url)

    def list(self, tenant_id: str, *, limit: int = 50, offset: int = 0, base_url: str = "") -> list[ExportStatus]:
        jobs = self.runtime.jobs.list(tenant_id=tenant_id, kind=KIND, limit=limit, offset=offset)
        return [self._status(job, base_url=base_url) for job in jobs]

    def _status(self, job: JobPublic, *, base_url: str) -> ExportStatus:
        result = job.result or {}
        expires_at = parse_time(result.get("expires_at"))
        now = datetime.now(UTC)
        status = job.state.value
        if job.state == JobState.succeeded and (result.get("expired") or (expires_at and expires_at <= now)):
            status = "expired"
        url = url_expires = None
        if status == "succeeded" and result.get("key"):
            ttl = self.runtime.settings.download_url_ttl_seconds
            if expires_at:
                ttl = max(1, min(ttl, int((expires_at - now).total_seconds())))
            url = self.storage.download_url(job.tenant_id, result["key"], ttl, base_url=base_url)
            url_expires = now + timedelta(seconds=ttl)
        return ExportStatus(
            id=job.id,
            status=status,
            format=ExportFormat(job.params.get("format", "csv")),
            source_type=job.source or "events",
            rows_written=job.rows_done,
            rows_total=job.rows_total,
            bytes=result.get("bytes"),
            progress=job.progress,
            error=job.error,
            created_at=job.created_at,
            started_at=job.started_at,
            finished_at=job.finished_at,
            expires_at=expires_at,
            download_url=url,
            download_url_expires_at=url_expires,
        )

    def delete(self, tenant_id: str, export_id: str) -> str:
        """Queued or running: cancelled (a running worker stops at its next block). Finished: its
        file and its record are removed. Returns what happened: `cancelled` or `removed`."""
        job = self._job(tenant_id, export_id)
        if job.state not in FINAL_STATES:
            self.runtime.jobs.cancel(export_id, tenant_id=tenant_id)
            return "cancelled"
        key = (job.result or {}).get("key")
        if key:
            self.storage.delete(tenant_id, key)
        with self.runtime.metadata.session() as session:
            row = session.get(Job, export_id)
            if row is not None:
                session.delete(row)
        return "removed"

    def cleanup_expired(self) -> int:
        """Delete the files of exports past their retention; they then report `expired`."""
        now = datetime.now(UTC)
        expired = 0
        with self.runtime.metadata.session() as session:
            query = select(Job).where(Job.kind == KIND, Job.state == JobState.succeeded.value)
            for job in session.scalars(query):
                result = dict(job.result or {})
                expires_at = parse_time(result.get("expires_at"))
                if result.get("expired") or not expires_at or expires_at > now:
                    continue
                try:
                    if result.get("key"):
                        self.storage.delete(job.tenant_id, result["key"])
                except Exception as exc:
                    log.warning("exports.cleanup_failed", export_id=job.id, error=str(exc))
                    continue
                result["expired"] = True
                job.result = result
                expired += 1
        return expired
