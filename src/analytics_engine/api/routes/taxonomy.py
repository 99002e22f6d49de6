"""The tenant's taxonomy under /v1/taxonomy (docs/taxonomy.md): event names and property keys with
types, volumes, first and last seen, editable annotations, and ingestion warnings."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query

from analytics_engine.api.deps import AdminTenant, ReadTenant, RuntimeDep
from analytics_engine.taxonomy.schemas import AnnotatedName, AnnotationUpdate, Taxonomy, TaxonomyWarning

router = APIRouter(prefix="/v1/taxonomy", tags=["taxonomy"])
_READ_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "No or an unknown API key."},
    403: {"description": "The key lacks the read scope."},
}
_EDIT_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "No or an unknown API key."},
    403: {"description": "The key lacks the admin scope."},
    404: {"description": "The tenant never sent this event name or property key (`not_found`)."},
    422: {"description": "Invalid body (`validation_error`): unknown field, a tag over 50 characters..."},
}


@router.get(
    "",
    response_model=Taxonomy,
    summary="Event names and property keys with types, volumes and warnings",
    responses=_READ_ERRORS,
)
def get_taxonomy(
    tenant: ReadTenant,
    runtime: RuntimeDep,
    include_hidden: bool = Query(False, description="Also list names flagged hidden (and their warnings)."),
) -> Taxonomy:
    """Every event name (volume and first/last UTC day from the rollups) and property key (its JSON
    types with events per type, volume, the events it comes with, first and last seen), busiest first,
    with their descriptions, tags, verified and hidden flags; and the ingestion warnings: properties
    whose type changed, event names that look like a typo of a busier one."""
    return runtime.taxonomy.get(tenant.tenant_id, include_hidden=include_hidden)


@router.get(
    "/warnings",
    response_model=list[TaxonomyWarning],
    summary="Ingestion warnings with counts",
    responses=_READ_ERRORS,
)
def get_warnings(tenant: ReadTenant, runtime: RuntimeDep) -> list[TaxonomyWarning]:
    """`type_changed` (a property that arrived with more than one JSON type; count: events with the
    less common types), `possible_typo` (a rare event name within a small edit distance of a busier,
    older one; count: its events) and `group_type_limit` (a `$groups.<type>` key of a type first seen
    when the tenant had 5 group types already: stored, ignored by group analytics; count: its events)."""
    return runtime.taxonomy.get(tenant.tenant_id, include_hidden=True).warnings


@router.patch(
    "/events/{name}",
    response_model=AnnotatedName,
    summary="Describe, tag, verify or hide an event name",
    responses=_EDIT_ERRORS,
)
def update_event(name: str, body: AnnotationUpdate, tenant: AdminTenant, runtime: RuntimeDep) -> AnnotatedName:
    """Sets the fields given (others unchanged) for an event name the tenant has sent."""
    return runtime.taxonomy.update(tenant.tenant_id, "event", name, body)


@router.patch(
    "/properties/{key:path}",
    response_model=AnnotatedName,
    summary="Describe, tag, verify or hide a property key",
    responses=_EDIT_ERRORS,
)
def update_property(key: str, body: AnnotationUpdate, tenant: AdminTenant, runtime: RuntimeDep) -> AnnotatedName:
    """Sets the fields given (others unchanged) for a property key (`utm.source` for nested keys) the
    tenant has sent."""
    return runtime.taxonomy.update(tenant.tenant_id, "property", key, body)
