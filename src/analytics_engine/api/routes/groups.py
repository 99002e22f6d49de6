"""Groups under /v1/groups (docs/groups.md): the groups of a group type, like the persons list.
Insights count groups instead of people with `aggregation: {"group": "<type>"}` on their query."""

from __future__ import annotations

from fastapi import APIRouter, Path, Query

from analytics_engine.api.deps import ReadTenant, RuntimeDep
from analytics_engine.groups.service import GroupsPage

router = APIRouter(prefix="/v1/groups", tags=["groups"])


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
    422 for a malformed group type; an unknown one lists nothing."""
    return runtime.groups.list(tenant.tenant_id, group_type, search=search, limit=limit, offset=offset)
