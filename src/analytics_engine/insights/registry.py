"""The one registry of insight kinds: every consumer (API, metrics, dashboards, exports, reports;
next alerts, SQL, AI) parses, runs and reads results through it.

A kind registers its name, its query model (pydantic), its runner (query model + `RunContext` ->
typed result), its typed result class (`insights/results.py`: table, chart spec, JSON) and which
caller overrides it accepts (`insights/context.py`). Adding a kind means writing its module and one
`register(...)` line below; nothing else changes (tests/insights/test_registry.py shows it).

    model = parse_query({"kind": "trends", "series": [{"event": "signup"}]})
    result = run(RunContext(runtime, tenant), model)          # a TrendsResult
    result.to_tables("Signups"), result.to_chart(), result.model_dump(mode="json")
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson
from pydantic import BaseModel, ValidationError

from analytics_engine.errors import InvalidInput
from analytics_engine.insights.context import ALL_OVERRIDES, Override, Overrides, RunContext
from analytics_engine.insights.results import InsightResponse, SeriesResult

if TYPE_CHECKING:
    from analytics_engine.insights.base import InsightRunner

Runner = Callable[[RunContext, Any], InsightResponse]
JsonRunner = Callable[[RunContext, Any], bytes]


@dataclass(frozen=True)
class InsightKind:
    name: str
    query_model: type[BaseModel]
    run: Runner
    result: type[SeriesResult]
    accepts: Collection[Override] = ALL_OVERRIDES
    # Served by the insight routes (/v1/insights); impact figures have their own routes (/v1/impact).
    insight_api: bool = True
    # Relative cost, so a dashboard runs cheap widgets first.
    cost: int = 1
    # The answer as JSON bytes without building the model (a cache hit is served as stored);
    # None: serialise the typed result.
    run_json: JsonRunner | None = None


_KINDS: dict[str, InsightKind] = {}


def register(kind: InsightKind) -> InsightKind:
    _KINDS[kind.name] = kind
    return kind


def unregister(name: str) -> None:
    _KINDS.pop(name, None)


def kinds() -> dict[str, InsightKind]:
    return dict(_KINDS)


def get(name: str) -> InsightKind:
    try:
        return _KINDS[name]
    except KeyError:
        raise InvalidInput(f"an insight query needs 'kind', one of: {', '.join(_KINDS)}") from None


def parse_query(query: dict[str, Any]) -> BaseModel:
    """The kind's query model for `query`; 422 with the model's messages when it is invalid."""
    if not isinstance(query, dict) or query.get("kind") not in _KINDS:
        raise InvalidInput(f"an insight query needs 'kind', one of: {', '.join(_KINDS)}")
    kind = _KINDS[query["kind"]]
    try:
        return kind.query_model.model_validate(query)
    except ValidationError as exc:
        raise InvalidInput.from_validation(f"invalid {kind.name} query", exc.errors()) from exc


def validate_query(query: dict[str, Any]) -> dict[str, Any]:
    """The query normalised by its kind's model (defaults filled), as JSON."""
    return parse_query(query).model_dump(mode="json", exclude_none=True)


def with_overrides(query: dict[str, Any], overrides: Overrides) -> dict[str, Any]:
    """A copy of `query` with the overrides its kind accepts applied."""
    kind = _KINDS.get(query.get("kind", "")) if isinstance(query, dict) else None
    return overrides.apply(query, kind.accepts if kind else ALL_OVERRIDES)


def run(ctx: RunContext, model: Any) -> SeriesResult:
    """Compute a parsed query (cache, budgets and tenant scope are the runner's); the typed result."""
    kind = get(model.kind)
    answer = kind.run(ctx, model)
    return answer if isinstance(answer, kind.result) else kind.result.model_validate(answer.model_dump())


def run_json(ctx: RunContext, model: Any) -> bytes:
    """The answer as the API's JSON bytes (the kind's fast path when it has one)."""
    kind = get(model.kind)
    if kind.run_json is not None:
        return kind.run_json(ctx, model)
    return orjson.dumps(run(ctx, model).model_dump(mode="json"))


def run_query(ctx: RunContext, query: dict[str, Any]) -> SeriesResult:
    return run(ctx, parse_query(query))


def result_from_json(data: dict[str, Any]) -> SeriesResult:
    """The typed result for a JSON answer (a cached widget, a stored metric answer), by its `kind`."""
    kind = _KINDS.get(data.get("kind", ""))
    return (kind.result if kind else SeriesResult).model_validate(data)


def engine_kind(
    name: str,
    query_model: type[BaseModel],
    runner_class: type[InsightRunner[Any]],
    result: type[SeriesResult],
    **options: Any,
) -> InsightKind:
    """A kind computed by an `InsightRunner` subclass (insights/base.py: cache, budgets, timing)."""

    def run_one(ctx: RunContext, model: Any) -> InsightResponse:
        return runner_class(ctx.runtime, ctx.tenant, model).run(refresh=ctx.refresh)

    def run_one_json(ctx: RunContext, model: Any) -> bytes:
        return runner_class(ctx.runtime, ctx.tenant, model).run_json(refresh=ctx.refresh)

    return InsightKind(name, query_model, run_one, result, run_json=run_one_json, **options)


def _register_builtin() -> None:
    from analytics_engine.insights.engagement import EngagementRunner
    from analytics_engine.insights.funnels import FunnelsRunner
    from analytics_engine.insights.impact import ImpactMetricQuery, run_impact
    from analytics_engine.insights.models import EngagementQuery, FunnelsQuery, PathsQuery, RetentionQuery, TrendsQuery
    from analytics_engine.insights.paths import PathsRunner
    from analytics_engine.insights.results import (
        EngagementResult,
        FunnelsResult,
        ImpactResult,
        PathsResult,
        RetentionResult,
        TrendsResult,
    )
    from analytics_engine.insights.retention import RetentionRunner
    from analytics_engine.insights.sql import SqlQuery, SqlResult, run_sql
    from analytics_engine.insights.trends import TrendsRunner

    no_interval = ALL_OVERRIDES - {"interval"}
    register(engine_kind("trends", TrendsQuery, TrendsRunner, TrendsResult, cost=0))
    register(engine_kind("funnels", FunnelsQuery, FunnelsRunner, FunnelsResult, accepts=no_interval, cost=2))
    register(engine_kind("retention", RetentionQuery, RetentionRunner, RetentionResult, accepts=no_interval, cost=2))
    register(engine_kind("engagement", EngagementQuery, EngagementRunner, EngagementResult, accepts=no_interval))
    no_breakdown = no_interval - {"breakdown"}
    register(engine_kind("paths", PathsQuery, PathsRunner, PathsResult, accepts=no_breakdown, cost=2))
    register(
        InsightKind(
            "impact",
            ImpactMetricQuery,
            lambda ctx, model: run_impact(ctx.runtime, ctx.tenant, model, refresh=ctx.refresh),
            ImpactResult,
            {"date_range"},
            insight_api=False,
        )
    )
    # Saved restricted SQL (POST /v1/query runs it ad hoc); the query is fixed, no override applies.
    register(InsightKind("sql", SqlQuery, run_sql, SqlResult, frozenset(), insight_api=False, cost=2))


_register_builtin()
