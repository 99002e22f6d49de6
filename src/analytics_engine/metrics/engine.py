"""The one bridge between metrics/dashboards and the insight engine (`analytics_engine.insights`).

`validate_query` checks an insight query against the engine's pydantic models; `with_context`
applies what a caller adds on top of a stored query (time range, extra property filters, a cohort,
a time zone, a breakdown, an interval); `run_query` computes it for one tenant and returns the
chart-ready result as plain JSON (series with labels and points, totals, timezone, served_by...).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from analytics_engine.errors import InvalidInput, ServiceUnavailable

INSIGHT_KINDS = ("trends", "funnels", "retention", "engagement")
# SROI and VIS answer in the insight result shape (impact/metric.py), so metrics, widgets, exports
# and reports take them like any insight.
IMPACT_KIND = "impact"


@dataclass(frozen=True)
class QueryContext:
    date_from: str | None = None
    date_to: str | None = None
    filters: tuple[dict[str, Any], ...] = field(default_factory=tuple)
    cohort_id: str | None = None
    timezone: str | None = None
    breakdown: tuple[str, ...] = field(default_factory=tuple)
    interval: str | None = None


def _insights() -> Any:
    try:
        from analytics_engine import insights
    except ImportError as exc:  # pragma: no cover - only while the engine is absent
        raise ServiceUnavailable("The insight engine is not available in this build.") from exc
    if not hasattr(insights, "run_insight"):  # pragma: no cover
        raise ServiceUnavailable("The insight engine is not available in this build.")
    return insights


def parse_query(query: dict[str, Any]) -> Any:
    """The engine's query model for `query`; 422 with the engine's message when it is invalid."""
    if isinstance(query, dict) and query.get("kind") == IMPACT_KIND:
        from analytics_engine.impact.metric import parse_impact_query

        return parse_impact_query(query)
    if not isinstance(query, dict) or query.get("kind") not in INSIGHT_KINDS:
        kinds = ", ".join((*INSIGHT_KINDS, IMPACT_KIND))
        raise InvalidInput(f"an insight query needs 'kind', one of: {kinds}")
    from pydantic import ValidationError

    insights = _insights()
    try:
        return insights.parse_insight_query(query)
    except ValidationError as exc:
        raise InvalidInput(
            "invalid insight query",
            details={"errors": [{"loc": list(e["loc"]), "msg": e["msg"]} for e in exc.errors()[:20]]},
        ) from exc


def validate_query(query: dict[str, Any]) -> dict[str, Any]:
    """The query normalised by the engine's model (defaults filled), as JSON."""
    model = parse_query(query)
    return model.model_dump(mode="json", exclude_none=True)


def with_context(query: dict[str, Any], ctx: QueryContext) -> dict[str, Any]:
    """A copy of `query` with the caller's context applied (the dashboard's or the metric query's)."""
    out = copy.deepcopy(query)
    if out.get("kind") == IMPACT_KIND:
        # Impact figures take a period only: property filters, cohorts, breakdowns and time zones
        # do not apply to SROI or VIS.
        ctx = QueryContext(date_from=ctx.date_from, date_to=ctx.date_to)
    if ctx.date_from or ctx.date_to:
        date_range = dict(out.get("date_range") or {})
        if ctx.date_from:
            date_range["date_from"] = ctx.date_from
            date_range.pop("date_to", None) if not ctx.date_to else None
        if ctx.date_to:
            date_range["date_to"] = ctx.date_to
        out["date_range"] = date_range
    if ctx.filters:
        extra = [{"type": "property", **item} if "type" not in item else item for item in ctx.filters]
        out["filters"] = [*(out.get("filters") or []), *extra]
    if ctx.cohort_id:
        out["cohort_id"] = ctx.cohort_id
    if ctx.timezone:
        out["timezone"] = ctx.timezone
    if ctx.breakdown:
        out["breakdown"] = list(ctx.breakdown)
    if ctx.interval and out.get("kind") == "trends":
        out["interval"] = ctx.interval
    return out


def run_query(runtime: Any, tenant: Any, query: dict[str, Any], *, refresh: bool = False) -> dict[str, Any]:
    """Compute `query` on `tenant`'s data; the chart-ready result as JSON."""
    model = parse_query(query)
    if query.get("kind") == IMPACT_KIND:
        from analytics_engine.impact.metric import run_impact_metric

        result = run_impact_metric(runtime, tenant, query)
    else:
        result = _insights().run_insight(runtime, tenant, model, refresh=refresh)
    return result.model_dump(mode="json") if hasattr(result, "model_dump") else dict(result)
