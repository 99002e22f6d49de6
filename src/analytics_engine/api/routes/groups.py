"""Groups under /v1/groups (docs/groups.md): the tenant's group types (at most 5, each with a stable
index) and the groups of a group type, like the persons list. Insights count groups instead of people
with `aggregation: {"group": "<type>"}` on their query, and filter or break down on group properties."""

from __future__ import annotations

from fastapi import APIRouter, Path, Query

from analytics_engine.api.deps import AdminTenant, ReadTenant, RuntimeDep
from analytics_engine.api.openapi import errors, examples
from analytics_engine.groups.service import GroupsPage
from analytics_engine.groups.types import GroupTypeCreate, GroupTypePublic, GroupTypeUpdate

router = APIRouter(prefix="/v1/groups", tags=["groups"])

_TYPE = {
    "group_type": "company",
    "group_type_index": 0,
    "name": "Companies",
    "description": "Employers of volunteers",
    "source": "declared",
    "created_at": "2026-12-07T09:30:00Z",
    "updated_at": "2026-12-07T09:30:00Z",
}


# The type routes come before `/{group_type}`: `types` is a reserved group type name.
@router.get("/types", response_model=list[GroupTypePublic], summary="The tenant's group types, by index")
def list_group_types(tenant: ReadTenant, runtime: RuntimeDep) -> list[GroupTypePublic]:
    """At most 5, by their stable index. Types events carried under `$groups` that are not registered
    yet are registered first, in the order they were first seen, while the tenant has fewer than 5
    (a later one stays undeclared: see the taxonomy's `group_type_limit` warnings)."""
    return runtime.groups.types.list(tenant.tenant_id)


@router.post(
    "/types",
    response_model=GroupTypePublic,
    status_code=201,
    summary="Declare a group type",
    responses=errors(409),
    openapi_extra=examples(
        request={"group_type": "company", "name": "Companies", "description": "Employers of volunteers"},
        answer=_TYPE,
        status=201,
    ),
)
def declare_group_type(body: GroupTypeCreate, tenant: AdminTenant, runtime: RuntimeDep) -> GroupTypePublic:
    """A new group type at the lowest free index (0-4). 409 when the type exists already
    (`group_type_exists`) or the tenant has 5 (`group_type_limit`); 422 for a malformed key or
    `types` (reserved)."""
    return runtime.groups.types.declare(tenant.tenant_id, body)


@router.patch(
    "/types/{group_type}",
    response_model=GroupTypePublic,
    summary="Rename or describe a group type",
    openapi_extra=examples(request={"name": "Employers", "description": "Companies we serve"}, answer=_TYPE),
)
def update_group_type(
    group_type: str, body: GroupTypeUpdate, tenant: AdminTenant, runtime: RuntimeDep
) -> GroupTypePublic:
    """Sets the display name and/or description; the key events carry and the index never change.
    404 for a type this tenant has not declared."""
    return runtime.groups.types.update(tenant.tenant_id, group_type, body)


@router.get("/{group_type}", response_model=GroupsPage, summary="The groups of a group type, latest seen first")
def list_groups(
    tenant: ReadTenant,
    runtime: RuntimeDep,
    group_type: str = Path(max_length=40, description="A key of the events' `$groups` property, e.g. `company`."),
    search: str | None = Query(None, max_length=200, description="Part of the group key."),
    limit: int = Query(100, ge=1, le=1000),
    offset: int = Query(0, ge=0, le=1_000_000),
) -> GroupsPage:
    """Each group key that events carried under `$groups.<group_type>`: its events, distinct people,
    first and last seen, and its properties (the `$group_set` of its latest `$groupidentify` event).
    422 for a malformed group type, or for a type the tenant has not declared when it has 5 already
    (`undeclared_group_type`: its keys are ignored by group analytics); an unknown one lists nothing."""
    return runtime.groups.list(tenant.tenant_id, group_type, search=search, limit=limit, offset=offset)
