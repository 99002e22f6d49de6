"""Materialized properties of a tenant under /v1/materialized-properties (docs/materialized-properties.md)."""

from __future__ import annotations

from fastapi import APIRouter, Query, Response

from analytics_engine.api.deps import AdminTenant, ReadTenant, RuntimeDep
from analytics_engine.api.openapi import examples
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
    """This tenant's materialized properties with their column, state and backfill job."""
    return runtime.materialized.list(tenant.tenant_id)


@router.post(
    "/v1/materialized-properties",
    response_model=MaterializedPropertyPublic,
    status_code=201,
    responses=_LIMIT,  # type: ignore[arg-type]
    summary="Materialize a property as a typed column of events (backfilled by a job)",
    openapi_extra=examples(request={"path": "plan", "type": "string"}),
)
def create_materialized(
    body: MaterializedPropertyCreate,
    tenant: AdminTenant,
    runtime: RuntimeDep,
    wait: bool = Query(False, description="Run the backfill in this request and answer when it is done."),
) -> MaterializedPropertyPublic:
    """Adds a typed column for a property path on events and backfills it in a job (`wait=true`:
    in this request); filters and breakdowns on the path then read the column. Caps are 422."""
    return runtime.materialized.create(tenant.tenant_id, body, wait=wait)


@router.get(
    "/v1/materialized-properties/suggestions",
    response_model=SuggestionList,
    summary="Properties this tenant's dashboards and saved metrics use, most used first",
)
def suggest_materialized(tenant: ReadTenant, runtime: RuntimeDep) -> SuggestionList:
    """Properties this tenant's dashboards and saved metrics filter or break down by, most used
    first, with whether each is materialized."""
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
    """Materializes the suggested properties used at least `min_uses` times, within the caps; answers
    what was created and what was skipped."""
    return runtime.materialized.apply_suggestions(tenant.tenant_id, min_uses=min_uses, source="manual")


@router.get(
    "/v1/materialized-properties/{property_id}",
    response_model=MaterializedPropertyPublic,
    summary="One materialized property",
)
def get_materialized(property_id: str, tenant: ReadTenant, runtime: RuntimeDep) -> MaterializedPropertyPublic:
    """One materialized property with its state."""
    return runtime.materialized.get(tenant.tenant_id, property_id)


@router.delete(
    "/v1/materialized-properties/{property_id}",
    status_code=204,
    summary="Stop materializing a property for this tenant (the column goes when no tenant uses it)",
)
def delete_materialized(property_id: str, tenant: AdminTenant, runtime: RuntimeDep) -> Response:
    """Stops materializing a property for this tenant; the column is dropped when no tenant uses it."""
    runtime.materialized.delete(tenant.tenant_id, property_id)
    return Response(status_code=204)
