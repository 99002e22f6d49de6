from __future__ import annotations

from fastapi import APIRouter, Query, Request, Response

from analytics_engine.api.deps import ReadTenant, RuntimeDep
from analytics_engine.api.openapi import errors, examples
from analytics_engine.exports.schemas import ExportAccepted, ExportCreate, ExportStatus
from analytics_engine.validation import MAX_OFFSET

router = APIRouter(prefix="/v1/exports", tags=["exports"])

_EXAMPLE = {
    "source": {
        "type": "events",
        "events": ["purchase"],
        "start": "2026-01-01T00:00:00Z",
        "where": [{"property": "plan", "value": "pro"}],
        "columns": ["timestamp", "distinct_id", "properties.amount"],
    },
    "format": "csv",
}


_STATUS = {
    "id": "job_3f0c9b1d2e4a4f6b8c0d",
    "status": "succeeded",
    "format": "csv",
    "source_type": "events",
    "rows_written": 1000000,
    "rows_total": 1000000,
    "bytes": 31457280,
    "progress": 1.0,
    "error": None,
    "created_at": "2026-12-07T09:30:00Z",
    "started_at": "2026-12-07T09:30:01Z",
    "finished_at": "2026-12-07T09:30:41Z",
    "expires_at": "2026-12-14T09:30:41Z",
    "download_url": "http://127.0.0.1:3008/v1/files/tn_0d6ff444513e4c4cb915/exports/job_3f0c9b1d2e4a4f6b8c0d.csv"
    "?expires=1765100000&signature=9c1e",
    "download_url_expires_at": "2026-12-07T10:30:41Z",
}


def base_url(request: Request, runtime: RuntimeDep) -> str:
    return runtime.settings.public_url or str(request.base_url).rstrip("/")


@router.post(
    "",
    status_code=202,
    response_model=ExportAccepted,
    summary="Queue an export (raw events, insight, metric or dashboard) to a file",
    openapi_extra=examples(
        request=_EXAMPLE,
        answer={
            "id": "job_3f0c9b1d2e4a4f6b8c0d",
            "status": "queued",
            "status_url": "/v1/exports/job_3f0c9b1d2e4a4f6b8c0d",
        },
        status=202,
    ),
    responses=errors(404),
)
def create_export(body: ExportCreate, tenant: ReadTenant, runtime: RuntimeDep, response: Response) -> ExportAccepted:
    """Queues an export of raw events, an insight, a metric or a dashboard to CSV, JSON lines,
    Parquet or XLSX and answers at once (202) with its id and status URL (also in `Location`)."""
    accepted = runtime.exports.create(tenant, body)
    response.headers["Location"] = accepted.status_url
    return accepted


@router.get(
    "",
    response_model=list[ExportStatus],
    summary="This tenant's exports, newest first",
    openapi_extra=examples(answer=[_STATUS]),
)
def list_exports(
    request: Request,
    tenant: ReadTenant,
    runtime: RuntimeDep,
    limit: int = Query(50, ge=1, le=500),
    offset: int = Query(0, ge=0, le=MAX_OFFSET),
) -> list[ExportStatus]:
    """This tenant's exports, newest first, with state, progress and download links."""
    return runtime.exports.list(tenant.tenant_id, limit=limit, offset=offset, base_url=base_url(request, runtime))


@router.get(
    "/{export_id}",
    response_model=ExportStatus,
    summary="Status, progress and download link",
    openapi_extra=examples(answer=_STATUS),
)
def get_export(export_id: str, request: Request, tenant: ReadTenant, runtime: RuntimeDep) -> ExportStatus:
    """One export's state, progress, size and, once it succeeded, a signed download URL with its
    expiry."""
    return runtime.exports.status(tenant.tenant_id, export_id, base_url=base_url(request, runtime))


@router.delete("/{export_id}", status_code=204, summary="Cancel a queued or running export, or remove a finished one")
def delete_export(export_id: str, tenant: ReadTenant, runtime: RuntimeDep) -> Response:
    """Cancels a queued or running export, or removes a finished one and its file
    (`X-Export-Outcome` says which)."""
    outcome = runtime.exports.delete(tenant.tenant_id, export_id)
    return Response(status_code=204, headers={"X-Export-Outcome": outcome})
