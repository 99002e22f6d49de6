"""HTTP ingest: read a body (one event, an array, or NDJSON), validate, group-commit, answer."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
from pydantic import BaseModel

from analytics_engine.errors import BadRequest, PayloadTooLarge
from analytics_engine.ingest.fast_path import fast_accept
from analytics_engine.ingest.group_commit import GroupCommitter
from analytics_engine.ingest.validation import Limits, RejectedEvent, validate_events
from analytics_engine.observability import metrics
from analytics_engine.validation import UtcDateTime
from analytics_engine.warehouse.params import utc_text
from analytics_engine.warehouse.scoped import TenantScope

NDJSON_TYPES = ("application/x-ndjson", "application/ndjson", "application/jsonl")


class Rejection(BaseModel):
    index: int
    reason: str


class IngestResult(BaseModel):
    accepted: int
    rejected: list[Rejection]
    request_id: str | None = None


def is_ndjson(content_type: str) -> bool:
    return content_type.split(";")[0].strip().lower() in NDJSON_TYPES


def parse_body(body: bytes, content_type: str, max_events: int) -> tuple[list[Any], list[RejectedEvent]]:
    """Raw events in order; NDJSON lines that are not JSON become rejections at their position."""
    if not body.strip():
        raise BadRequest("The request body is empty.")
    if is_ndjson(content_type):
        events: list[Any] = []
        broken: list[RejectedEvent] = []
        for position, line in enumerate(line for line in body.split(b"\n") if line.strip()):
            if position >= max_events:
                raise PayloadTooLarge(f"More than {max_events} events in one request.")
            try:
                events.append(orjson.loads(line))
            except orjson.JSONDecodeError as exc:
                events.append(None)
                broken.append(RejectedEvent("", position, f"malformed JSON: {exc}", line[:65536]))
        return events, broken
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"The body is not valid JSON: {exc}") from exc
    if isinstance(parsed, dict):
        return [parsed], []
    if isinstance(parsed, list):
        if len(parsed) > max_events:
            raise PayloadTooLarge(f"More than {max_events} events in one request ({len(parsed)}).")
        return parsed, []
    raise BadRequest("The body must be an event object, an array of events, or NDJSON.")


async def ingest_http(
    committer: GroupCommitter,
    limits: Limits,
    tenant_id: str,
    body: bytes,
    content_type: str,
    max_events: int,
    request_id: str = "",
    suppressed: frozenset[str] | None = None,
) -> IngestResult:
    if suppressed is None:
        suppressed = limits.suppressed(tenant_id)  # one lookup for both paths
    accepted = fast_accept(body, is_ndjson(content_type), tenant_id, limits, max_events, suppressed=suppressed)
    metrics.INGEST_BODIES.labels("general" if accepted is None else "fast").inc()
    if accepted is not None:
        await committer.submit(accepted)
        metrics.EVENTS_ACCEPTED.labels("http").inc(len(accepted))
        return IngestResult(accepted=len(accepted), rejected=[], request_id=request_id or None)
    raw_events, broken = parse_body(body, content_type, max_events)
    broken_positions = {item.position for item in broken}
    outcome = validate_events(
        [raw for position, raw in enumerate(raw_events) if position not in broken_positions],
        tenant_id,
        limits,
        suppressed=suppressed,
    )
    if broken:
        # Validation numbered only the parseable events; map back to positions in the body.
        valid_positions = [p for p in range(len(raw_events)) if p not in broken_positions]
        for item in outcome.rejected:
            item.position = valid_positions[item.position]
        for item in broken:
            item.tenant_id = tenant_id
    rejected = sorted([*outcome.rejected, *broken], key=lambda item: item.position)
    await committer.submit(outcome.accepted, [(item, "http", request_id) for item in rejected])
    metrics.EVENTS_ACCEPTED.labels("http").inc(len(outcome.accepted))
    if rejected:
        metrics.EVENTS_REJECTED.labels("http").inc(len(rejected))
    return IngestResult(
        accepted=len(outcome.accepted),
        rejected=[Rejection(index=item.position, reason=item.reason) for item in rejected],
        request_id=request_id or None,
    )


def count_events(scope: TenantScope, event: str | None, start: datetime | None, end: datetime | None) -> int:
    conditions = ["tenant_id = {tenant_id:String}"]
    params: dict[str, Any] = {}
    if event:
        conditions.append("event = {event:String}")
        params["event"] = event
    if start:
        conditions.append("timestamp >= {start:DateTime64(3, 'UTC')}")
        params["start"] = utc_text(start)
    if end:
        conditions.append("timestamp < {end:DateTime64(3, 'UTC')}")
        params["end"] = utc_text(end)
    sql = f"SELECT count() FROM {scope.table('events')} WHERE {' AND '.join(conditions)}"
    return int(scope.query(sql, params).scalar() or 0)


class RejectedEventPublic(BaseModel):
    received_at: UtcDateTime
    source: str
    request_id: str
    position: int
    reason: str
    payload: str


def list_rejected(scope: TenantScope, limit: int, offset: int) -> list[RejectedEventPublic]:
    result = scope.query(
        "SELECT received_at, source, request_id, position, reason, payload "
        f"FROM {scope.table('rejected_events')} WHERE tenant_id = {{tenant_id:String}} "
        "ORDER BY received_at DESC, position LIMIT {limit:UInt32} OFFSET {offset:UInt32}",
        {"limit": limit, "offset": offset},
    )
    return [RejectedEventPublic(**row) for row in result.dicts()]
