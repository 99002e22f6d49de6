"""Conditions: given a series of points in time and the index of the point judged, is it a breach?

Every rule is judged on what came before the point and the point itself, never on later points, so
the scheduled evaluation (the newest point) and `simulate` (every point in turn) give the same
answer for the same point. The rules, so they can be recomputed by hand (docs/alerts.md):

- `threshold`: breach when value > `value` (`above`) or value < `value` (`below`).
- `relative`: base = the previous point (`previous_period`), the point 7 days earlier (`week_ago`),
  or 52 weeks earlier (`year_ago`; 12 months for monthly and quarterly series). change = value - base
  (`absolute`) or (value - base) / |base| * 100 (`percent`; a base of 0 has no percent change: no
  data). Breach when change > `by` (`up`), change < -`by` (`down`), |change| > `by` (`either`).
- `anomaly`: `forecasting.judge(history, value, season, detector, sensitivity)`; breach when the
  judgement is anomalous in the rule's direction (value above / below the expected value).
- `forecast`: `forecasting.forecast_next(history, season)` (one step, its interval calibrated on
  one-step-ahead errors, at least Poisson-wide for counts); breach when the value
  is outside its `level` (80 or 95) percent interval in the rule's direction.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from analytics_engine import forecasting
from analytics_engine.alerts.schemas import (
    AnomalyCondition,
    Direction,
    ForecastCondition,
    RelativeCondition,
    ThresholdCondition,
)
from analytics_engine.errors import InvalidInput

Point = tuple[datetime, float | None]
AnyCondition = ThresholdCondition | RelativeCondition | AnomalyCondition | ForecastCondition

# Points per season by the series' interval: weekly for daily data, daily for hourly data.
SEASONS = {"hour": 24, "day": 7, "week": 1, "month": 12, "quarter": 4}
# History an anomaly or forecast condition asks for: this many seasons (at least MIN_HISTORY points).
HISTORY_SEASONS = 8
MIN_HISTORY = 28
MAX_POINTS = 5000


@dataclass
class Verdict:
    """The judgement of one point: a breach or not, or no data (with the reason)."""

    value: float | None
    breach: bool = False
    no_data: bool = False
    reason: str = ""
    expected: float | None = None
    lower: float | None = None
    upper: float | None = None
    score: float | None = None


def fmt(value: float | None) -> str:
    if value is None:
        return "null"
    if float(value).is_integer():
        return f"{int(value)}"
    return f"{value:.4g}"


def season_of(condition: AnomalyCondition | ForecastCondition, interval: str | None) -> int:
    return condition.season or SEASONS.get(interval or "day", 1)


def base_offset(compare_to: str, interval: str | None) -> timedelta | int | None:
    """How far back the base of a `relative` condition lies: a time delta, a number of months, or
    None for the previous point."""
    if compare_to == "previous_period":
        return None
    if compare_to == "week_ago":
        if interval in ("month", "quarter"):
            raise InvalidInput(
                f"compare_to 'week_ago' needs an hourly, daily or weekly series (this one is {interval})"
            )
        return timedelta(days=7)
    if interval in ("month", "quarter"):
        return 12
    return timedelta(days=364)


def points_needed(condition: AnyCondition, interval: str | None) -> int:
    """How many points of history (the judged point included) the condition reads."""
    if isinstance(condition, ThresholdCondition):
        return 1
    if isinstance(condition, RelativeCondition):
        offset = base_offset(condition.compare_to, interval)
        if offset is None:
            return 2
        if isinstance(offset, int):
            return offset + 1 if interval == "month" else offset // 3 + 1
        per_point = {"hour": timedelta(hours=1), "day": timedelta(days=1), "week": timedelta(days=7)}
        needed = int(offset / per_point.get(interval or "day", timedelta(days=1))) + 1
        if needed > MAX_POINTS:
            raise InvalidInput(
                f"compare_to {condition.compare_to!r} on a {interval} series needs {needed} points of history; "
                f"at most {MAX_POINTS} are read"
            )
        return needed
    return max(MIN_HISTORY, season_of(condition, interval) * HISTORY_SEASONS) + 1


def _months_back(moment: datetime, months: int) -> datetime:
    index = moment.year * 12 + moment.month - 1 - months
    return moment.replace(year=index // 12, month=index % 12 + 1)


def find_base(points: Sequence[Point], index: int, compare_to: str, interval: str | None) -> Point | None:
    offset = base_offset(compare_to, interval)
    if offset is None:
        return points[index - 1] if index >= 1 else None
    when = points[index][0]
    target = _months_back(when, offset) if isinstance(offset, int) else when - offset
    for moment, value in reversed(points[:index]):
        if moment == target:
            return moment, value
        if moment < target:
            return None
    return None


def in_direction(direction: Direction, value: float, low: float, high: float) -> bool:
    if direction == "up":
        return value > high
    if direction == "down":
        return value < low
    return value > high or value < low


def judge_threshold(condition: ThresholdCondition, value: float) -> Verdict:
    if condition.operator == "above":
        breach = value > condition.value
        verdict = Verdict(value, breach, upper=condition.value)
    else:
        breach = value < condition.value
        verdict = Verdict(value, breach, lower=condition.value)
    relation = condition.operator if breach else ("not above" if condition.operator == "above" else "not below")
    verdict.reason = f"value {fmt(value)} is {relation} the threshold {fmt(condition.value)}"
    return verdict


def judge_relative(condition: RelativeCondition, points: Sequence[Point], index: int, interval: str | None) -> Verdict:
    value = points[index][1]
    assert value is not None
    base_point = find_base(points, index, condition.compare_to, interval)
    label = condition.compare_to.replace("_", " ")
    if base_point is None or base_point[1] is None:
        return Verdict(value, no_data=True, reason=f"no value to compare with ({label})")
    base = base_point[1]
    if condition.unit == "percent":
        if base == 0:
            return Verdict(value, no_data=True, reason=f"the base ({label}) is 0: no percent change")
        change = (value - base) / abs(base) * 100.0
        low, high = base - abs(base) * condition.by / 100.0, base + abs(base) * condition.by / 100.0
        shown = f"{change:+.1f}%"
        allowed = f"{fmt(condition.by)}%"
    else:
        change = value - base
        low, high = base - condition.by, base + condition.by
        shown = f"{change:+.4g}"
        allowed = fmt(condition.by)
    breach = in_direction(condition.direction, change, -condition.by, condition.by)
    reason = f"value {fmt(value)} changed {shown} against {fmt(base)} ({label}); the rule allows {allowed}"
    lower = None if condition.direction == "up" else low
    upper = None if condition.direction == "down" else high
    return Verdict(value, breach, reason=reason, expected=base, lower=lower, upper=upper, score=change)


def check_condition(condition: AnyCondition) -> None:
    """422 for a condition that cannot run (an unknown detector)."""
    if isinstance(condition, AnomalyCondition) and condition.detector not in forecasting.DETECTORS:
        raise InvalidInput(
            f"unknown detector {condition.detector!r}; one of: {', '.join(forecasting.DETECTORS)}",
            details={"detectors": list(forecasting.DETECTORS)},
        )


def history_before(points: Sequence[Point], index: int) -> list[float]:
    return [float(v) for _, v in points[:index] if v is not None and math.isfinite(v)]


def from_judgement(condition: AnomalyCondition, value: float, judgement: forecasting.Judgement) -> Verdict:
    expected = judgement.expected
    anomalous = bool(judgement.anomalous)
    if anomalous and condition.direction != "either" and expected is not None:
        anomalous = value > expected if condition.direction == "up" else value < expected
    text = judgement.reason or ("anomalous" if judgement.anomalous else "as expected")
    return Verdict(
        value,
        anomalous,
        reason=f"value {fmt(value)}: {text}",
        expected=expected,
        lower=judgement.lower,
        upper=judgement.upper,
        score=judgement.score,
    )


def judge_anomaly(condition: AnomalyCondition, points: Sequence[Point], index: int, interval: str | None) -> Verdict:
    value = points[index][1]
    assert value is not None
    history = history_before(points, index)
    try:
        judgement = forecasting.judge(
            history,
            value,
            season=season_of(condition, interval),
            detector=condition.detector,
            sensitivity=condition.sensitivity,
        )
    except forecasting.TooShort as exc:
        return Verdict(value, no_data=True, reason=too_short(exc, len(history)))
    return from_judgement(condition, value, judgement)


def too_short(exc: Any, have: int) -> str:
    needed = getattr(exc, "needed", None)
    return f"history too short: {have} points, {needed} needed" if needed else f"history too short: {exc}"


def judge_forecast(condition: ForecastCondition, points: Sequence[Point], index: int, interval: str | None) -> Verdict:
    value = points[index][1]
    assert value is not None
    history = history_before(points, index)
    try:
        result = forecasting.forecast_next(history, season=season_of(condition, interval))
    except forecasting.TooShort as exc:
        return Verdict(value, no_data=True, reason=too_short(exc, len(history)))
    point = result.points[0]
    lower, upper = (point.lower_95, point.upper_95) if condition.level == 95 else (point.lower_80, point.upper_80)
    breach = in_direction(condition.direction, value, lower, upper)
    half = (upper - lower) / 2.0
    score = (value - point.value) / half if half > 0 else None
    where = "outside" if breach else "inside"
    reason = (
        f"value {fmt(value)} is {where} the {condition.level}% forecast interval [{fmt(lower)}, {fmt(upper)}] "
        f"(expected {fmt(point.value)}, model {result.model})"
    )
    return Verdict(value, breach, reason=reason, expected=point.value, lower=lower, upper=upper, score=score)


def judge(condition: AnyCondition, points: Sequence[Point], index: int, interval: str | None) -> Verdict:
    """The verdict on `points[index]`, reading only `points[: index + 1]`."""
    if index < 0 or index >= len(points):
        return Verdict(None, no_data=True, reason="the series has no points")
    value = points[index][1]
    if value is None or not math.isfinite(value):
        return Verdict(None, no_data=True, reason="no value for the newest point")
    if isinstance(condition, ThresholdCondition):
        return judge_threshold(condition, value)
    if isinstance(condition, RelativeCondition):
        return judge_relative(condition, points, index, interval)
    if isinstance(condition, AnomalyCondition):
        return judge_anomaly(condition, points, index, interval)
    return judge_forecast(condition, points, index, interval)


def judge_range(condition: AnyCondition, points: Sequence[Point], start: int, interval: str | None) -> list[Verdict]:
    """Verdicts of `points[start:]`, each judged causally (simulate). Anomaly conditions use the
    detector's causal walk (`judge_walk`), one pass instead of one fit per point."""
    if not isinstance(condition, AnomalyCondition):
        return [judge(condition, points, index, interval) for index in range(start, len(points))]
    kept = [(i, float(v)) for i, (_, v) in enumerate(points) if v is not None and math.isfinite(v)]
    walk = forecasting.judge_walk(
        [v for _, v in kept],
        season=season_of(condition, interval),
        detector=condition.detector,
        sensitivity=condition.sensitivity,
    )
    by_index = {i: (position, judgement) for position, ((i, _), judgement) in enumerate(zip(kept, walk, strict=True))}
    out = []
    for index in range(start, len(points)):
        value = points[index][1]
        if index not in by_index:
            out.append(Verdict(None, no_data=True, reason="no value for this point"))
            continue
        position, judgement = by_index[index]
        assert value is not None
        if judgement is None:
            out.append(Verdict(value, no_data=True, reason=f"history too short: {position} points"))
        else:
            out.append(from_judgement(condition, value, judgement))
    return out
