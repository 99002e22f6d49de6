"""`POST /v1/alerts/simulate`: a rule replayed over past data. The range is fetched with the history
the condition needs before it; every point of the range is judged on the points before it only
(anomaly conditions through the detector's causal walk), and the state machine runs over the
verdicts as it would have on schedule (pending periods, cool-down in the points' time)."""

from __future__ import annotations

import builtins
from typing import TYPE_CHECKING, Any

from analytics_engine.alerts import conditions as cond
from analytics_engine.alerts.schemas import (
    FiredPoint,
    ForecastCondition,
    SimulatedPoint,
    SimulateRequest,
    SimulateResponse,
)
from analytics_engine.alerts.sources import Window, kind_of
from analytics_engine.alerts.states import Outcome as Kind
from analytics_engine.alerts.states import RuleState, advance
from analytics_engine.errors import InvalidInput
from analytics_engine.insights.dates import DateRange, buckets, resolve_range
from analytics_engine.metadata.models import utcnow

if TYPE_CHECKING:
    from analytics_engine.alerts.service import AlertService


def simulate(service: AlertService, tenant: Any, body: SimulateRequest) -> SimulateResponse:
    """Replay the rule over past data: every point judged on what came before it only, and the
    state machine run over the verdicts (pending periods and cool-down included)."""
    prepared = service.check_rule(tenant.tenant_id, body)
    interval = prepared.interval
    tz = prepared.query.get("timezone") or tenant.timezone or "UTC"
    if prepared.type in ("sla", "sql"):
        tz = "UTC"
    try:
        resolved = resolve_range(DateRange(date_from=body.date_range.date_from, date_to=body.date_range.date_to), tz)
        count = len(buckets(resolved, interval)) if interval is not None else 1
    except ValueError as exc:
        raise InvalidInput(str(exc)) from None
    settings = service.runtime.settings
    limit, why = settings.alerts_simulate_max_points, ""
    if isinstance(body.condition, ForecastCondition):
        limit = min(limit, settings.alerts_simulate_max_forecast_points)
        why = " for a forecast condition (one fit per point)"
    if count > limit:
        raise InvalidInput(
            f"the date range holds {count} {interval} points; simulate replays at most {limit}{why}",
            details={"points": count, "limit": limit},
        )
    lookback = cond.points_needed(body.condition, interval)
    kind = kind_of(prepared)
    answer = kind.fetch(
        service.runtime, tenant, prepared, Window(points=lookback, start=resolved.start, end=resolved.end)
    )
    now = utcnow()
    points = kind.extract(answer, body.source, now)
    start = next((i for i, (moment, _) in enumerate(points) if moment >= resolved.start), len(points))
    if start >= len(points):
        raise InvalidInput("the source has no points in that date range")
    verdicts = cond.judge_range(body.condition, points, start, interval)
    judged = [v for v in verdicts if not v.no_data]
    if not judged and any("history too short" in v.reason for v in verdicts):
        raise InvalidInput(f"not enough history: {verdicts[-1].reason}")
    return replay(points[start:], verdicts, body.pending_periods, body.cooldown_seconds)


def replay(
    points: builtins.list[cond.Point],
    verdicts: builtins.list[cond.Verdict],
    pending_periods: int,
    cooldown_seconds: int,
) -> SimulateResponse:
    state = RuleState()
    out, fired = [], []
    for (moment, value), verdict in zip(points, verdicts, strict=True):
        kind: Kind = "no_data" if verdict.no_data else ("breach" if verdict.breach else "clear")
        step = advance(state, kind, pending_periods=pending_periods, cooldown_seconds=cooldown_seconds, now=moment)
        state = step.after
        if step.notice == "triggered":
            fired.append(FiredPoint(time=moment, value=value, reason=verdict.reason))
        out.append(
            SimulatedPoint(
                time=moment,
                value=value,
                expected=verdict.expected,
                lower=verdict.lower,
                upper=verdict.upper,
                score=verdict.score,
                firing=state.state == "firing",
            )
        )
    return SimulateResponse(points=out, fired=fired)
