"""`anomaly` and `forecast` conditions through the forecasting package: a spike after weeks of a
weekly pattern is a breach, an ordinary day is not; too short a history is no data with what is
needed; the causal walk of simulate gives the same verdicts as judging each point alone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from analytics_engine.alerts import conditions as cond
from analytics_engine.alerts.schemas import AnomalyCondition, ForecastCondition
from analytics_engine.errors import InvalidInput

DAY0 = datetime(2026, 1, 1, tzinfo=UTC)


def weekly(n: int, seed: int = 3) -> list[cond.Point]:
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    values = rng.poisson(200 * (1 + 0.3 * np.sin(2 * np.pi * t / 7))).astype(float)
    return [(DAY0 + timedelta(days=i), float(v)) for i, v in enumerate(values)]


def with_last(points: list[cond.Point], value: float) -> list[cond.Point]:
    return [*points[:-1], (points[-1][0], value)]


def test_anomaly_spike_is_a_breach_and_a_normal_day_is_not() -> None:
    points = weekly(70)
    condition = AnomalyCondition(detector="seasonal", sensitivity=0.5)
    normal = cond.judge(condition, points, len(points) - 1, "day")
    assert not normal.no_data and not normal.breach and normal.expected is not None
    spike = cond.judge(condition, with_last(points, 2000.0), len(points) - 1, "day")
    assert spike.breach and spike.score is not None and spike.upper is not None and spike.value == 2000
    down_only = AnomalyCondition(detector="seasonal", direction="down")
    assert not cond.judge(down_only, with_last(points, 2000.0), len(points) - 1, "day").breach


def test_anomaly_too_short_history_is_no_data_saying_what_is_needed() -> None:
    verdict = cond.judge(AnomalyCondition(), weekly(5), 4, "day")
    assert verdict.no_data and "needed" in verdict.reason


def test_unknown_detector_is_refused() -> None:
    with pytest.raises(InvalidInput, match="unknown detector"):
        cond.check_condition(AnomalyCondition(detector="prophet"))


def test_forecast_interval_breach() -> None:
    points = weekly(60)
    condition = ForecastCondition(level=95)
    first = cond.judge(condition, points, len(points) - 1, "day")
    assert not first.no_data and first.lower is not None and first.upper is not None and first.expected is not None
    assert first.lower <= first.expected <= first.upper
    assert first.breach is (not first.lower <= points[-1][1] <= first.upper)  # type: ignore[operator]
    normal = cond.judge(condition, with_last(points, first.expected), len(points) - 1, "day")
    assert not normal.breach and "inside the 95% forecast interval" in normal.reason
    assert cond.judge(condition, with_last(points, 5000.0), len(points) - 1, "day").breach
    assert cond.judge(condition, with_last(points, 0.0), len(points) - 1, "day").breach


def test_walk_matches_point_by_point_judgement() -> None:
    points = with_last(weekly(50), 1500.0)
    condition = AnomalyCondition(detector="seasonal")
    walked = cond.judge_range(condition, points, 40, "day")
    alone = [cond.judge(condition, points, i, "day") for i in range(40, 50)]
    assert [v.breach for v in walked] == [v.breach for v in alone]
    assert [round(v.expected or 0, 6) for v in walked] == [round(v.expected or 0, 6) for v in alone]
    assert walked[-1].breach
