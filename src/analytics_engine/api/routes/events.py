from __future__ import annotations

from fastapi import APIRouter, Query, Request

from analytics_engine.api.deps import IngestTenant, ReadTenant, RuntimeDep
from analytics_engine.api.openapi import examples
from analytics_engine.errors import PayloadTooLarge
from analytics_engine.ingest.service import (
    IngestResult,
    RejectedEventPublic,
    count_events,
    ingest_http,
    list_rejected,
)
from analytics_engine.validation import MAX_OFFSET, WarehouseDateTime

router = APIRouter(prefix="/v1/events", tags=["events"])

_EVENT_EXAMPLE = {
    "event": "signup",
    "distinct_id": "user-1",
    "event_id": "0b9e4a3c-6a4f-4c55-9a51-3f1f4f7b9d10",
    "properties": {"plan": "pro"},
}
# Each event is checked on its own: one that breaks these rules is listed in `rejected`, the others land.
_EVENT_SCHEMA = {
    "type": "object",
    "properties": {
        "event": {"type": "string", "description": "The event's name (required, non-empty)."},
        "distinct_id": {"type": "string", "description": "Who did it (required)."},
        "timestamp": {"type": "string", "description": "ISO 8601 (or epoch seconds/milliseconds); default now."},
        "event_id": {
            "type": "string",
            "format": "uuid",
            "description": "A client id: an event sent again with the same id is stored once (safe retries).",
        },
        "properties": {"type": "object", "description": "Any JSON properties."},
    },
}


async def read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"The body is larger than {limit} bytes.")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"The body is larger than {limit} bytes.")
        chunks.append(chunk)
    return b"".join(chunks)


@router.post(
    "",
    response_model=IngestResult,
    summary="Send events: one object, a JSON array, or NDJSON (application/x-ndjson)",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {"anyOf": [_EVENT_SCHEMA, {"type": "array", "items": _EVENT_SCHEMA}]},
                    "example": [_EVENT_EXAMPLE, {"event": "", "distinct_id": "user-2"}],
                },
                "application/x-ndjson": {"schema": {"type": "string"}},
            },
        },
        **examples(
            answer={
                "accepted": 1,
                "rejected": [{"index": 1, "reason": "'event' is required and must be a non-empty string"}],
                "request_id": "f7779757fc7a4e1b95bdd61662af38f4",
            }
        )["responses"],
    },
)
async def post_events(request: Request, tenant: IngestTenant, runtime: RuntimeDep) -> IngestResult:
    """Answers once every accepted event is in the warehouse. Rejected events are listed with their
    index and reason and kept in `GET /v1/events/rejected`; the others in the request still land."""
    body = await read_body(request, runtime.settings.ingest_max_body_bytes)
    return await ingest_http(
        request.app.state.committer,
        runtime.limits,
        tenant.tenant_id,
        body,
        request.headers.get("content-type", "application/json"),
        runtime.settings.ingest_max_events_per_request,
        request.state.request_id,
    )


@router.get("/count", summary="Count this tenant's events, optionally by name and time range")
def get_count(
    tenant: ReadTenant,
    runtime: RuntimeDep,
    event: str | None = Query(None, description="Event name; all events when omitted."),
    start: WarehouseDateTime | None = Query(None, alias="from", description="Inclusive start (ISO 8601)."),
    end: WarehouseDateTime | None = Query(None, alias="to", description="Exclusive end (ISO 8601)."),
) -> dict[str, int | str | None]:
    """Counts this tenant's events, optionally of one name and in `[from, to)`. Counts events as
    stored (a duplicate event id counts once after the table's merge)."""
    count = count_events(runtime.warehouse.for_tenant(tenant), event, start, end)
    return {"count": count, "event": event}


@router.get("/rejected", response_model=list[RejectedEventPublic], summary="Events refused at ingest")
def get_rejected(
    tenant: ReadTenant,
    runtime: RuntimeDep,
    limit: int = Query(100, ge=1, le=1000),
    offset: int = Query(0, ge=0, le=MAX_OFFSET),
) -> list[RejectedEventPublic]:
    """Events refused at ingest (HTTP or NATS), newest first, with the reason and the payload as
    received, so a sender can fix and resend them."""
    return list_rejected(runtime.warehouse.for_tenant(tenant), limit, offset)
