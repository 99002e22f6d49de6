"""Insights: `POST /v1/insights/{kind}` (trends, funnels, retention, engagement) and the people of a
funnel step. Thin: validate the body into the kind's query model, call the engine, return its answer."""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from fastapi import APIRouter, Body, Path, Query
from fastapi.responses import Response
from pydantic import BaseModel, Field, ValidationError

from analytics_engine.api.deps import ReadTenant, RuntimeDep
from analytics_engine.api.openapi import component, errors, examples
from analytics_engine.errors import BadRequest, InvalidInput, NotFound, field_errors, summarize
from analytics_engine.insights import InsightResponse, PeoplePage, registry
from analytics_engine.insights.context import RunContext
from analytics_engine.insights.funnels import FunnelsRunner
from analytics_engine.insights.models import FunnelsQuery
from analytics_engine.validation import MAX_OFFSET

router = APIRouter(prefix="/v1/insights", tags=["insights"])

# One example per kind (the body of /v1/insights/{kind}; /v1/insights takes the same with `kind`).
EXAMPLES: dict[str, dict[str, Any]] = {
    "trends": {
        "series": [{"event": "purchase", "math": "unique_users"}],
        "interval": "day",
        "date_range": {"date_from": "-30d"},
        "breakdown": [{"type": "property", "property": "plan"}],
    },
    "funnels": {
        "steps": [{"event": "signup"}, {"event": "activated"}, {"event": "purchase"}],
        "conversion_window": {"value": 14, "unit": "day"},
        "date_range": {"date_from": "-30d"},
    },
    "retention": {
        "start_event": {"event": "signup"},
        "return_event": {"event": "pageview"},
        "period": "week",
        "periods": 8,
        "date_range": {"date_from": "-90d"},
    },
    "engagement": {"measure": "active_users", "interval": "day", "date_range": {"date_from": "-30d"}},
}
_ANSWER = {
    "kind": "trends",
    "timezone": "Europe/Oslo",
    "date_from": "2026-11-07T00:00:00+01:00",
    "date_to": "2026-12-07T00:00:00+01:00",
    "interval": "day",
    "served_by": "rollup",
    "cached": False,
    "computed_at": "2026-12-07T09:30:00Z",
    "series": [
        {
            "label": "purchase (unique users)",
            "breakdown_value": ["pro"],
            "points": [{"label": "2026-12-06", "value": 41, "bucket": "2026-12-06"}],
            "total": 812,
        }
    ],
}


def insight_kinds() -> dict[str, Any]:
    return {name: kind for name, kind in registry.kinds().items() if kind.insight_api}


def _query_union() -> Any:
    """Every kind's query model, discriminated by `kind` (from the registry: a new kind appears here)."""
    models = tuple(kind.query_model for kind in insight_kinds().values())
    return Annotated[Union[models], Field(discriminator="kind")]  # noqa: UP007 - built from a tuple


def _named_examples(with_kind: bool) -> dict[str, Any]:
    return {
        name: {"summary": f"a {name} query", "value": {"kind": name, **body} if with_kind else body}
        for name, body in EXAMPLES.items()
    }


_BODY_WITH_KIND = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": component("InsightQuery", _query_union()),
                "examples": _named_examples(with_kind=True),
            }
        },
    },
    **examples(answer=_ANSWER),
}
_BODY_OF_KIND = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "anyOf": [
                        {"$ref": f"#/components/schemas/{kind.query_model.__name__}"}
                        for kind in insight_kinds().values()
                    ],
                    "description": "The query of the kind named in the path (`kind` may be left out).",
                },
                "examples": _named_examples(with_kind=False),
            }
        },
    },
    **examples(answer=_ANSWER),
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
    kinds = insight_kinds()
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


@router.post(
    "/funnels/people",
    response_model=PeoplePage,
    summary="People who converted or dropped off at a step",
    openapi_extra=examples(
        request={"query": {"kind": "funnels", **EXAMPLES["funnels"]}, "step": 2, "status": "dropped", "limit": 100},
        answer={"people": ["u-17"], "step": 2, "status": "dropped", "limit": 100, "offset": 0, "has_more": False},
    ),
)
def funnel_people(body: FunnelPeopleRequest, tenant: ReadTenant, runtime: RuntimeDep) -> PeoplePage:
    """The distinct ids of a funnel step: `dropped` reached the step before but not this one within
    the window, `converted` reached this one. Paged by `limit` and `offset`."""
    query = parse_body(body.query, "funnels")
    assert isinstance(query, FunnelsQuery)
    return FunnelsRunner(runtime, tenant, query).people(body.step, body.status, body.limit, body.offset)


@router.post(
    "",
    response_model=InsightResponse,
    summary="Run an insight query (kind in the body)",
    responses=errors(404),
    openapi_extra=_BODY_WITH_KIND,
)
def post_insight(
    tenant: ReadTenant,
    runtime: RuntimeDep,
    body: Any = Body(..., include_in_schema=False),
    refresh: bool = Query(False, description="Recompute even when a cached answer exists."),
) -> Response:
    """Runs one query of any kind (trends, funnels, retention, engagement; `kind` says which, and the
    schema of each is in `InsightQuery`). Answers from a rollup or pre-aggregation when one can serve
    it, else from raw events; a cached answer unless `refresh=true`. 422 `invalid_query` names each
    invalid field."""
    return _json(registry.run_json(RunContext(runtime, tenant, refresh), parse_body(body)))


@router.post(
    "/{kind}",
    response_model=InsightResponse,
    summary="Run a trends, funnels, retention or engagement query",
    openapi_extra=_BODY_OF_KIND,
)
def post_insight_kind(
    kind: Annotated[str, Path(description="The insight kind.", json_schema_extra={"enum": list(insight_kinds())})],
    tenant: ReadTenant,
    runtime: RuntimeDep,
    body: Any = Body(..., include_in_schema=False),
    refresh: bool = Query(False, description="Recompute even when a cached answer exists."),
) -> Response:
    """The query of the kind in the path (`trends`, `funnels`, `retention`, `engagement`); the body may
    leave out `kind`. An unknown kind is a 404; otherwise as `POST /v1/insights`."""
    return _json(registry.run_json(RunContext(runtime, tenant, refresh), parse_body(body, kind)))


def _json(body: bytes) -> Response:
    """The engine's serialised `InsightResponse`, sent as is (a cache hit is never re-parsed)."""
    return Response(content=body, media_type="application/json")
