"""Materialized properties of a tenant under /v1/materialized-properties (docs/materialized-properties.md)."""

from __future__ import annotations

from fastapi import APIRouter, Query, Response

from analytics_engine.api.deps import AdminTenant, ReadTenant, RuntimeDep
from analytics_engine.materialized.schemas import (
    ApplySuggestionsResult,
    MaterializedPropertyCreate,
    MaterializedPropertyList,
    MaterializedPropertyPublic,
    SuggestionList,
)

router = APIRouter(tags=["materialized properties"])
_LIMIT = {422: {"description": "Invalid path or type, or a cap reached (`materialized_limit`, with the limit)."}}


@router.get(
    "/v1/materialized-properties",
    response_model=MaterializedPropertyList,
    summary="This tenant's materialized properties and their backfill state",
)
def list_materialized(tenant: ReadTenant, runtime: RuntimeDep) -> MaterializedPropertyList:
    return runtime.materialized.list(tenant.tenant_id)


@router.post(
    "/v1/materialized-properties",
    response_model=MaterializedPropertyPublic,
    status_code=201,
    responses=_LIMIT,  # type: ignore[arg-type]
    summary="Materialize a property as a typed column of events (backfilled by a job)",
)
def create_materialized(
    body: MaterializedPropertyCreate,
    tenant: AdminTenant,
    runtime: RuntimeDep,
    wait: bool = Query(False, description="Run the backfill in this request and answer when it is done."),
) -> MaterializedPropertyPublic:
    return runtime.materialized.create(tenant.tenant_id, body, wait=wait)


@router.get(
    "/v1/materialized-properties/suggestions",
    response_model=SuggestionList,
    summary="Properties this tenant's dashboards and saved metrics use, most used first",
)
def suggest_materialized(tenant: ReadTenant, runtime: RuntimeDep) -> SuggestionList:
    return runtime.materialized.suggestions(tenant.tenant_id)


@router.post(
    "/v1/materialized-properties/suggestions/apply",
    response_model=ApplySuggestionsResult,
    summary="Materialize the suggestions used at least `min_uses` times, within the caps",
)
def apply_suggestions(
    tenant: AdminTenant,
    runtime: RuntimeDep,
    min_uses: int | None = Query(
        None, ge=1, le=1_000_000, description="Default: ANALYTICS_MATERIALIZED_AUTO_MIN_USES."
    ),
) -> ApplySuggestionsResult:
    return runtime.materialized.apply_suggestions(tenant.tenant_id, min_uses=min_uses, source="manual")


@router.get(
    "/v1/materialized-properties/{property_id}",
    response_model=MaterializedPropertyPublic,
    summary="One materialized property",
)
def get_materialized(property_id: str, tenant: ReadTenant, runtime: RuntimeDep) -> MaterializedPropertyPublic:
    return runtime.materialized.get(tenant.tenant_id, property_id)


@router.delete(
    "/v1/materialized-properties/{property_id}",
    status_code=204,
    summary="Stop materializing a property for this tenant (the column goes when no tenant uses it)",
)
def delete_materialized(property_id: str, tenant: AdminTenant, runtime: RuntimeDep) -> Response:
    runtime.materialized.delete(tenant.tenant_id, property_id)
    return Response(status_code=204)
