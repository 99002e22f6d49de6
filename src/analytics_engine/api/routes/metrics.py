"""Metric registry routes: tenant metrics under /v1/metrics, platform-wide ones under /v1/admin/metrics."""

from __future__ import annotations

from fastapi import APIRouter, Query, Response

from analytics_engine.api.deps import AdminDep, AdminTenant, ReadTenant, RuntimeDep
from analytics_engine.metrics.schemas import (
    MetricCreate,
    MetricDeprecate,
    MetricPublic,
    MetricQueryRequest,
    MetricQueryResponse,
    MetricUpdate,
    MetricVersionPublic,
)

router = APIRouter(tags=["metrics"])


def _flag(response: Response, metric: MetricPublic) -> None:
    """RFC 9745 `Deprecation` header (an @epoch date) on answers about a deprecated metric."""
    if metric.deprecated and metric.deprecated_at is not None:
        response.headers["Deprecation"] = f"@{int(metric.deprecated_at.timestamp())}"
        if metric.replaced_by:
            response.headers["Link"] = f'</v1/metrics/{metric.replaced_by}>; rel="successor-version"'


@router.post("/v1/metrics", response_model=MetricPublic, status_code=201, summary="Define a tenant metric")
def create_metric(body: MetricCreate, tenant: AdminTenant, runtime: RuntimeDep) -> MetricPublic:
    return runtime.metrics.create(tenant.tenant_id, body, actor=tenant.key_id)


@router.get("/v1/metrics", response_model=list[MetricPublic], summary="Catalog: platform and own metrics")
def list_metrics(
    tenant: ReadTenant,
    runtime: RuntimeDep,
    include_deprecated: bool = Query(True, description="List deprecated metrics too."),
) -> list[MetricPublic]:
    return runtime.metrics.list(tenant.tenant_id, include_deprecated=include_deprecated)


@router.get("/v1/metrics/{metric_id}", response_model=MetricPublic, summary="One metric (current version)")
def get_metric(metric_id: str, tenant: ReadTenant, runtime: RuntimeDep, response: Response) -> MetricPublic:
    metric = runtime.metrics.get(tenant.tenant_id, metric_id)
    _flag(response, metric)
    return metric


@router.put("/v1/metrics/{metric_id}", response_model=MetricPublic, summary="Change a metric (a new version)")
def update_metric(metric_id: str, body: MetricUpdate, tenant: AdminTenant, runtime: RuntimeDep) -> MetricPublic:
    return runtime.metrics.update(tenant.tenant_id, metric_id, body, actor=tenant.key_id)


@router.get(
    "/v1/metrics/{metric_id}/versions/{version}",
    response_model=MetricVersionPublic,
    summary="An earlier (or the current) version of a metric",
)
def get_metric_version(metric_id: str, version: int, tenant: ReadTenant, runtime: RuntimeDep) -> MetricVersionPublic:
    return runtime.metrics.get_version(tenant.tenant_id, metric_id, version)


@router.post("/v1/metrics/{metric_id}/deprecate", response_model=MetricPublic, summary="Deprecate a metric")
def deprecate_metric(
    metric_id: str, tenant: AdminTenant, runtime: RuntimeDep, response: Response, body: MetricDeprecate | None = None
) -> MetricPublic:
    metric = runtime.metrics.deprecate(tenant.tenant_id, metric_id, body or MetricDeprecate())
    _flag(response, metric)
    return metric


@router.post(
    "/v1/metrics/{metric_id}/query",
    response_model=MetricQueryResponse,
    summary="Compute a metric on this tenant's data (dimensions, filters, time range)",
)
def query_metric(
    metric_id: str, body: MetricQueryRequest, tenant: ReadTenant, runtime: RuntimeDep, response: Response
) -> MetricQueryResponse:
    answer = runtime.metrics.query(runtime, tenant, metric_id, body)
    _flag(response, answer.metric)
    return answer


# --- platform-wide metrics (platform admin key) ------------------------------------------------
@router.post("/v1/admin/metrics", response_model=MetricPublic, status_code=201, summary="Define a platform metric")
def admin_create_metric(body: MetricCreate, _: AdminDep, runtime: RuntimeDep) -> MetricPublic:
    return runtime.metrics.create(None, body, actor="admin")


@router.get("/v1/admin/metrics", response_model=list[MetricPublic], summary="Platform-wide metrics")
def admin_list_metrics(_: AdminDep, runtime: RuntimeDep) -> list[MetricPublic]:
    return runtime.metrics.list(None, platform_only=True)


@router.get("/v1/admin/metrics/{metric_id}", response_model=MetricPublic, summary="One platform metric")
def admin_get_metric(metric_id: str, _: AdminDep, runtime: RuntimeDep, response: Response) -> MetricPublic:
    metric = runtime.metrics.get(None, metric_id)
    _flag(response, metric)
    return metric


@router.put("/v1/admin/metrics/{metric_id}", response_model=MetricPublic, summary="Change a platform metric")
def admin_update_metric(metric_id: str, body: MetricUpdate, _: AdminDep, runtime: RuntimeDep) -> MetricPublic:
    return runtime.metrics.update(None, metric_id, body, actor="admin")


@router.get(
    "/v1/admin/metrics/{metric_id}/versions/{version}",
    response_model=MetricVersionPublic,
    summary="A version of a platform metric",
)
def admin_get_metric_version(metric_id: str, version: int, _: AdminDep, runtime: RuntimeDep) -> MetricVersionPublic:
    return runtime.metrics.get_version(None, metric_id, version)


@router.post(
    "/v1/admin/metrics/{metric_id}/deprecate", response_model=MetricPublic, summary="Deprecate a platform metric"
)
def admin_deprecate_metric(
    metric_id: str, _: AdminDep, runtime: RuntimeDep, response: Response, body: MetricDeprecate | None = None
) -> MetricPublic:
    metric = runtime.metrics.deprecate(None, metric_id, body or MetricDeprecate())
    _flag(response, metric)
    return metric
