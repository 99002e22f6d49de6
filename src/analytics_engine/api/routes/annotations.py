"""Annotations under /v1/annotations (docs/annotations.md): notes on a date or range, tenant-wide or on
one dashboard; trend answers carry the tenant-wide ones in their range, dashboard renders add theirs."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Query, Response

from analytics_engine.annotations.schemas import AnnotationCreate, AnnotationPublic, AnnotationUpdate, When
from analytics_engine.annotations.service import MAX_LIST, to_utc
from analytics_engine.api.deps import AdminTenant, ReadTenant, RuntimeDep
from analytics_engine.api.openapi import errors, examples

router = APIRouter(prefix="/v1/annotations", tags=["annotations"])

_ANSWER = {
    "id": "ann_5f2c0d9e8a7b6c5d4e3f",
    "content": "Spring volunteering campaign",
    "date_from": "2026-02-28T23:00:00Z",
    "date_to": "2026-03-14T23:00:00Z",
    "dashboard_id": None,
    "scope": "tenant",
    "created_at": "2026-12-07T09:30:00Z",
    "updated_at": "2026-12-07T09:30:00Z",
}


@router.post(
    "",
    response_model=AnnotationPublic,
    status_code=201,
    summary="Add an annotation (tenant-wide or on one dashboard)",
    responses=errors(404),
    openapi_extra=examples(
        request={"content": "Spring volunteering campaign", "date_from": "2026-03-01", "date_to": "2026-03-14"},
        answer=_ANSWER,
        status=201,
    ),
)
def create_annotation(body: AnnotationCreate, tenant: AdminTenant, runtime: RuntimeDep) -> AnnotationPublic:
    """A note on a moment or a range. Bare dates are read in the tenant's time zone (`date_to` as the end
    of that day). With `dashboard_id` it shows only on that dashboard's charts (404 for a dashboard this
    tenant does not own); without, on every time chart. 422 when `date_to` is before `date_from`."""
    return runtime.annotations.create(tenant.tenant_id, tenant.timezone, body)


@router.get("", response_model=list[AnnotationPublic], summary="List annotations, oldest first", responses=errors(404))
def list_annotations(
    tenant: ReadTenant,
    runtime: RuntimeDep,
    dashboard_id: str | None = Query(None, max_length=40, description="Tenant-wide ones and this dashboard's."),
    scope: Literal["tenant", "dashboard"] | None = Query(None, description="Only tenant-wide or only per-dashboard."),
    date_from: When | None = Query(None, description="Only those overlapping from this moment on."),
    date_to: When | None = Query(None, description="Only those starting before this moment."),
    limit: int = Query(100, ge=1, le=MAX_LIST),
    offset: int = Query(0, ge=0, le=1_000_000),
) -> list[AnnotationPublic]:
    """The tenant's annotations; with `dashboard_id`, those a chart of that dashboard shows (404 for a
    dashboard this tenant does not own). A bare date is read in the tenant's time zone."""
    return runtime.annotations.find(
        tenant.tenant_id,
        dashboard_id=dashboard_id,
        scope=scope,
        start=to_utc(date_from, tenant.timezone) if date_from is not None else None,
        end=to_utc(date_to, tenant.timezone, end=True) if date_to is not None else None,
        limit=limit,
        offset=offset,
    )


@router.get("/{annotation_id}", response_model=AnnotationPublic, summary="One annotation")
def get_annotation(annotation_id: str, tenant: ReadTenant, runtime: RuntimeDep) -> AnnotationPublic:
    """One annotation of this tenant (404 for another tenant's id)."""
    return runtime.annotations.get(tenant.tenant_id, annotation_id)


@router.patch(
    "/{annotation_id}",
    response_model=AnnotationPublic,
    summary="Change an annotation's text or dates",
    openapi_extra=examples(request={"content": "Spring campaign (extended)", "date_to": "2026-03-21"}, answer=_ANSWER),
)
def update_annotation(
    annotation_id: str, body: AnnotationUpdate, tenant: AdminTenant, runtime: RuntimeDep
) -> AnnotationPublic:
    """Sets the fields given; `date_to: null` makes a range one moment. 422 when the range would end
    before it starts."""
    return runtime.annotations.update(tenant.tenant_id, tenant.timezone, annotation_id, body)


@router.delete("/{annotation_id}", status_code=204, summary="Delete an annotation")
def delete_annotation(annotation_id: str, tenant: AdminTenant, runtime: RuntimeDep) -> Response:
    """Removes it from every chart."""
    runtime.annotations.delete(tenant.tenant_id, annotation_id)
    return Response(status_code=204)
