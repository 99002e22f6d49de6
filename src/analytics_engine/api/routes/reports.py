from __future__ import annotations

import asyncio

from fastapi import APIRouter, Query, Response

from analytics_engine.api.deps import AdminTenant, ReadTenant, RuntimeDep
from analytics_engine.api.openapi import errors, examples
from analytics_engine.reports.schemas import ReportCreate, ReportPublic, ReportRunPublic, ReportUpdate

router = APIRouter(prefix="/v1/reports", tags=["reports"])

_EXAMPLE = {
    "name": "Weekly growth",
    "queries": [
        {"title": "Signups per day", "query": {"kind": "trends", "series": [{"event": "signup"}], "interval": "day"}}
    ],
    "filters": {"date_from": "-7d"},
    "schedule": "0 8 * * MON",
    "formats": ["pdf", "xlsx"],
    "recipients": {"emails": ["team@example.com"], "webhooks": [{"url": "https://example.com/hooks/reports"}]},
}
_background: set[asyncio.Task[object]] = set()


@router.post(
    "",
    status_code=201,
    response_model=ReportPublic,
    summary="Create a report (dashboard or queries, schedule, formats, recipients)",
    openapi_extra={"requestBody": {"content": {"application/json": {"example": _EXAMPLE}}}},
    responses=errors(404),
)
def create_report(body: ReportCreate, tenant: AdminTenant, runtime: RuntimeDep) -> ReportPublic:
    """Creates a report over a dashboard or a list of queries and metrics, with filters, a cron
    schedule in a time zone, formats (PDF, XLSX, CSV) and recipients (e-mail, webhooks checked by the
    outgoing-HTTP guard: an internal address is 422 `url_not_allowed`)."""
    return runtime.reports.create(tenant, body)


@router.get("", response_model=list[ReportPublic], summary="This tenant's reports")
def list_reports(tenant: AdminTenant, runtime: RuntimeDep) -> list[ReportPublic]:
    """This tenant's reports with their schedule and next run time."""
    return runtime.reports.list(tenant.tenant_id)


@router.get("/{report_id}", response_model=ReportPublic, summary="One report")
def get_report(report_id: str, tenant: AdminTenant, runtime: RuntimeDep) -> ReportPublic:
    """One report definition."""
    return runtime.reports.get(tenant.tenant_id, report_id)


@router.patch(
    "/{report_id}",
    response_model=ReportPublic,
    summary="Change a report",
    openapi_extra=examples(request={"schedule": "0 7 * * MON", "formats": ["pdf"]}),
)
def update_report(report_id: str, body: ReportUpdate, tenant: AdminTenant, runtime: RuntimeDep) -> ReportPublic:
    """Changes a report; fields left out keep their value, `null` clears `dashboard_id`, `schedule`
    or `timezone`."""
    return runtime.reports.update(tenant, report_id, body)


@router.delete("/{report_id}", status_code=204, summary="Delete a report and its schedule")
def delete_report(report_id: str, tenant: AdminTenant, runtime: RuntimeDep) -> Response:
    """Deletes a report and its schedule; its past runs' files expire as usual."""
    runtime.reports.delete(tenant.tenant_id, report_id)
    return Response(status_code=204)


@router.post(
    "/{report_id}/run",
    response_model=ReportRunPublic,
    status_code=202,
    summary="Run a report now (wait=true: answer when it is delivered)",
)
async def run_report(
    report_id: str, tenant: AdminTenant, runtime: RuntimeDep, response: Response, wait: bool = False
) -> ReportRunPublic:
    """Runs a report now (202 with the run, a job); `wait=true` answers when it is delivered."""
    service = runtime.reports
    run_id = await asyncio.to_thread(service.start_run, tenant.tenant_id, report_id, "manual")
    # The run is a `report` job; run it here at once (any runner that claims it first runs it instead).
    work = asyncio.ensure_future(asyncio.to_thread(service.run, report_id, "manual", run_id))
    if wait:
        response.status_code = 200
        return await work
    _background.add(work)
    work.add_done_callback(_background.discard)
    return await asyncio.to_thread(service.get_run, tenant.tenant_id, report_id, run_id)


@router.get("/{report_id}/runs", response_model=list[ReportRunPublic], summary="Runs of a report, newest first")
def list_runs(
    report_id: str, tenant: ReadTenant, runtime: RuntimeDep, limit: int = Query(50, ge=1, le=500)
) -> list[ReportRunPublic]:
    """A report's runs, newest first: state, files, deliveries."""
    return runtime.reports.runs(tenant.tenant_id, report_id, limit)


@router.get("/{report_id}/runs/{run_id}", response_model=ReportRunPublic, summary="One run")
def get_run(report_id: str, run_id: str, tenant: ReadTenant, runtime: RuntimeDep) -> ReportRunPublic:
    """One run with its files' signed links and each delivery's outcome."""
    return runtime.reports.get_run(tenant.tenant_id, report_id, run_id)
