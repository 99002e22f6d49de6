"""Metric registry routes: tenant metrics under /v1/metrics, platform-wide ones under /v1/admin/metrics."""

from __future__ import annotations

from fastapi import APIRouter, Query, Response

from analytics_engine.api.deps import AdminDep, AdminTenant, ReadTenant, RuntimeDep
from analytics_engine.api.openapi import errors, examples
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


@router.post(
    "/v1/metrics",
    response_model=MetricPublic,
    status_code=201,
    summary="Define a tenant metric",
    openapi_extra=examples(
        request={
            "name": "Weekly buyers",
            "query": {"kind": "trends", "series": [{"event": "purchase", "math": "unique_users"}], "interval": "week"},
            "dimensions": ["plan", "country"],
            "unit": "users",
            "format": "number",
        }
    ),
    responses=errors(409),
)
def create_metric(body: MetricCreate, tenant: AdminTenant, runtime: RuntimeDep) -> MetricPublic:
    """Defines a tenant metric (version 1): a named insight query with allowed dimensions, unit and
    format. The query is validated by the insight models (422); names are unique per tenant (409)."""
    return runtime.metrics.create(tenant.tenant_id, body, actor=tenant.key_id)


@router.get("/v1/metrics", response_model=list[MetricPublic], summary="Catalog: platform and own metrics")
def list_metrics(
    tenant: ReadTenant,
    runtime: RuntimeDep,
    include_deprecated: bool = Query(True, description="List deprecated metrics too."),
) -> list[MetricPublic]:
    """The catalog this tenant sees: platform metrics and its own, optionally with deprecated ones."""
    return runtime.metrics.list(tenant.tenant_id, include_deprecated=include_deprecated)


@router.get("/v1/metrics/{metric_id}", response_model=MetricPublic, summary="One metric (current version)")
def get_metric(metric_id: str, tenant: ReadTenant, runtime: RuntimeDep, response: Response) -> MetricPublic:
    """One metric at its current version; a deprecated one carries a `Deprecation` header."""
    metric = runtime.metrics.get(tenant.tenant_id, metric_id)
    _flag(response, metric)
    return metric


@router.put(
    "/v1/metrics/{metric_id}",
    response_model=MetricPublic,
    summary="Change a metric (a new version)",
    openapi_extra=examples(
        request={
            "query": {"kind": "trends", "series": [{"event": "purchase", "math": "unique_users"}], "interval": "week"},
            "dimensions": ["plan"],
            "description": "People with at least one purchase in the week.",
        }
    ),
    responses=errors(409),
)
def update_metric(metric_id: str, body: MetricUpdate, tenant: AdminTenant, runtime: RuntimeDep) -> MetricPublic:
    """Changes a metric: a new version (earlier versions stay readable and pinned widgets keep them).
    Platform metrics are 403 for tenants."""
    return runtime.metrics.update(tenant.tenant_id, metric_id, body, actor=tenant.key_id)


@router.get(
    "/v1/metrics/{metric_id}/versions/{version}",
    response_model=MetricVersionPublic,
    summary="An earlier (or the current) version of a metric",
)
def get_metric_version(metric_id: str, version: int, tenant: ReadTenant, runtime: RuntimeDep) -> MetricVersionPublic:
    """One version of a metric, as it was defined then."""
    return runtime.metrics.get_version(tenant.tenant_id, metric_id, version)


@router.post(
    "/v1/metrics/{metric_id}/deprecate",
    response_model=MetricPublic,
    summary="Deprecate a metric",
    openapi_extra=examples(request={"message": "Use Weekly paying users.", "replaced_by": "met_4f5e0eaa5fe24a0faff4"}),
)
def deprecate_metric(
    metric_id: str, tenant: AdminTenant, runtime: RuntimeDep, response: Response, body: MetricDeprecate | None = None
) -> MetricPublic:
    """Marks a metric deprecated, with a message and an optional successor; it still answers, with
    a `Deprecation` header and a warning."""
    metric = runtime.metrics.deprecate(tenant.tenant_id, metric_id, body or MetricDeprecate())
    _flag(response, metric)
    return metric


@router.post(
    "/v1/metrics/{metric_id}/query",
    response_model=MetricQueryResponse,
    summary="Compute a metric on this tenant's data (dimensions, filters, time range)",
    openapi_extra=examples(
        request={
            "dimensions": ["plan"],
            "filters": [{"key": "country", "operator": "eq", "value": "NO"}],
            "time_range": {"from": "-90d"},
            "interval": "month",
            "timezone": "Europe/Oslo",
        }
    ),
)
def query_metric(
    metric_id: str, body: MetricQueryRequest, tenant: ReadTenant, runtime: RuntimeDep, response: Response
) -> MetricQueryResponse:
    """Computes a metric on this tenant's data with dimensions (among the allowed ones), filters, a
    time range, interval and time zone; the insight result plus the metric and version used."""
    answer = runtime.metrics.query(runtime, tenant, metric_id, body)
    _flag(response, answer.metric)
    return answer


# --- platform-wide metrics (platform admin key) ------------------------------------------------
@router.post(
    "/v1/admin/metrics",
    response_model=MetricPublic,
    status_code=201,
    summary="Define a platform metric",
    openapi_extra=examples(
        request={
            "name": "Daily active users",
            "query": {"kind": "trends", "series": [{"math": "unique_users"}], "interval": "day"},
            "unit": "users",
        }
    ),
    responses=errors(409),
)
def admin_create_metric(body: MetricCreate, _: AdminDep, runtime: RuntimeDep) -> MetricPublic:
    """Defines a platform metric, visible to every tenant and computed on each tenant's own data
    (platform admin key)."""
    return runtime.metrics.create(None, body, actor="admin")


@router.get("/v1/admin/metrics", response_model=list[MetricPublic], summary="Platform-wide metrics")
def admin_list_metrics(_: AdminDep, runtime: RuntimeDep) -> list[MetricPublic]:
    """Every platform-wide metric (platform admin key)."""
    return runtime.metrics.list(None, platform_only=True)


@router.get("/v1/admin/metrics/{metric_id}", response_model=MetricPublic, summary="One platform metric")
def admin_get_metric(metric_id: str, _: AdminDep, runtime: RuntimeDep, response: Response) -> MetricPublic:
    """One platform metric at its current version (platform admin key)."""
    metric = runtime.metrics.get(None, metric_id)
    _flag(response, metric)
    return metric


@router.put(
    "/v1/admin/metrics/{metric_id}",
    response_model=MetricPublic,
    summary="Change a platform metric",
    openapi_extra=examples(
        request={
            "query": {"kind": "trends", "series": [{"math": "unique_users"}], "interval": "day"},
            "description": "Distinct people with any event in the day.",
        }
    ),
    responses=errors(409),
)
def admin_update_metric(metric_id: str, body: MetricUpdate, _: AdminDep, runtime: RuntimeDep) -> MetricPublic:
    """Changes a platform metric as a new version (platform admin key)."""
    return runtime.metrics.update(None, metric_id, body, actor="admin")


@router.get(
    "/v1/admin/metrics/{metric_id}/versions/{version}",
    response_model=MetricVersionPublic,
    summary="A version of a platform metric",
)
def admin_get_metric_version(metric_id: str, version: int, _: AdminDep, runtime: RuntimeDep) -> MetricVersionPublic:
    """One version of a platform metric (platform admin key)."""
    return runtime.metrics.get_version(None, metric_id, version)


@router.post(
    "/v1/admin/metrics/{metric_id}/deprecate",
    response_model=MetricPublic,
    summary="Deprecate a platform metric",
    openapi_extra=examples(request={"message": "Replaced by Weekly active users."}),
)
def admin_deprecate_metric(
    metric_id: str, _: AdminDep, runtime: RuntimeDep, response: Response, body: MetricDeprecate | None = None
) -> MetricPublic:
    """Deprecates a platform metric (platform admin key)."""
    metric = runtime.metrics.deprecate(None, metric_id, body or MetricDeprecate())
    _flag(response, metric)
    return metric
