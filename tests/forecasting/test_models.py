"""forecast(): the shape of its answer, its intervals and its backtest."""

from __future__ import annotations

import pytest

from analytics_engine.forecasting import TooShort, forecast
from analytics_engine.forecasting.models import MODELS, forecast_needed
from tests.forecasting.series import weekly_counts


@pytest.mark.parametrize("horizon", [1, 7, 28])
def test_forecast_points_and_intervals_nest(horizon: int) -> None:
    result = forecast(weekly_counts(n=200).tolist(), season=7, horizon=horizon)
    assert result.model in MODELS
    assert len(result.points) == horizon
    for p in result.points:
        assert p.lower_95 <= p.lower_80 <= p.value <= p.upper_80 <= p.upper_95
    assert result.backtest.horizon == horizon
    assert 0.0 <= result.backtest.coverage_95 <= 1.0
    assert result.backtest.mase > 0


def test_forecast_follows_the_weekly_pattern() -> None:
    x = weekly_counts(n=210)
    result = forecast(x.tolist(), season=7, horizon=14)
    actual_pattern = x[-7:]
    predicted = [p.value for p in result.points[:7]]
    # The highest and lowest days of the week stay where they were.
    assert int(actual_pattern.argmax()) == int(max(range(7), key=lambda i: predicted[i]))
    assert result.backtest.mase < 1.5


def test_forecast_too_short_says_how_many_points() -> None:
    need = forecast_needed(7, 14)
    with pytest.raises(TooShort) as info:
        forecast([1.0] * (need - 1), season=7, horizon=14)
    assert info.value.needed == need


def test_forecast_of_a_constant_series() -> None:
    result = forecast([3.0] * 60, season=7, horizon=7)
    assert all(abs(p.value - 3.0) < 1e-6 for p in result.points)
