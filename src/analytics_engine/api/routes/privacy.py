"""Erasure (GDPR) of a tenant's person under /v1/privacy/erasures (docs/privacy.md). Scope `admin`."""

from __future__ import annotations

from fastapi import APIRouter, Query

from analytics_engine.api.deps import AdminTenant, RuntimeDep
from analytics_engine.privacy.schemas import ErasureAccepted, ErasureCreate, ErasureList, ErasurePublic

router = APIRouter(prefix="/v1/privacy", tags=["privacy"])
_AUTH = {
    401: {"description": "No key, or an unknown one."},
    403: {"description": "A key without the `admin` scope, or the platform admin key (it acts for no tenant)."},
}


@router.post(
    "/erasures",
    response_model=ErasureAccepted,
    status_code=202,
    summary="Erase a person everywhere their data lives (a job; the receipt comes with the result)",
    responses={**_AUTH, 422: {"description": "Neither or both of `distinct_id` and `properties`, or bad values."}},  # type: ignore[dict-item]
)
def request_erasure(
    body: ErasureCreate,
    tenant: AdminTenant,
    runtime: RuntimeDep,
    wait: bool = Query(False, description="Run the erasure in this request and answer when it has finished."),
) -> ErasureAccepted:
    """Queues the erasure of the person named by `distinct_id` (or of every person whose latest person
    properties equal `properties`) from events, persons and their properties, cohort members,
    rejected events, the duplicate-check ids, rollups and pre-aggregations (recomputed), synced
    tables, cold Parquet files, export and report files and cached answers. Events received up to the
    request are erased; later ones are kept. An id this tenant never saw gives a completed erasure
    with zero rows. Example body: `{"distinct_id": "user-42"}`."""
    return runtime.privacy.request(tenant.tenant_id, body, wait=wait)


@router.get(
    "/erasures",
    response_model=ErasureList,
    summary="This tenant's erasures, newest first",
    responses=_AUTH,  # type: ignore[arg-type]
)
def list_erasures(tenant: AdminTenant, runtime: RuntimeDep, limit: int = Query(100, ge=1, le=1_000)) -> ErasureList:
    """Every erasure request of the tenant with its status (and receipt once completed)."""
    return runtime.privacy.list(tenant.tenant_id, limit)


@router.get(
    "/erasures/{erasure_id}",
    response_model=ErasurePublic,
    summary="One erasure: its status and, once completed, the signed receipt",
    responses={**_AUTH, 404: {"description": "No such erasure for this tenant."}},  # type: ignore[dict-item]
)
def get_erasure(erasure_id: str, tenant: AdminTenant, runtime: RuntimeDep) -> ErasurePublic:
    """The receipt lists, per store, the rows found before and after and the verification query;
    `signature` is its HMAC-SHA256 (docs/privacy.md shows how to check it)."""
    return runtime.privacy.get(tenant.tenant_id, erasure_id)
