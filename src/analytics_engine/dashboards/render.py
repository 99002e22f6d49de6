"""Rendering a dashboard: every widget's effective query (its metric or inline query with the
dashboard filters applied), computed concurrently in threads (warehouse calls are synchronous),
each result cached per tenant, widget and filters for `dashboard_widget_cache_seconds`. A widget
that fails carries its own error object; the others still render."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
import structlog

from analytics_engine.cache import cache_key
from analytics_engine.dashboards.schemas import (
    DashboardFilters,
    DashboardPublic,
    RenderResult,
    WidgetError,
    WidgetPublic,
    WidgetResult,
)
from analytics_engine.dashboards.service import dashboard_service
from analytics_engine.errors import AppError
from analytics_engine.metrics import engine
from analytics_engine.metrics.schemas import MetricQueryRequest, TimeRange
from analytics_engine.metrics.service import metric_service

log = structlog.get_logger(__name__)
CACHE_NAMESPACE = "widget"
RESULT_VERSION = 1


@dataclass
class _Plan:
    widget: WidgetPublic
    query: dict[str, Any] | None = None
    metric_version: int | None = None
    warning: str | None = None
    error: WidgetError | None = None


def _executor(runtime: Any) -> ThreadPoolExecutor:
    pool = runtime.extras.get("dashboard_pool")
    if pool is None:
        pool = runtime.extras["dashboard_pool"] = ThreadPoolExecutor(
            max_workers=runtime.settings.dashboard_render_threads, thread_name_prefix="widget"
        )
    return pool


def _error(exc: Exception) -> WidgetError:
    if isinstance(exc, AppError):
        return WidgetError(code=exc.code, message=exc.message, details=exc.details or None)
    log.exception("dashboard.widget_failed", error=str(exc))
    return WidgetError(code="internal_error", message="This widget could not be computed.")


def plan_widget(runtime: Any, tenant_id: str, widget: WidgetPublic, filters: DashboardFilters) -> _Plan:
    """The widget's effective query under the dashboard filters (or its error)."""
    plan = _Plan(widget)
    try:
        if widget.metric_id:
            metrics = metric_service(runtime)
            metric, version, definition = metrics.definition(tenant_id, widget.metric_id, widget.metric_version)
            request = MetricQueryRequest(
                dimensions=widget.dimensions,
                filters=filters.properties,
                time_range=TimeRange(date_from=filters.date_from, date_to=filters.date_to)
                if filters.date_from or filters.date_to
                else None,
                interval=filters.interval,
                timezone=filters.timezone,
                cohort_id=filters.cohort_id,
            )
            plan.query = metrics.build_query(metric, definition, request)
            plan.metric_version = version
            plan.warning = metric.warning
        else:
            context = engine.QueryContext(
                date_from=filters.date_from,
                date_to=filters.date_to,
                filters=tuple(filters.properties),
                cohort_id=filters.cohort_id,
                timezone=filters.timezone,
                interval=filters.interval,
            )
            plan.query = engine.with_context(widget.query or {}, context)
    except Exception as exc:
        plan.error = _error(exc)
    return plan


def widget_cache_key(tenant_id: str, plan: _Plan) -> str:
    return cache_key(
        tenant_id,
        CACHE_NAMESPACE,
        {"widget": plan.widget.id, "query": plan.query, "viz": plan.widget.viz.value, "v": RESULT_VERSION},
    )


def compute_widget(runtime: Any, tenant: Any, plan: _Plan, *, refresh: bool = False) -> WidgetResult:
    widget = plan.widget
    result = WidgetResult(
        id=widget.id,
        title=widget.title,
        viz=widget.viz,
        layout=widget.layout,
        metric_id=widget.metric_id,
        metric_version=plan.metric_version,
        warning=plan.warning,
    )
    if plan.error is not None:
        result.error = plan.error
        return result
    started = time.perf_counter()
    key = widget_cache_key(tenant.tenant_id, plan)
    if not refresh:
        hit = runtime.cache.get(key)
        if hit is not None:
            stored = orjson.loads(hit)
            result.data = stored["data"]
            result.computed_at = datetime.fromisoformat(stored["computed_at"])
            result.cached = True
            result.elapsed_ms = (time.perf_counter() - started) * 1000
            return result
    try:
        data = engine.run_query(runtime, tenant, plan.query or {}, refresh=refresh)
    except Exception as exc:
        result.error = _error(exc)
        result.elapsed_ms = (time.perf_counter() - started) * 1000
        return result
    computed_at = datetime.now(UTC)
    runtime.cache.set(
        key,
        orjson.dumps({"data": data, "computed_at": computed_at.isoformat()}),
        runtime.settings.dashboard_widget_cache_seconds,
    )
    result.data, result.computed_at = data, computed_at
    result.elapsed_ms = (time.perf_counter() - started) * 1000
    return result


def render_dashboard(
    runtime: Any,
    tenant: Any,
    dashboard: DashboardPublic,
    override: DashboardFilters | None = None,
    *,
    refresh: bool = False,
    widget_ids: set[str] | None = None,
) -> RenderResult:
    started = time.perf_counter()
    filters = dashboard.filters.merged(override)
    widgets = [w for w in dashboard.widgets if widget_ids is None or w.id in widget_ids]
    plans = [plan_widget(runtime, tenant.tenant_id, widget, filters) for widget in widgets]
    pool = _executor(runtime)
    futures = [pool.submit(compute_widget, runtime, tenant, plan, refresh=refresh) for plan in plans]
    results = []
    for plan, future in zip(plans, futures, strict=True):
        try:
            results.append(future.result())
        except Exception as exc:  # compute_widget catches; this is a last resort
            results.append(
                WidgetResult(
                    id=plan.widget.id,
                    title=plan.widget.title,
                    viz=plan.widget.viz,
                    layout=plan.widget.layout,
                    error=_error(exc),
                )
            )
    return RenderResult(
        dashboard_id=dashboard.id,
        name=dashboard.name,
        filters=filters,
        widgets=results,
        rendered_at=datetime.now(UTC),
        elapsed_ms=(time.perf_counter() - started) * 1000,
    )


def render(
    runtime: Any, tenant: Any, dashboard_id: str, override: DashboardFilters | None = None, *, refresh: bool = False
) -> RenderResult:
    dashboard = dashboard_service(runtime).get(tenant.tenant_id, dashboard_id)
    return render_dashboard(runtime, tenant, dashboard, override, refresh=refresh)
