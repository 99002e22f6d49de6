"""Insights: `POST /v1/insights/{kind}` (trends, funnels, retention, engagement, paths), the people of a
funnel step, of a retention cell and of a path node or link.
Thin: validate the body into the kind's query model, call the engine, return its answer."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal, Union

from fastapi import APIRouter, Body, Path, Query
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from analytics_engine.api.deps import ReadTenant, RuntimeDep
from analytics_engine.api.openapi import component, errors, examples
from analytics_engine.errors import BadRequest, InvalidInput, NotFound, field_errors, summarize
from analytics_engine.insights import InsightResponse, PeoplePage, registry
from analytics_engine.insights.context import RunContext
from analytics_engine.insights.correlation import (
    CorrelationOptions,
    CorrelationPeoplePage,
    CorrelationResult,
    FunnelCorrelationRunner,
)
from analytics_engine.insights.funnels import FunnelsRunner
from analytics_engine.insights.models import MAX_PERIODS, FunnelsQuery, PathsQuery, RetentionQuery
from analytics_engine.insights.paths import PathsRunner
from analytics_engine.insights.results import PathPeoplePage, PathsResult, RetentionPeoplePage
from analytics_engine.insights.retention import RetentionRunner
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
# Group properties (docs/groups.md): a filter and a breakdown on the `$group_set` of the event's company.
GROUP_EXAMPLES: dict[str, tuple[str, dict[str, Any]]] = {
    "trends by a group property": (
        "trends",
        {
            "series": [{"event": "session_booked", "math": "unique_users"}],
            "interval": "week",
            "date_range": {"date_from": "-90d"},
            "breakdown": [{"type": "group", "group_type": "company", "property": "industry"}],
            "aggregation": {"group": "company"},
        },
    ),
    "funnels filtered on a group property": (
        "funnels",
        {
            "steps": [{"event": "signup"}, {"event": "session_booked"}],
            "date_range": {"date_from": "-30d"},
            "filters": [
                {"type": "group", "group_type": "company", "key": "industry", "operator": "eq", "value": "energy"}
            ],
        },
    ),
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
    named = {
        name: {"summary": f"a {name} query", "value": {"kind": name, **body} if with_kind else body}
        for name, body in EXAMPLES.items()
    }
    for name, (kind, body) in GROUP_EXAMPLES.items():
        key = name.replace(" ", "_")
        named[key] = {"summary": name, "value": {"kind": kind, **body} if with_kind else body}
    return named


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


class RetentionPeopleRequest(BaseModel):
    query: dict[str, Any] = Field(description="A retention query (as POST /v1/insights/retention takes it).")
    cohort: date = Field(description="The cohort row's `date` (the first day of its period).")
    period: int = Field(ge=0, le=MAX_PERIODS, description="0: the whole cohort; n: those who came back in period n.")
    breakdown_value: list[str] | None = Field(
        None, max_length=10, description='With a breakdown: the row\'s `breakdown_value` (`["$other"]` too).'
    )
    limit: int = Field(100, ge=1, le=1000)
    offset: int = Field(0, ge=0, le=MAX_OFFSET)


@router.post(
    "/retention/people",
    response_model=RetentionPeoplePage,
    summary="People of a retention cell: a cohort, or those of it who came back in a period",
    responses=errors(404),
    openapi_extra=examples(
        request={
            "query": {"kind": "retention", **EXAMPLES["retention"]},
            "cohort": "2026-11-02",
            "period": 2,
            "limit": 100,
        },
        answer={
            "people": ["u-17", "u-23"],
            "cohort": "2026-11-02",
            "period": 2,
            "breakdown_value": None,
            "limit": 100,
            "offset": 0,
            "has_more": False,
        },
    ),
)
def retention_people(body: RetentionPeopleRequest, tenant: ReadTenant, runtime: RuntimeDep) -> RetentionPeoplePage:
    """The distinct ids behind one cell of the retention matrix (sorted, paged): period 0 is the
    cohort itself, period n those of it who did the return event in its n-th period; the same people
    the matrix counts. 422 for a cohort that is not one of the query's periods."""
    query = parse_body(body.query, "retention")
    assert isinstance(query, RetentionQuery)
    return RetentionRunner(runtime, tenant, query).people(
        body.cohort, body.period, body.breakdown_value, body.limit, body.offset
    )


_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"description": "A cohort the query names does not exist (`not_found`)."},
    422: {"description": "Invalid query (`invalid_query`, with each invalid field in `details`)."},
    429: {"description": "The tenant's query budget is spent (`budget_exceeded`, with `Retry-After`)."},
    504: {"description": "The query ran past its time limit (`query_timeout`)."},
}
_FUNNEL_EXAMPLE: dict[str, Any] = {
    "steps": [{"event": "signup"}, {"event": "purchase"}],
    "conversion_window": {"value": 14, "unit": "day"},
    "date_range": {"date_from": "-30d"},
}


class FunnelCorrelationRequest(CorrelationOptions):
    query: dict[str, Any] = Field(description="A funnels query (as POST /v1/insights/funnels takes it).")

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"query": _FUNNEL_EXAMPLE, "properties": ["plan"], "exclude_events": ["heartbeat"], "min_people": 25}
            ]
        }
    )

    def parts(self) -> tuple[FunnelsQuery, CorrelationOptions]:
        query = parse_body(self.query, "funnels")
        assert isinstance(query, FunnelsQuery)
        return query, CorrelationOptions.model_validate(
            self.model_dump(exclude={"query", "status", "event", "property", "value", "limit_people", "offset"})
        )


class CorrelationPeopleRequest(FunnelCorrelationRequest):
    status: Literal["converted", "dropped"] = Field(description="The row's people who converted, or who dropped off.")
    event: str | None = Field(None, min_length=1, max_length=200, description="An event row.")
    property: str | None = Field(None, min_length=1, max_length=200, description="A property row (with `value`).")
    value: str | None = Field(None, max_length=1000)
    limit_people: int = Field(100, ge=1, le=1000, description="Page size.")
    offset: int = Field(0, ge=0, le=MAX_OFFSET)

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"query": _FUNNEL_EXAMPLE, "event": "watched_video", "status": "converted", "limit_people": 100}
            ]
        }
    )


@router.post(
    "/funnels/correlation",
    response_model=CorrelationResult,
    summary="Funnel correlation: events and property values that go with converting or dropping off",
    responses=_ERRORS,
)
def funnel_correlation(
    body: FunnelCorrelationRequest,
    tenant: ReadTenant,
    runtime: RuntimeDep,
    refresh: bool = Query(False, description="Recompute even when a cached answer exists."),
) -> Response:
    """Per event (not a step, not excluded) and per value of each listed property (on the person's
    entry event): how many converting and dropping people have it, the odds ratio of converting with
    it (prior 1 per cell), a two-sided test on its log (p-value, `significant` at `alpha`); rows with
    fewer than `min_people` people are left out. Strongest first. Rules: docs/insights.md."""
    query, options = body.parts()
    return _json(FunnelCorrelationRunner(runtime, tenant, query, options).run_json(refresh=refresh))


@router.post(
    "/funnels/correlation/people",
    response_model=CorrelationPeoplePage,
    summary="The people behind one funnel correlation row",
    responses=_ERRORS,
)
def funnel_correlation_people(
    body: CorrelationPeopleRequest, tenant: ReadTenant, runtime: RuntimeDep
) -> CorrelationPeoplePage:
    """Distinct ids (sorted, paged) of those who converted (or dropped off) and did `event` within
    their window, or whose entry event had `property` = `value`."""
    query, options = body.parts()
    runner = FunnelCorrelationRunner(runtime, tenant, query, options)
    return runner.correlation_people(
        body.status,
        event=body.event,
        prop=body.property,
        value=body.value,
        limit=body.limit_people,
        offset=body.offset,
    )


_PATHS_EXAMPLE: dict[str, Any] = {
    "start_event": "signup",
    "steps": 5,
    "exclude_events": ["heartbeat"],
    "path_cleaning": [{"regex": "^view_product_\\d+$", "alias": "view_product"}],
    "nodes_per_step": 10,
    "date_range": {"date_from": "-30d"},
}


@router.post(
    "/paths",
    response_model=PathsResult,
    summary="Paths (user flows): nodes and links of a Sankey",
    responses=_ERRORS,
)
def post_paths(
    tenant: ReadTenant,
    runtime: RuntimeDep,
    body: Any = Body(..., examples=[_PATHS_EXAMPLE]),
    refresh: bool = Query(False, description="Recompute even when a cached answer exists."),
) -> Response:
    """The sequences of events people go through, from a start event and/or towards an end event, in
    `steps` columns: per column the `nodes_per_step` busiest (cleaned) event names, the rest folded into
    `$other`; links between consecutive columns with people and the average and median time between
    them. Rules: docs/insights.md, Paths."""
    return _json(registry.run_json(RunContext(runtime, tenant, refresh), parse_body(body, "paths")))


class PathPeopleRequest(BaseModel):
    query: dict[str, Any] = Field(description="A paths query (as POST /v1/insights/paths takes it).")
    step: int = Field(ge=1, le=20, description="1-based column of the node (of the link's source).")
    name: str = Field(min_length=1, max_length=200, description="The node's name as the answer shows it ($other too).")
    next_name: str | None = Field(
        None, min_length=1, max_length=200, description="With it: the people on the link to this node at step + 1."
    )
    limit: int = Field(100, ge=1, le=1000)
    offset: int = Field(0, ge=0, le=MAX_OFFSET)

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"query": _PATHS_EXAMPLE, "step": 1, "name": "signup", "next_name": "pageview", "limit": 100}]
        }
    )


@router.post(
    "/paths/people",
    response_model=PathPeoplePage,
    summary="People at a path node or on a path link",
    responses=_ERRORS,
)
def path_people(body: PathPeopleRequest, tenant: ReadTenant, runtime: RuntimeDep) -> PathPeoplePage:
    """Distinct ids (sorted, paged) of the people whose path has `name` at `step` (and `next_name` at
    step + 1 when given), names folded as the paths answer folds them."""
    query = parse_body(body.query, "paths")
    assert isinstance(query, PathsQuery)
    return PathsRunner(runtime, tenant, query).people(body.step, body.name, body.next_name, body.limit, body.offset)


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
