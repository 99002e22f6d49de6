from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:
    from analytics_engine.metadata.models import Job


class JobState(StrEnum):
    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"
    cancelled = "cancelled"


FINAL_STATES = frozenset({JobState.succeeded, JobState.failed, JobState.cancelled})


class JobPublic(BaseModel):
    """The one status shape of async work, served at `/v1/jobs/{id}` and `/v1/admin/jobs/{id}`."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    tenant_id: str | None
    kind: str
    source: str | None
    state: JobState
    params: dict[str, Any]
    rows_done: int
    rows_total: int | None
    progress: float | None = None
    cursor: str | None
    result: dict[str, Any]
    error: str | None
    cancel_requested: bool
    attempts: int = 0
    max_attempts: int = 3
    run_after: datetime | None = None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    @classmethod
    def of(cls, job: Job) -> JobPublic:
        public = cls.model_validate(job)
        if public.state == JobState.succeeded:
            public.progress = 1.0  # a handler need not report its last step to read as done
        elif job.rows_total:
            public.progress = round(min(1.0, job.rows_done / job.rows_total), 4)
        return public
