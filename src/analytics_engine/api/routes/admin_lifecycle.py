"""Retention tiers for the platform admin under /v1/admin/lifecycle (docs/lifecycle.md)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query

from analytics_engine.api.deps import AdminDep, RuntimeDep
from analytics_engine.jobs.schemas import JobPublic

router = APIRouter(prefix="/v1/admin/lifecycle", tags=["admin: lifecycle"])
_AUTH = {401: {"description": "Not the platform admin key."}}


@router.post(
    "/run",
    response_model=JobPublic,
    status_code=202,
    summary="Move month partitions older than the hot window to the cold tier now (a job)",
    responses=_AUTH,  # type: ignore[arg-type]
)
def run_tiering(
    _: AdminDep,
    runtime: RuntimeDep,
    wait: bool = Query(False, description="Run it in this request and answer with the finished job."),
) -> JobPublic:
    """Queues the tiering job (or answers the one already queued or running): every month partition
    older than `ANALYTICS_HOT_RETENTION_MONTHS` goes to Parquet under each tenant's storage prefix,
    is checked (rows and checksum) and then dropped from the hot tier; cold files older than
    `ANALYTICS_COLD_RETENTION_YEARS` are deleted. No body."""
    return runtime.lifecycle.run(wait=wait)


@router.get(
    "",
    summary="The tiers: retention settings, the state of each tiered month, cold files and rows",
    responses=_AUTH,  # type: ignore[arg-type]
)
def lifecycle_status(_: AdminDep, runtime: RuntimeDep) -> dict[str, Any]:
    """Each month the tiering job has handled with its state (exporting, exported, dropped, done)."""
    return runtime.lifecycle.status()
