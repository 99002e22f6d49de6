"""Conditions recomputed by hand (docs/alerts.md): threshold, relative against the previous point,
a week and a year ago, percent and absolute, each direction; causality of judge_range."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from analytics_engine.alerts import conditions as cond
from analytics_engine.alerts.schemas import RelativeCondition, ThresholdCondition
from analytics_engine.errors import InvalidInput

DAY0 = datetime(2026, 1, 1, tzinfo=UTC)


def daily(values: list[float | None]) -> list[cond.Point]:
    return [(DAY0 + timedelta(days=i), v) for i, v in enumerate(values)]


@pytest.mark.parametrize(
    ("operator", "value", "breach"),
    [("above", 120.0, True), ("above", 100.0, False), ("below", 80.0, True), ("below", 100.0, False)],
)
def test_threshold(operator: str, value: float, breach: bool) -> None:
    condition = ThresholdCondition(operator=operator, value=100)  # type: ignore[arg-type]
    verdict = cond.judge(condition, daily([value]), 0, "day")
    assert verdict.breach is breach and verdict.value == value
    assert "threshold 100" in verdict.reason


def test_relative_previous_percent() -> None:
    condition = RelativeCondition(compare_to="previous_period", direction="down", by=20)
    verdict = cond.judge(condition, daily([100, 75]), 1, "day")
    assert verdict.breach and verdict.expected == 100 and verdict.score == pytest.approx(-25.0)
    assert verdict.lower == 80 and verdict.upper is None
    assert not cond.judge(condition, daily([100, 85]), 1, "day").breach
    assert not cond.judge(condition, daily([100, 200]), 1, "day").breach  # up is not down


def test_relative_either_absolute() -> None:
    condition = RelativeCondition(direction="either", by=10, unit="absolute")
    assert cond.judge(condition, daily([50, 61]), 1, "day").breach
    assert cond.judge(condition, daily([50, 39]), 1, "day").breach
    assert not cond.judge(condition, daily([50, 60]), 1, "day").breach


def test_relative_week_ago_reads_the_point_seven_days_before() -> None:
    values: list[float | None] = [100, 1, 1, 1, 1, 1, 1, 130]
    condition = RelativeCondition(compare_to="week_ago", direction="up", by=25)
    verdict = cond.judge(condition, daily(values), 7, "day")
    assert verdict.expected == 100 and verdict.breach
    assert cond.points_needed(condition, "day") == 8
    assert cond.points_needed(condition, "hour") == 169


def test_relative_year_ago_is_52_weeks_or_12_months() -> None:
    condition = RelativeCondition(compare_to="year_ago", by=10)
    assert cond.points_needed(condition, "day") == 365
    assert cond.points_needed(condition, "month") == 13
    months = [(datetime(2025, m, 1, tzinfo=UTC), 10.0) for m in range(1, 13)] + [
        (datetime(2026, 1, 1, tzinfo=UTC), 20.0)
    ]
    verdict = cond.judge(condition, months, 12, "month")
    assert verdict.expected == 10 and verdict.breach
    with pytest.raises(InvalidInput):
        cond.points_needed(condition, "hour")  # 8737 hourly points: over the limit
    with pytest.raises(InvalidInput):
        cond.points_needed(RelativeCondition(compare_to="week_ago", by=1), "month")


def test_relative_without_base_or_with_zero_base_is_no_data() -> None:
    condition = RelativeCondition(by=10)
    assert cond.judge(condition, daily([5]), 0, "day").no_data
    zero = cond.judge(condition, daily([0, 5]), 1, "day")
    assert zero.no_data and "0" in zero.reason
    assert cond.judge(condition, daily([5, None]), 1, "day").no_data


def test_judge_range_is_causal() -> None:
    """Changing later points never changes an earlier verdict."""
    condition = RelativeCondition(by=10)
    first = cond.judge_range(condition, daily([10, 12, 30, 31]), 1, "day")
    second = cond.judge_range(condition, daily([10, 12, 30, 1000]), 1, "day")
    assert [v.breach for v in first[:2]] == [v.breach for v in second[:2]] == [True, True]
