"""Insights: `POST /v1/insights/{kind}` (trends, funnels, retention, engagement) and the people of a
funnel step. Thin: validate the body into the kind's query model, call the engine, return its answer."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Body, Query
from fastapi.responses import Response
from pydantic import BaseModel, Field, ValidationError

from analytics_engine.api.deps import ReadTenant, RuntimeDep
from analytics_engine.errors import InvalidInput, NotFound
from analytics_engine.insights import (
    INSIGHT_KINDS,
    InsightResponse,
    PeoplePage,
    parse_insight_query,
    run_insight_json,
)
from analytics_engine.insights.funnels import FunnelsRunner
from analytics_engine.insights.models import FunnelsQuery
from analytics_engine.validation import MAX_OFFSET

router = APIRouter(prefix="/v1/insights", tags=["insights"])

_EXAMPLE = {
    "series": [{"event": "purchase", "math": "unique_users"}],
    "interval": "day",
    "date_range": {"date_from": "-30d"},
}


def parse_body(body: Any, kind: str | None = None) -> Any:
    """The query model for a JSON body; 422 naming each invalid field."""
    if not isinstance(body, dict):
        raise InvalidInput("the body must be a JSON object (an insight query)", code="invalid_query")
    if kind is not None:
        if kind not in INSIGHT_KINDS:
            raise NotFound(f"No insight kind {kind!r}; kinds: {', '.join(INSIGHT_KINDS)}.")
        if body.get("kind", kind) != kind:
            raise InvalidInput(f"body kind {body.get('kind')!r} does not match the path ({kind})", code="invalid_query")
        body = {**body, "kind": kind}
    elif body.get("kind") not in INSIGHT_KINDS:
        raise InvalidInput(f"'kind' must be one of: {', '.join(INSIGHT_KINDS)}", code="invalid_query")
    try:
        return parse_insight_query(body)
    except ValidationError as exc:
        errors = [
            {"loc": [str(p) for p in e["loc"][1:]], "message": e["msg"].removeprefix("Value error, ")}
            for e in exc.errors()[:20]
        ]
        summary = "; ".join(f"{'.'.join(e['loc']) or 'query'}: {e['message']}" for e in errors[:3])
        raise InvalidInput(
            f"invalid {body.get('kind')} query: {summary}", code="invalid_query", details=errors
        ) from None


class FunnelPeopleRequest(BaseModel):
    query: dict[str, Any] = Field(description="A funnels query (as POST /v1/insights/funnels takes it).")
    step: int = Field(ge=1, le=20, description="1-based step.")
    status: Literal["converted", "dropped"] = Field(
        "dropped", description="dropped: reached the step before but not this one; converted: reached this step."
    )
    limit: int = Field(100, ge=1, le=1000)
    offset: int = Field(0, ge=0, le=MAX_OFFSET)


@router.post("/funnels/people", response_model=PeoplePage, summary="People who converted or dropped off at a step")
def funnel_people(body: FunnelPeopleRequest, tenant: ReadTenant, runtime: RuntimeDep) -> PeoplePage:
    query = parse_body(body.query, "funnels")
    assert isinstance(query, FunnelsQuery)
    return FunnelsRunner(runtime, tenant, query).people(body.step, body.status, body.limit, body.offset)


@router.post("", response_model=InsightResponse, summary="Run an insight query (kind in the body)")
def post_insight(
    tenant: ReadTenant,
    runtime: RuntimeDep,
    body: Any = Body(..., examples=[{"kind": "trends", **_EXAMPLE}]),
    refresh: bool = Query(False, description="Recompute even when a cached answer exists."),
) -> Response:
    return _json(run_insight_json(runtime, tenant, parse_body(body), refresh=refresh))


@router.post("/{kind}", response_model=InsightResponse, summary="Run a trends, funnels, retention or engagement query")
def post_insight_kind(
    kind: str,
    tenant: ReadTenant,
    runtime: RuntimeDep,
    body: Any = Body(..., examples=[_EXAMPLE]),
    refresh: bool = Query(False, description="Recompute even when a cached answer exists."),
) -> Response:
    return _json(run_insight_json(runtime, tenant, parse_body(body, kind), refresh=refresh))


def _json(body: bytes) -> Response:
    """The engine's serialised `InsightResponse`, sent as is (a cache hit is never re-parsed)."""
    return Response(content=body, media_type="application/json")
