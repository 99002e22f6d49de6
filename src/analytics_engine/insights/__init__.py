"""The insight engine: one entry point for every consumer (API, dashboards, metrics, exports, reports).

    from analytics_engine.insights import parse_insight_query, run_insight
    answer = run_insight(runtime, tenant, parse_insight_query({"kind": "trends", "series": [...]}))

`INSIGHT_KINDS` maps each engine kind to its runner class (benchmarks and tests run runners
directly); every consumer goes through `insights/registry.py`, the one registry of kinds (impact
included), which returns typed results (docs/architecture.md). See docs/insights.md for every query
model.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from analytics_engine.insights.base import SQL, InsightRunner
from analytics_engine.insights.models import (
    EngagementQuery,
    FunnelsQuery,
    InsightQuery,
    RetentionQuery,
    TrendsQuery,
    parse_insight_query,
)
from analytics_engine.insights.results import InsightResponse, PeoplePage
from analytics_engine.insights.trends import TrendsRunner

if TYPE_CHECKING:
    from analytics_engine.runtime import Runtime

INSIGHT_KINDS: dict[str, type[InsightRunner[Any]]] = {
    "trends": TrendsRunner,
}


def _register() -> None:
    from analytics_engine.insights.engagement import EngagementRunner
    from analytics_engine.insights.funnels import FunnelsRunner
    from analytics_engine.insights.paths import PathsRunner
    from analytics_engine.insights.retention import RetentionRunner

    INSIGHT_KINDS.update(
        {"funnels": FunnelsRunner, "retention": RetentionRunner, "engagement": EngagementRunner, "paths": PathsRunner}
    )


_register()


def runner_for(runtime: Runtime, tenant: Any, query: Any, **kwargs: Any) -> InsightRunner[Any]:
    return INSIGHT_KINDS[query.kind](runtime, tenant, query, **kwargs)


def run_insight(runtime: Runtime, tenant: Any, query: Any, *, refresh: bool = False) -> InsightResponse:
    """Compute (or fetch from the cache) one insight for `tenant` (a TenantContext)."""
    return runner_for(runtime, tenant, query).run(refresh=refresh)


def run_insight_json(runtime: Runtime, tenant: Any, query: Any, *, refresh: bool = False) -> bytes:
    """The same answer as JSON bytes (a cache hit is returned without parsing: the API's fast path)."""
    return runner_for(runtime, tenant, query).run_json(refresh=refresh)


__all__ = [
    "INSIGHT_KINDS",
    "SQL",
    "EngagementQuery",
    "FunnelsQuery",
    "InsightQuery",
    "InsightResponse",
    "InsightRunner",
    "PeoplePage",
    "RetentionQuery",
    "TrendsQuery",
    "parse_insight_query",
    "run_insight",
    "run_insight_json",
    "runner_for",
]
