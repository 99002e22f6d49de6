"""Erasure requests: accepted as a row and a job of the one runner (`privacy.erasure`), read back with
their status and, once completed, the signed receipt; `privacy.erasure.completed` (v1) on the bus."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any

import anyio.from_thread
import structlog
from sqlalchemy import select

from analytics_engine.errors import NotFound
from analytics_engine.jobs.context import JobContext
from analytics_engine.jobs.schemas import JobPublic, JobState
from analytics_engine.privacy import suppression
from analytics_engine.privacy.eraser import Eraser
from analytics_engine.privacy.models import ErasureRequest
from analytics_engine.privacy.schemas import ErasureAccepted, ErasureCreate, ErasureList, ErasurePublic, Receipt

if TYPE_CHECKING:
    from analytics_engine.core import Core

log = structlog.get_logger(__name__)
JOB_KIND = "privacy.erasure"
# A kill mid-erasure costs an attempt (the lease expires): several, since the job is safe to repeat.
MAX_ATTEMPTS = 10
COMPLETED_EVENT = "privacy.erasure.completed"


class PrivacyService:
    def __init__(self, core: Core) -> None:
        self.core = core

    def suppressed(self, tenant_id: str) -> frozenset[str]:
        """SHA-256 of the tenant's ids erased with suppression (privacy/suppression.py)."""
        return suppression.suppressed(self.core.metadata, tenant_id)

    def register_jobs(self) -> None:
        if JOB_KIND in self.core.runner.handlers:
            return

        def handler(ctx: JobContext) -> dict[str, Any]:
            return Eraser(self.core, str(ctx.params["erasure_id"]), ctx).run()

        async def after(job: JobPublic) -> None:
            if job.state == JobState.succeeded and job.tenant_id:
                erasure = self.get(job.tenant_id, str(job.result.get("erasure_id")))
                await self.core.bus.publish(COMPLETED_EVENT, completed_event(erasure), tenant_id=job.tenant_id)

        self.core.runner.register(JOB_KIND, handler, max_attempts=MAX_ATTEMPTS, backoff_seconds=1.0, after=after)

    def request(self, tenant_id: str, body: ErasureCreate, *, wait: bool = False) -> ErasureAccepted:
        self.register_jobs()
        with self.core.metadata.session() as session:
            row = ErasureRequest(tenant_id=tenant_id, selector=body.selector(), suppress=body.suppress, progress={})
            session.add(row)
            session.flush()
            erasure_id = row.id
        job = self.core.runner.enqueue(
            JOB_KIND, tenant_id=tenant_id, params={"erasure_id": erasure_id}, source=erasure_id
        )
        with self.core.metadata.session() as session:
            stored = session.get(ErasureRequest, erasure_id)
            assert stored is not None
            stored.job_id = job.id
        if wait:
            done = self.core.runner.run_now(job.id, wait=True)
            if done.state == JobState.succeeded:
                self._publish_from_thread(tenant_id, erasure_id)
        return ErasureAccepted(id=erasure_id, job_id=job.id, status=self.get(tenant_id, erasure_id).status)

    def _publish_from_thread(self, tenant_id: str, erasure_id: str) -> None:
        """A request with `wait` ran the job itself (the runner's `after` hook does not run): publish
        from this worker thread through the app's event loop; outside one (the CLI) nothing is sent."""
        data = completed_event(self.get(tenant_id, erasure_id))
        try:
            anyio.from_thread.run(partial(self.core.bus.publish, COMPLETED_EVENT, data, tenant_id=tenant_id))
        except RuntimeError:
            log.info("privacy.erasure_not_published", erasure_id=erasure_id, reason="no event loop (CLI)")

    def get(self, tenant_id: str, erasure_id: str) -> ErasurePublic:
        with self.core.metadata.session() as session:
            row = session.get(ErasureRequest, erasure_id)
            if row is None or row.tenant_id != tenant_id:
                raise NotFound("No such erasure.")
            return self._public(row)

    def list(self, tenant_id: str, limit: int = 100) -> ErasureList:
        with self.core.metadata.session() as session:
            rows = session.scalars(
                select(ErasureRequest)
                .where(ErasureRequest.tenant_id == tenant_id)
                .order_by(ErasureRequest.requested_at.desc())
                .limit(limit)
            ).all()
            return ErasureList(erasures=[self._public(row) for row in rows])

    def _public(self, row: ErasureRequest) -> ErasurePublic:
        status, error = row.status, row.error
        if status != "completed" and row.job_id:
            # Until the receipt is written the job says where the erasure is (queued again after a
            # kill, running, failed for good).
            job = self.core.jobs.get(row.job_id)
            status = status if job.state == JobState.succeeded else job.state.value
            error = row.error or job.error
        return ErasurePublic(
            id=row.id,
            job_id=row.job_id,
            status=status,  # type: ignore[arg-type]
            selector=dict(row.selector),
            suppress=row.suppress,
            requested_at=row.requested_at,
            completed_at=row.completed_at,
            error=error,
            receipt=Receipt.model_validate(row.receipt) if row.receipt else None,
            signature=row.signature,
        )


def completed_event(erasure: ErasurePublic) -> dict[str, Any]:
    """The `privacy.erasure.completed` (v1) payload: the receipt and its signature."""
    return {
        "erasure_id": erasure.id,
        "job_id": erasure.job_id,
        "completed_at": erasure.completed_at.isoformat() if erasure.completed_at else None,
        "receipt": erasure.receipt.model_dump(mode="json") if erasure.receipt else None,
        "signature": erasure.signature,
    }
