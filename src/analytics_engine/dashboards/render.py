"""Rendering a dashboard: every widget's effective query (its metric or inline query with the
dashboard filters applied), computed concurrently in threads (warehouse calls are synchronous),
each result cached per tenant, widget and filters for `dashboard_widget_cache_seconds`. A widget
that fails carries its own error object; the others still render.

Stale-while-revalidate (`allow_stale`): each computed answer is also kept, without the data version
in its key, as the widget's *last known* answer (`dashboard_widget_last_known_seconds`). A render that
allows it answers at once: cached widgets as they are, the others with their last known answer marked
`stale` (its `computed_at` says how old) or as `pending` when none is known, while they compute in the
background. One computation per widget and data version runs at a time (`_single_flight`): a render
asking for a widget the background (or another visitor) is computing waits for that one."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import orjson
import structlog

from analytics_engine.annotations.marks import place
from analytics_engine.cache import cache_key, data_version
from analytics_engine.cache.versions import KEPT_NAMESPACES
from analytics_engine.dashboards.render_json import keep_bytes, parse_cached
from analytics_engine.dashboards.schemas import (
    DashboardFilters,
    DashboardPublic,
    RenderResult,
    WidgetError,
    WidgetPublic,
    WidgetResult,
)
from analytics_engine.dashboards.telemetry import WIDGETS
from analytics_engine.errors import AppError
from analytics_engine.insights import registry
from analytics_engine.insights.context import Overrides, RunContext
from analytics_engine.metrics.schemas import MetricQueryRequest, TimeRange

if TYPE_CHECKING:
    from analytics_engine.annotations.schemas import AnnotationPublic
    from analytics_engine.runtime import Runtime

log = structlog.get_logger(__name__)
CACHE_NAMESPACE = "widget"
LAST_KNOWN_NAMESPACE = KEPT_NAMESPACES[0]  # "widgetlast": dropped by an erasure (cache/versions.py)
RESULT_VERSION = 1
BUDGET_WAIT_SECONDS = 10.0


@dataclass
class _Plan:
    widget: WidgetPublic
    query: dict[str, Any] | None = None
    metric_version: int | None = None
    warning: str | None = None
    error: WidgetError | None = None


def _cost(kind: str) -> int:
    known = registry.kinds().get(kind)
    return known.cost if known else 1


def _executor(runtime: Runtime) -> ThreadPoolExecutor:
    pool: ThreadPoolExecutor | None = runtime.dashboard_pool
    if pool is None:
        pool = runtime.dashboard_pool = ThreadPoolExecutor(
            max_workers=runtime.settings.dashboard_render_threads, thread_name_prefix="widget"
        )
    return pool


def _error(exc: Exception) -> WidgetError:
    if isinstance(exc, AppError):
        return WidgetError(code=exc.code, message=exc.message, details=exc.details or None)
    log.exception("dashboard.widget_failed", error=str(exc))
    return WidgetError(code="internal_error", message="This widget could not be computed.")


def plan_widget(
    runtime: Runtime,
    tenant_id: str,
    widget: WidgetPublic,
    filters: DashboardFilters,
    definitions: dict[tuple[str, int | None], Any] | None = None,
) -> _Plan:
    """The widget's effective query under the dashboard filters (or its error). `definitions` holds
    the metric definitions loaded at once for the whole dashboard (`MetricService.definitions`)."""
    plan = _Plan(widget)
    try:
        if widget.metric_id:
            metrics = runtime.metrics
            wanted = (widget.metric_id, widget.metric_version)
            found = definitions.get(wanted) if definitions is not None else None
            if found is None:
                found = metrics.definition(tenant_id, widget.metric_id, widget.metric_version)
            if isinstance(found, Exception):
                raise found
            metric, version, definition = found
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
            overrides = Overrides(
                date_from=filters.date_from,
                date_to=filters.date_to,
                filters=tuple(filters.properties),
                cohort_id=filters.cohort_id,
                timezone=filters.timezone,
                interval=filters.interval,
            )
            plan.query = registry.with_overrides(widget.query or {}, overrides)
    except Exception as exc:
        plan.error = _error(exc)
    return plan


def widget_cache_key(tenant_id: str, plan: _Plan, data: str | None = None) -> str:
    """`data`: the tenant's data version (cache/versions.py), so new events end the 60 s at once."""
    return cache_key(
        tenant_id,
        CACHE_NAMESPACE,
        {
            "widget": plan.widget.id,
            "query": plan.query,
            "viz": plan.widget.viz.value,
            "v": RESULT_VERSION,
        },
        data_version=data,
    )


def last_known_key(tenant_id: str, plan: _Plan) -> str:
    """The widget's last known answer: the same key as `widget_cache_key` less the data version."""
    return cache_key(
        tenant_id,
        LAST_KNOWN_NAMESPACE,
        {"widget": plan.widget.id, "query": plan.query, "viz": plan.widget.viz.value, "v": RESULT_VERSION},
    )


# One computation per (runtime, widget cache key) at a time; others asking for it wait for its result.
_inflight: dict[tuple[int, str], Future[WidgetResult]] = {}
_inflight_lock = threading.Lock()


def _single_flight(runtime: Runtime, key: str, compute: Callable[[], WidgetResult]) -> WidgetResult:
    slot = (id(runtime), key)
    with _inflight_lock:
        running = _inflight.get(slot)
        if running is None:
            mine: Future[WidgetResult] = Future()
            _inflight[slot] = mine
    if running is not None:
        return running.result().model_copy()
    try:
        result = compute()
        mine.set_result(result)
        return result
    except BaseException as exc:
        mine.set_exception(exc)
        raise
    finally:
        with _inflight_lock:
            _inflight.pop(slot, None)


def _run_within_budget(runtime: Runtime, tenant: Any, query: dict[str, Any], *, refresh: bool) -> dict[str, Any]:
    """Run one widget's query; when the tenant's concurrent-query budget is momentarily full (other
    widgets of this or another render are running), the tenant scope waits a little for a slot
    instead of failing (the insight's own statements share the slot)."""
    with runtime.warehouse.for_tenant(tenant).admitted(wait=BUDGET_WAIT_SECONDS):
        return registry.run_query(RunContext(runtime, tenant, refresh=refresh), query).model_dump(mode="json")


def _concurrency(runtime: Runtime, tenant_id: str) -> int:
    width: int = runtime.settings.dashboard_render_threads
    try:
        limit = runtime.warehouse.for_tenant(tenant_id).max_concurrent_queries()
    except Exception:
        limit = 0
    if limit:
        width = min(width, limit)
    return max(1, width)


def _shell(plan: _Plan) -> WidgetResult:
    widget = plan.widget
    return WidgetResult(
        id=widget.id,
        title=widget.title,
        viz=widget.viz,
        layout=widget.layout,
        metric_id=widget.metric_id,
        metric_version=plan.metric_version,
        warning=plan.warning,
    )


class DashboardNotes:
    """A dashboard's own annotations for one render, read once per date range. A dashboard's widgets
    mostly share its range, so a cached render reads the notes once instead of once per trend widget
    (each read is a metadata query, which dominated a cached render's time). Shared by the render's
    worker threads."""

    def __init__(self, runtime: Runtime, tenant_id: str) -> None:
        self._runtime, self._tenant_id = runtime, tenant_id
        self._lock = threading.Lock()
        self._read: dict[tuple[str, datetime, datetime], list[AnnotationPublic]] = {}

    def in_range(self, dashboard_id: str, start: datetime, end: datetime) -> list[AnnotationPublic]:
        key = (dashboard_id, start, end)
        with self._lock:
            if key not in self._read:
                self._read[key] = self._runtime.annotations.in_range(
                    self._tenant_id, start, end, dashboard_id=dashboard_id, only_dashboard=True
                )
            return self._read[key]


def with_dashboard_annotations(
    runtime: Runtime, tenant_id: str, plan: _Plan, result: WidgetResult, notes: DashboardNotes | None = None
) -> None:
    """A trend widget's answer carries the tenant-wide annotations; add the dashboard's own (read at
    every render, after the widget cache, so a new note shows at once)."""
    data = result.data
    if not data or data.get("kind") != "trends" or not data.get("date_from") or not data.get("date_to"):
        return
    start, end = datetime.fromisoformat(data["date_from"]), datetime.fromisoformat(data["date_to"])
    found = (notes or DashboardNotes(runtime, tenant_id)).in_range(plan.widget.dashboard_id, start, end)
    if not found:
        return
    marks = [m.model_dump(mode="json") for m in place(found, start, end, data.get("interval"), data["timezone"])]
    merged = sorted([*(data.get("annotations") or []), *marks], key=lambda m: (m["date_from"], m["id"]))
    result.data = {**data, "annotations": merged}


def cached_widget(
    runtime: Runtime, tenant: Any, plan: _Plan, notes: DashboardNotes | None = None
) -> WidgetResult | None:
    """The widget's cached result, or its planning error; None when it has to be computed."""
    if plan.error is not None:
        result = _shell(plan)
        result.error = plan.error
        return result
    started = time.perf_counter()
    hit = runtime.cache.get(widget_cache_key(tenant.tenant_id, plan, data_version(runtime.cache, tenant.tenant_id)))
    if hit is None:
        return None
    result = _shell(plan)
    result.data, raw, result.computed_at = parse_cached(hit)
    keep_bytes(result, raw)
    result.cached = True
    with_dashboard_annotations(runtime, tenant.tenant_id, plan, result, notes)
    result.elapsed_ms = (time.perf_counter() - started) * 1000
    return result


def compute_widget(
    runtime: Runtime,
    tenant: Any,
    plan: _Plan,
    *,
    refresh: bool = False,
    check_cache: bool = True,
    notes: DashboardNotes | None = None,
) -> WidgetResult:
    """Compute one widget (reading its cache first unless `refresh` or not `check_cache`); `refresh`
    also makes the insight engine recompute instead of answering from its own cache."""
    result = _shell(plan)
    if plan.error is not None:
        result.error = plan.error
        return result
    key = widget_cache_key(tenant.tenant_id, plan, data_version(runtime.cache, tenant.tenant_id))
    if check_cache and not refresh:
        hit = cached_widget(runtime, tenant, plan, notes)
        if hit is not None:
            return hit
    if refresh:
        return _compute(runtime, tenant, plan, key, refresh=True, notes=notes)
    return _single_flight(runtime, key, lambda: _compute(runtime, tenant, plan, key, refresh=False, notes=notes))


def _compute(
    runtime: Runtime, tenant: Any, plan: _Plan, key: str, *, refresh: bool, notes: DashboardNotes | None = None
) -> WidgetResult:
    result = _shell(plan)
    started = time.perf_counter()
    try:
        data = _run_within_budget(runtime, tenant, plan.query or {}, refresh=refresh)
    except Exception as exc:
        result.error = _error(exc)
        result.elapsed_ms = (time.perf_counter() - started) * 1000
        return result
    computed_at = datetime.now(UTC)
    stored = orjson.dumps({"data": data, "computed_at": computed_at.isoformat()})
    runtime.cache.set(key, stored, runtime.settings.dashboard_widget_cache_seconds)
    if runtime.settings.dashboard_widget_last_known_seconds > 0:
        runtime.cache.set(
            last_known_key(tenant.tenant_id, plan), stored, runtime.settings.dashboard_widget_last_known_seconds
        )
    result.data, result.computed_at = data, computed_at
    with_dashboard_annotations(runtime, tenant.tenant_id, plan, result, notes)
    result.elapsed_ms = (time.perf_counter() - started) * 1000
    return result


def last_known_widget(runtime: Runtime, tenant: Any, plan: _Plan, notes: DashboardNotes | None = None) -> WidgetResult:
    """The widget's last known answer marked `stale`, or a `pending` shell when none is kept."""
    result = _shell(plan)
    hit = runtime.cache.get(last_known_key(tenant.tenant_id, plan))
    if hit is None:
        result.pending = True
        return result
    result.data, raw, result.computed_at = parse_cached(hit)
    keep_bytes(result, raw)
    result.cached = result.stale = True
    with_dashboard_annotations(runtime, tenant.tenant_id, plan, result, notes)
    return result


def revalidate(runtime: Runtime, tenant: Any, plans: list[_Plan]) -> None:
    """Compute these widgets in the background (each once, however many ask), into the cache."""
    pool = _executor(runtime)
    for plan in plans:
        pool.submit(_quietly, compute_widget, runtime, tenant, plan, check_cache=False)


def _quietly(function: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
    try:
        function(*args, **kwargs)
    except Exception as exc:  # compute_widget catches; this is a last resort for a background task
        log.warning("dashboard.background_failed", error=str(exc))


def render_dashboard(
    runtime: Runtime,
    tenant: Any,
    dashboard: DashboardPublic,
    override: DashboardFilters | None = None,
    *,
    refresh: bool = False,
    widget_ids: set[str] | None = None,
    on_result: Callable[[WidgetResult], None] | None = None,
    allow_stale: bool = False,
) -> RenderResult:
    """Every widget's result. `on_result` (called from worker threads) gets each widget as soon as
    it is ready, so a live stream can push fast widgets before the slow ones finish. With
    `allow_stale`, nothing is computed before answering: widgets not in the cache come back with
    their last known answer (`stale`) or `pending`, and compute in the background."""
    started = time.perf_counter()
    filters = dashboard.filters.merged(override)
    widgets = [w for w in dashboard.widgets if widget_ids is None or w.id in widget_ids]
    definitions = runtime.metrics.definitions(
        tenant.tenant_id, sorted({(w.metric_id, w.metric_version) for w in widgets if w.metric_id}, key=str)
    )
    plans = [plan_widget(runtime, tenant.tenant_id, widget, filters, definitions) for widget in widgets]
    notes = DashboardNotes(runtime, tenant.tenant_id)
    # Cache hits and planning errors are answered here; only the misses go to the threads.
    ready: dict[int, WidgetResult] = {}
    if not refresh:
        for index, plan in enumerate(plans):
            hit = cached_widget(runtime, tenant, plan, notes)
            if hit is not None:
                ready[index] = hit
    if allow_stale and not refresh:
        misses_plans = [plan for index, plan in enumerate(plans) if index not in ready]
        for index, plan in enumerate(plans):
            if index not in ready:
                ready[index] = last_known_widget(runtime, tenant, plan, notes)
        if misses_plans:
            revalidate(runtime, tenant, misses_plans)
    if on_result is not None:
        for result in ready.values():
            on_result(result)
    # Cheap kinds first, so that with fewer slots than widgets the quick ones are not stuck behind.
    misses = sorted(
        ((index, plan) for index, plan in enumerate(plans) if index not in ready),
        key=lambda item: _cost((item[1].query or {}).get("kind", "")),
    )
    futures = {}
    if len(misses) == 1:
        index, plan = misses[0]
        ready[index] = compute_widget(runtime, tenant, plan, refresh=refresh, check_cache=False, notes=notes)
        if on_result is not None:
            on_result(ready[index])
    elif misses:
        pool = _executor(runtime)
        gate = threading.BoundedSemaphore(_concurrency(runtime, tenant.tenant_id))

        def task(plan: _Plan) -> WidgetResult:
            with gate:
                result = compute_widget(runtime, tenant, plan, refresh=refresh, check_cache=False, notes=notes)
            if on_result is not None:
                try:
                    on_result(result)
                except Exception as exc:  # a listener's failure never fails the render
                    log.warning("dashboard.on_result_failed", error=str(exc))
            return result

        futures = {index: pool.submit(task, plan) for index, plan in misses}
    results = []
    for index, plan in enumerate(plans):
        if index in ready:
            results.append(ready[index])
            continue
        try:
            results.append(futures[index].result())
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
    for result in results:
        state = "pending" if result.pending else "stale" if result.stale else "cached" if result.cached else "computed"
        WIDGETS.labels("error" if result.error else state).inc()
    return RenderResult(
        dashboard_id=dashboard.id,
        name=dashboard.name,
        filters=filters,
        widgets=results,
        rendered_at=datetime.now(UTC),
        elapsed_ms=(time.perf_counter() - started) * 1000,
    )


def render(
    runtime: Runtime,
    tenant: Any,
    dashboard_id: str,
    override: DashboardFilters | None = None,
    *,
    refresh: bool = False,
    allow_stale: bool = False,
    widget_ids: set[str] | None = None,
) -> RenderResult:
    dashboard = runtime.dashboards.get_for_render(tenant.tenant_id, dashboard_id)
    if runtime.dashboard_warmer is not None:
        runtime.dashboard_warmer.viewed(tenant.tenant_id, dashboard_id)
    return render_dashboard(
        runtime, tenant, dashboard, override, refresh=refresh, allow_stale=allow_stale, widget_ids=widget_ids
    )
