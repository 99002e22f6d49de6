"""Dashboard routes: CRUD of dashboards and widgets, render, and the live SSE stream."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import ValidationError
from sse_starlette.sse import EventSourceResponse
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from analytics_engine.api.deps import AdminTenant, ReadTenant, RuntimeDep, tenant_with
from analytics_engine.api.openapi import errors, examples
from analytics_engine.dashboards.live import stream_hub
from analytics_engine.dashboards.render import render
from analytics_engine.dashboards.render_json import render_json
from analytics_engine.dashboards.schemas import (
    DashboardCreate,
    DashboardFilters,
    DashboardPublic,
    DashboardSummary,
    DashboardUpdate,
    RenderResult,
    WidgetCreate,
    WidgetPublic,
    WidgetUpdate,
)
from analytics_engine.errors import InvalidInput
from analytics_engine.runtime import Runtime
from analytics_engine.tenants.schemas import Scope
from analytics_engine.tenants.service import TenantContext

router = APIRouter(tags=["dashboards"])
STREAM_SEND_TIMEOUT = 30.0


async def filter_params(
    date_from: str | None = Query(None, description="Override: ISO date/datetime or relative (-30d, mtd)."),
    date_to: str | None = Query(None, description="Override: end of the range."),
    timezone: str | None = Query(None, description="Override: IANA time zone."),
    cohort_id: str | None = Query(None, description="Override: only people in this cohort."),
    interval: str | None = Query(None, description="Override: interval of trend widgets."),
    properties: str | None = Query(
        None, description='Override: property filters as JSON, e.g. `[{"key":"plan","operator":"eq","value":"pro"}]`.'
    ),
) -> DashboardFilters | None:
    # async: no I/O, so no thread-pool hop (api/deps.py)
    values: dict[str, Any] = {
        key: value
        for key, value in {
            "date_from": date_from,
            "date_to": date_to,
            "timezone": timezone,
            "cohort_id": cohort_id,
            "interval": interval,
        }.items()
        if value
    }
    if properties:
        try:
            values["properties"] = orjson.loads(properties)
        except orjson.JSONDecodeError as exc:
            raise InvalidInput("'properties' must be a JSON array of property filters") from exc
    if not values:
        return None
    try:
        return DashboardFilters.model_validate(values)
    except ValidationError as exc:
        raise InvalidInput.from_validation("invalid dashboard filters", exc.errors()) from exc


FiltersDep = Depends(filter_params)


@router.post(
    "/v1/dashboards",
    response_model=DashboardPublic,
    status_code=201,
    summary="Create a dashboard",
    openapi_extra=examples(
        request={
            "name": "Growth",
            "filters": {"date_from": "-30d", "timezone": "Europe/Oslo"},
            "widgets": [
                {
                    "title": "Signups",
                    "viz": "big_number",
                    "query": {"kind": "trends", "series": [{"event": "signup"}]},
                    "layout": {"x": 0, "y": 0, "w": 4, "h": 2},
                }
            ],
        }
    ),
    responses=errors(409, 404),
)
def create_dashboard(body: DashboardCreate, tenant: AdminTenant, runtime: RuntimeDep) -> DashboardPublic:
    """Creates a dashboard with filters and widgets; each widget shows a metric (its current or a
    pinned version) or an inline insight query. A deprecated metric cannot be put on a widget (422)."""
    return runtime.dashboards.create(tenant.tenant_id, body)


@router.get("/v1/dashboards", response_model=list[DashboardSummary], summary="This tenant's dashboards")
def list_dashboards(tenant: ReadTenant, runtime: RuntimeDep) -> list[DashboardSummary]:
    """This tenant's dashboards: id, name, widget count, times."""
    return runtime.dashboards.list(tenant.tenant_id)


@router.get("/v1/dashboards/{dashboard_id}", response_model=DashboardPublic, summary="A dashboard and its widgets")
def get_dashboard(dashboard_id: str, tenant: ReadTenant, runtime: RuntimeDep) -> DashboardPublic:
    """A dashboard with its filters and widgets (definitions, not data: see `/render`)."""
    return runtime.dashboards.get(tenant.tenant_id, dashboard_id)


@router.patch(
    "/v1/dashboards/{dashboard_id}",
    response_model=DashboardPublic,
    summary="Rename, re-filter",
    openapi_extra=examples(request={"name": "Growth (weekly)", "filters": {"date_from": "-90d", "interval": "week"}}),
    responses=errors(409),
)
def update_dashboard(
    dashboard_id: str, body: DashboardUpdate, tenant: AdminTenant, runtime: RuntimeDep
) -> DashboardPublic:
    """Renames a dashboard or changes its description or filters; fields left out keep their value."""
    return runtime.dashboards.update(tenant.tenant_id, dashboard_id, body)


@router.delete("/v1/dashboards/{dashboard_id}", status_code=204, summary="Delete a dashboard")
def delete_dashboard(dashboard_id: str, tenant: AdminTenant, runtime: RuntimeDep) -> Response:
    """Deletes a dashboard and its widgets; open streams get `event: deleted`."""
    runtime.dashboards.delete(tenant.tenant_id, dashboard_id)
    return Response(status_code=204)


@router.post(
    "/v1/dashboards/{dashboard_id}/widgets",
    response_model=WidgetPublic,
    status_code=201,
    summary="Add a widget",
    openapi_extra=examples(
        request={
            "title": "Activation",
            "viz": "funnel",
            "query": {"kind": "funnels", "steps": [{"event": "signup"}, {"event": "activated"}]},
            "layout": {"x": 4, "y": 0, "w": 8, "h": 4},
        }
    ),
)
def add_widget(dashboard_id: str, body: WidgetCreate, tenant: AdminTenant, runtime: RuntimeDep) -> WidgetPublic:
    """Adds a widget (a metric or an inline query) to a dashboard."""
    return runtime.dashboards.add_widget(tenant.tenant_id, dashboard_id, body)


@router.patch(
    "/v1/dashboards/{dashboard_id}/widgets/{widget_id}",
    response_model=WidgetPublic,
    summary="Change a widget",
    openapi_extra=examples(request={"title": "Weekly signups", "viz": "bar"}),
)
def update_widget(
    dashboard_id: str, widget_id: str, body: WidgetUpdate, tenant: AdminTenant, runtime: RuntimeDep
) -> WidgetPublic:
    """Changes a widget; set one of `metric_id`/`query` and null the other to switch its source."""
    return runtime.dashboards.update_widget(tenant.tenant_id, dashboard_id, widget_id, body)


@router.delete("/v1/dashboards/{dashboard_id}/widgets/{widget_id}", status_code=204, summary="Remove a widget")
def delete_widget(dashboard_id: str, widget_id: str, tenant: AdminTenant, runtime: RuntimeDep) -> Response:
    """Removes a widget from its dashboard."""
    runtime.dashboards.delete_widget(tenant.tenant_id, dashboard_id, widget_id)
    return Response(status_code=204)


@router.get(
    "/v1/dashboards/{dashboard_id}/render",
    response_model=RenderResult,
    summary="Every widget's data (computed concurrently, cached per widget and filters)",
)
async def render_dashboard(
    dashboard_id: str,
    tenant: ReadTenant,
    runtime: RuntimeDep,
    filters: DashboardFilters | None = FiltersDep,
    refresh: bool = Query(False, description="Recompute every widget, ignoring caches."),
    allow_stale: bool = Query(
        False,
        description="Answer at once: a widget not in the cache comes with its last known answer (`stale`, as of "
        "its `computed_at`) or `pending`, and computes in the background; ask again for the fresh one.",
    ),
    widgets: str | None = Query(
        None, description="Only these widgets (comma-separated ids), e.g. the ones answered `stale` or `pending`."
    ),
) -> Response:
    """Computes every widget at once and answers each widget's data (or its own error); the saved
    filters can be overridden in the query string. Results are cached per widget and filters."""
    wanted = {part for part in widgets.split(",") if part} if widgets else None
    # One thread-pool hop for the whole render, cached or not: it reads the metadata database and the
    # cache, and a miss runs warehouse queries, none of which may block the event loop.
    body = await run_in_threadpool(render_body, runtime, tenant, dashboard_id, filters, refresh, allow_stale, wanted)
    return Response(body, media_type="application/json")


def render_body(
    runtime: Runtime,
    tenant: TenantContext,
    dashboard_id: str,
    filters: DashboardFilters | None,
    refresh: bool,
    allow_stale: bool,
    widget_ids: set[str] | None,
) -> bytes:
    """The render's JSON (the response model is for the schema only): cached widget data written as the
    bytes it was cached as, the rest by pydantic (dashboards/render_json.py)."""
    result = render(
        runtime, tenant, dashboard_id, filters, refresh=refresh, allow_stale=allow_stale, widget_ids=widget_ids
    )
    return render_json(result)


@router.post(
    "/v1/dashboards/{dashboard_id}/stream-token",
    summary="A short-lived signed token for the stream (EventSource cannot send an Authorization header)",
)
async def stream_token(dashboard_id: str, tenant: ReadTenant, runtime: RuntimeDep) -> dict[str, Any]:
    """A short-lived signed token that opens this dashboard's stream without a header (browsers'
    EventSource cannot send one): `{"token", "expires_at", "stream"}`."""
    await run_in_threadpool(runtime.dashboards.get, tenant.tenant_id, dashboard_id)
    token, expires = stream_hub(runtime).issue_token(tenant.tenant_id, tenant.key_id, dashboard_id)
    return {"token": token, "expires_at": expires, "stream": f"/v1/dashboards/{dashboard_id}/stream?token={token}"}


def dashboard_version(dashboard: DashboardPublic) -> str:
    """Changes whenever the dashboard's saved filters or any widget change, or a widget comes or goes."""
    parts = [dashboard.updated_at.isoformat(), dashboard.filters.model_dump_json()]
    parts += [f"{w.id}@{w.updated_at.isoformat()}" for w in dashboard.widgets]
    return "|".join(parts)


def _token_tenant(runtime: Any, tenant_id: str, key_id: str) -> TenantContext:
    tenant = runtime.tenants.get(tenant_id)
    return TenantContext(
        tenant_id=tenant.id,
        tenant_name=tenant.name,
        timezone=tenant.timezone,
        scopes=frozenset({Scope.read.value}),
        key_id=key_id,
    )


@router.get(
    "/v1/dashboards/{dashboard_id}/stream",
    summary="Live widget updates (Server-Sent Events); `Last-Event-ID` resumes",
    # The key in the header, or a stream token in the query string (browsers' EventSource).
    openapi_extra={"security": [{"tenantKey": []}, {}]},
    response_class=EventSourceResponse,
)
async def stream_dashboard(
    dashboard_id: str,
    request: Request,
    runtime: RuntimeDep,
    filters: DashboardFilters | None = FiltersDep,
    token: str | None = Query(None, description="A stream token from POST .../stream-token (instead of the header)."),
    last_event_id: str | None = Query(None, description="Same as the `Last-Event-ID` header."),
) -> EventSourceResponse:
    """Messages: `snapshot` (every widget, on connect or when a client fell too far behind), `widget`
    (one widget's new data after events landed), `deleted`; comment heartbeats in between."""
    hub = stream_hub(runtime)
    if token:
        tenant_id, key_id = hub.check_token(token, dashboard_id)
        tenant = await run_in_threadpool(_token_tenant, runtime, tenant_id, key_id)
    else:
        tenant = await run_in_threadpool(tenant_with(Scope.read), request, runtime)
    dashboard = await run_in_threadpool(runtime.dashboards.get, tenant.tenant_id, dashboard_id)
    feed, client = hub.open(tenant, dashboard_id, filters, dashboard_version(dashboard))
    resume = request.headers.get("last-event-id") or last_event_id
    return EventSourceResponse(
        hub.events(feed, client, resume),
        ping=runtime.settings.stream_heartbeat_seconds,
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        send_timeout=STREAM_SEND_TIMEOUT,  # a client that reads nothing for this long is dropped
        background=BackgroundTask(hub.close_client, feed, client),  # frees the slot even if never started
    )
