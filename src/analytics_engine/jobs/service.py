"""Create, track, cancel and list jobs. Every kind of work is enqueued on and run by the runner
(jobs/runner.py), which claims, leases and recovers it; `start`, `progress`, `succeed` and `fail`
remain for rows that are closed by hand (cohort evaluations record their own outcome, sync fails the
job of a process that died)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from analytics_engine.errors import Conflict, NotFound
from analytics_engine.jobs.context import JobCancelled as JobCancelled  # re-exported (sync/service.py)
from analytics_engine.jobs.schemas import FINAL_STATES, JobPublic, JobState
from analytics_engine.metadata.db import MetadataDB
from analytics_engine.metadata.models import Job, utcnow


class JobService:
    def __init__(self, metadata: MetadataDB) -> None:
        self.metadata = metadata

    def create(
        self,
        kind: str,
        *,
        tenant_id: str | None = None,
        source: str | None = None,
        params: dict[str, Any] | None = None,
        rows_total: int | None = None,
        job_id: str | None = None,
        max_attempts: int = 3,
    ) -> JobPublic:
        """`job_id` lets a record that the job runs under (a report run) share its id."""
        with self.metadata.session() as session:
            job = Job(
                max_attempts=max_attempts,
                attempts=0,
                kind=kind,
                tenant_id=tenant_id,
                source=source,
                params=params or {},
                rows_total=rows_total,
                state=JobState.queued.value,
                rows_done=0,
                result={},
                cancel_requested=False,
                created_at=utcnow(),
            )
            if job_id is not None:
                job.id = job_id
            session.add(job)
            session.flush()
            return JobPublic.of(job)

    def get(self, job_id: str, *, tenant_id: str | None = None) -> JobPublic:
        """With `tenant_id`, another tenant's job is reported as missing, never shown."""
        with self.metadata.session() as session:
            return JobPublic.of(self._job(session, job_id, tenant_id))

    def list(
        self,
        *,
        tenant_id: str | None = None,
        kind: str | None = None,
        state: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[JobPublic]:
        query = select(Job).order_by(Job.created_at.desc()).limit(limit).offset(offset)
        if tenant_id is not None:
            query = query.where(Job.tenant_id == tenant_id)
        if kind is not None:
            query = query.where(Job.kind == kind)
        if state is not None:
            query = query.where(Job.state == state)
        with self.metadata.session() as session:
            return [JobPublic.of(job) for job in session.scalars(query)]

    def start(self, job_id: str) -> JobPublic:
        return self._update(job_id, state=JobState.running.value, started_at=utcnow(), heartbeat_at=utcnow())

    def progress(
        self, job_id: str, *, rows_done: int, rows_total: int | None = None, cursor: str | None = None
    ) -> None:
        """Record progress and a heartbeat; raises `JobCancelled` if a cancel was requested."""
        values: dict[str, Any] = {"rows_done": rows_done, "heartbeat_at": utcnow()}
        if rows_total is not None:
            values["rows_total"] = rows_total
        if cursor is not None:
            values["cursor"] = cursor
        job = self._update(job_id, **values)
        if job.cancel_requested:
            raise JobCancelled(job_id)

    def succeed(self, job_id: str, result: dict[str, Any] | None = None) -> JobPublic:
        return self._update(
            job_id, state=JobState.succeeded.value, finished_at=utcnow(), result=result or {}, error=None
        )

    def fail(self, job_id: str, error: str) -> JobPublic:
        return self._update(job_id, state=JobState.failed.value, finished_at=utcnow(), error=error)

    def mark_cancelled(self, job_id: str) -> JobPublic:
        return self._update(job_id, state=JobState.cancelled.value, finished_at=utcnow())

    def cancel(self, job_id: str, *, tenant_id: str | None = None) -> JobPublic:
        """A queued job is cancelled at once; a running one is asked to stop at its next progress."""
        with self.metadata.session() as session:
            job = self._job(session, job_id, tenant_id)
            if job.state in FINAL_STATES:
                raise Conflict(f"Job {job_id} has already finished ({job.state}).")
            job.cancel_requested = True
            if job.state == JobState.queued.value:
                job.state = JobState.cancelled.value
                job.finished_at = utcnow()
            session.flush()
            return JobPublic.of(job)

    @staticmethod
    def _job(session: Session, job_id: str, tenant_id: str | None) -> Job:
        job = session.get(Job, job_id)
        if job is None or (tenant_id is not None and job.tenant_id != tenant_id):
            raise NotFound(f"No job with id {job_id!r}.")
        return job

    def _update(self, job_id: str, **values: Any) -> JobPublic:
        with self.metadata.session() as session:
            job = self._job(session, job_id, None)
            for key, value in values.items():
                setattr(job, key, value)
            session.flush()
            return JobPublic.of(job)
