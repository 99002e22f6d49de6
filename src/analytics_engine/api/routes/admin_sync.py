"""Admin routes of sync sources (platform admin key). Runs are jobs: their progress is at
`/v1/admin/jobs/{id}` and they are cancelled at `/v1/admin/jobs/{id}/cancel`."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Query, Response

from analytics_engine.api.deps import AdminDep, RuntimeDep
from analytics_engine.api.openapi import errors, examples
from analytics_engine.jobs.schemas import JobPublic
from analytics_engine.sync.spec import parse_spec

router = APIRouter(prefix="/v1/admin/sync", tags=["admin: sync"])

EXAMPLE = {
    "name": "donations",
    "dsn": "postgresql://postgres@127.0.0.1:5432/test",
    "table": "public.donations",
    "tenant_column": "org_id",
    "primary_key": ["id"],
    "cursor": "updated_at",
    "soft_delete_column": "deleted_at",
    "target": {"kind": "table", "table": "donations"},
}


@router.get("/sources", summary="Sync sources with their checkpoints and last jobs")
def list_sources(runtime: RuntimeDep, _: AdminDep) -> list[dict[str, Any]]:
    """Every PostgreSQL sync source (from the file and the API) with its checkpoint and last job; DSN
    passwords shown as `***` (platform admin key)."""
    return runtime.sync.list_sources()


@router.post(
    "/sources",
    status_code=201,
    summary="Declare a sync source (scheduled at once inside serve)",
    openapi_extra=examples(
        request={
            "name": "donations",
            "dsn": "postgresql://postgres@127.0.0.1:5432/test",
            "table": "public.donations",
            "tenant_column": "org_id",
            "cursor": "updated_at",
            "target": {"kind": "table", "table": "donations"},
        }
    ),
    responses=errors(409),
)
def create_source(
    runtime: RuntimeDep, _: AdminDep, body: dict[str, Any] = Body(..., examples=[EXAMPLE])
) -> dict[str, Any]:
    """Declares a source: a PostgreSQL table or query copied into the warehouse by tenant column,
    incrementally by cursor. Scheduled at once inside `serve`. A taken name or table is a 409."""
    return runtime.sync.create_source(parse_spec(body))


@router.get("/sources/{name}", summary="One sync source")
def get_source(name: str, runtime: RuntimeDep, _: AdminDep) -> dict[str, Any]:
    """One source with its checkpoint and last job."""
    return runtime.sync.get_source(name)


@router.delete("/sources/{name}", status_code=204, summary="Forget a source (its warehouse table stays)")
def delete_source(name: str, runtime: RuntimeDep, _: AdminDep) -> Response:
    """Forgets a source and its schedule; its warehouse table and rows stay."""
    runtime.sync.delete_source(name)
    return Response(status_code=204)


@router.post("/sources/{name}/check", summary="Connect and derive the warehouse schema; writes nothing")
def check_source(name: str, runtime: RuntimeDep, _: AdminDep) -> dict[str, Any]:
    """Connects to the source and derives the warehouse schema it would create; writes nothing."""
    return runtime.sync.check_source(name)


@router.post(
    "/sources/{name}/backfill",
    status_code=202,
    response_model=JobPublic,
    summary="Start a backfill (a job)",
    responses=errors(409),
)
def backfill(
    name: str,
    runtime: RuntimeDep,
    _: AdminDep,
    restart: bool = Query(False, description="Empty the target and copy everything again."),
) -> JobPublic:
    """Starts a backfill job (202): copies every row in key order, resumable; `restart=true` starts
    over. A run already going is a 409."""
    return runtime.sync.run_in_background(name, "backfill", restart=restart)


@router.post(
    "/sources/{name}/run",
    status_code=202,
    response_model=JobPublic,
    summary="Start an incremental sync",
    responses=errors(409),
)
def run(name: str, runtime: RuntimeDep, _: AdminDep) -> JobPublic:
    """Starts an incremental sync job (202): rows whose cursor moved since the checkpoint. A run already
    going is a 409."""
    return runtime.sync.run_in_background(name, "sync")


@router.post(
    "/sources/{name}/reconcile",
    status_code=202,
    response_model=JobPublic,
    summary="Hard deletes: mark rows whose key PostgreSQL no longer has as deleted (a job)",
    responses=errors(409),
)
def reconcile(name: str, runtime: RuntimeDep, _: AdminDep) -> JobPublic:
    """Starts a job that marks rows PostgreSQL no longer has as deleted (hard deletes)."""
    return runtime.sync.run_in_background(name, "reconcile")


@router.get(
    "/sources/{name}/verify",
    summary="Values per key range (events: each row's event exactly once), rows per tenant: PostgreSQL vs warehouse",
)
def verify(name: str, runtime: RuntimeDep, _: AdminDep) -> dict[str, Any]:
    """Compares PostgreSQL and the warehouse per key range and rows per tenant; lists the ranges that
    differ. Reads only."""
    return runtime.sync.verify(name)


@router.post(
    "/sources/{name}/verify/repair",
    summary="Copy the key ranges verify finds different again, then verify again (409 while a run goes)",
    responses=errors(409),
)
def repair(name: str, runtime: RuntimeDep, _: AdminDep) -> dict[str, Any]:
    """Copies again the key ranges `verify` finds different, then verifies again (409 while a run
    goes)."""
    return runtime.sync.verify(name, repair=True)
