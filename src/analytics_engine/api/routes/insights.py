"""Insights: `POST /v1/insights/{kind}` (trends, funnels, retention, engagement) and the people of a
funnel step. Thin: validate the body into the kind's query model, call the engine, return its answer."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Body, Query
from fastapi.responses import Response
from pydantic import BaseModel, Field, ValidationError

from analytics_engine.api.deps import ReadTenant, RuntimeDep
from analytics_engine.errors import BadRequest, InvalidInput, NotFound, field_errors, summarize
from analytics_engine.insights import InsightResponse, PeoplePage, registry
from analytics_engine.insights.context import RunContext
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
    if isinstance(body, bytes | str):
        raise BadRequest("The body is not JSON: send the insight query with 'Content-Type: application/json'.")
    if not isinstance(body, dict):
        raise InvalidInput(
            f"the body must be one insight query (a JSON object), not a JSON {type(body).__name__}",
            code="invalid_query",
        )
    kinds = {name: k for name, k in registry.kinds().items() if k.insight_api}
    if kind is not None:
        if kind not in kinds:
            raise NotFound(f"No insight kind {kind!r}; kinds: {', '.join(kinds)}.")
        if body.get("kind", kind) != kind:
            raise InvalidInput(f"body kind {body.get('kind')!r} does not match the path ({kind})", code="invalid_query")
        body = {**body, "kind": kind}
    elif body.get("kind") not in kinds:
        raise InvalidInput(f"'kind' must be one of: {', '.join(kinds)}", code="invalid_query")
    try:
        return kinds[body["kind"]].query_model.model_validate(body)
    except ValidationError as exc:
        summary = summarize(field_errors(exc.errors()))
        raise InvalidInput.from_validation(
            f"invalid {body.get('kind')} query: {summary}", exc.errors(), code="invalid_query"
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
    return _json(registry.run_json(RunContext(runtime, tenant, refresh), parse_body(body)))


@router.post("/{kind}", response_model=InsightResponse, summary="Run a trends, funnels, retention or engagement query")
def post_insight_kind(
    kind: str,
    tenant: ReadTenant,
    runtime: RuntimeDep,
    body: Any = Body(..., examples=[_EXAMPLE]),
    refresh: bool = Query(False, description="Recompute even when a cached answer exists."),
) -> Response:
    return _json(registry.run_json(RunContext(runtime, tenant, refresh), parse_body(body, kind)))


def _json(body: bytes) -> Response:
    """The engine's serialised `InsightResponse`, sent as is (a cache hit is never re-parsed)."""
    return Response(content=body, media_type="application/json")
