from __future__ import annotations

from fastapi import APIRouter, Query

from analytics_engine.api.deps import AdminDep, ReadTenant, RuntimeDep
from analytics_engine.api.openapi import errors, examples
from analytics_engine.jobs.schemas import JobPublic, JobState
from analytics_engine.validation import MAX_OFFSET

router = APIRouter(tags=["jobs"])

_JOB = {
    "id": "job_66ad1e5edb464411949e",
    "tenant_id": "tn_0d6ff444513e4c4cb915",
    "kind": "export",
    "source": None,
    "state": "running",
    "params": {"format": "csv"},
    "rows_done": 400000,
    "rows_total": 1000000,
    "progress": 0.4,
    "cursor": None,
    "result": {},
    "error": None,
    "cancel_requested": False,
    "attempts": 1,
    "max_attempts": 3,
    "run_after": None,
    "created_at": "2026-12-07T09:30:00Z",
    "started_at": "2026-12-07T09:30:01Z",
    "finished_at": None,
}


@router.get(
    "/v1/jobs/{job_id}",
    response_model=JobPublic,
    summary="Status of one of this tenant's jobs",
    openapi_extra=examples(answer=_JOB),
)
def get_job(job_id: str, tenant: ReadTenant, runtime: RuntimeDep) -> JobPublic:
    """One job of this tenant in the one status shape: `state` (queued, running, succeeded, failed,
    cancelled), `rows_done`, `rows_total`, `progress`, `result`, `error`, attempts. Poll it until `state` is final."""
    return runtime.jobs.get(job_id, tenant_id=tenant.tenant_id)


@router.get(
    "/v1/jobs",
    response_model=list[JobPublic],
    summary="This tenant's jobs, newest first",
    openapi_extra=examples(answer=[_JOB]),
)
def list_jobs(
    tenant: ReadTenant,
    runtime: RuntimeDep,
    kind: str | None = None,
    state: JobState | None = None,
    limit: int = Query(50, ge=1, le=500),
    offset: int = Query(0, ge=0, le=MAX_OFFSET),
) -> list[JobPublic]:
    """This tenant's jobs, newest first, filtered by `kind` and `state`."""
    return runtime.jobs.list(
        tenant_id=tenant.tenant_id,
        kind=kind,
        state=state.value if state else None,
        limit=limit,
        offset=offset,
    )


@router.get("/v1/admin/jobs", response_model=list[JobPublic], summary="Every job, newest first")
def admin_list_jobs(
    runtime: RuntimeDep,
    _: AdminDep,
    kind: str | None = None,
    state: JobState | None = None,
    limit: int = Query(100, ge=1, le=1000),
    offset: int = Query(0, ge=0, le=MAX_OFFSET),
) -> list[JobPublic]:
    """Every job of every tenant (and platform jobs such as sync), newest first (platform admin key)."""
    return runtime.jobs.list(kind=kind, state=state.value if state else None, limit=limit, offset=offset)


@router.get("/v1/admin/jobs/{job_id}", response_model=JobPublic, summary="Any job's status")
def admin_get_job(job_id: str, runtime: RuntimeDep, _: AdminDep) -> JobPublic:
    """Any job by id (platform admin key)."""
    return runtime.jobs.get(job_id)


@router.post("/v1/admin/jobs/{job_id}/cancel", response_model=JobPublic, summary="Cancel a job", responses=errors(409))
def admin_cancel_job(job_id: str, runtime: RuntimeDep, _: AdminDep) -> JobPublic:
    """Asks a queued or running job to stop; it ends `cancelled` at its next checkpoint. A job already
    finished is a 409."""
    return runtime.jobs.cancel(job_id)
