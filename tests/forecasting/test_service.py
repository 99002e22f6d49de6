"""The forecast service's pure parts: bucket labels ahead, seasons by interval, series from a result."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from analytics_engine.errors import InvalidInput
from analytics_engine.forecasting.schemas import ForecastRequest
from analytics_engine.forecasting.service import forecast_result, next_times, season_for
from analytics_engine.insights.results import Point, Series, TrendsResult
from tests.forecasting.series import weekly_counts


def test_next_times_by_interval() -> None:
    assert next_times("2026-02-27", "day", 3) == ["2026-02-28", "2026-03-01", "2026-03-02"]
    assert next_times("2026-12-01T22:00:00+01:00", "hour", 2) == [
        "2026-12-01T23:00:00+01:00",
        "2026-12-02T00:00:00+01:00",
    ]
    assert next_times("2026-12-28", "week", 1) == ["2027-01-04"]
    assert next_times("2026-11-01", "month", 3) == ["2026-12-01", "2027-01-01", "2027-02-01"]
    assert next_times("2026-10-01", "quarter", 2) == ["2027-01-01", "2027-04-01"]


def test_season_by_interval() -> None:
    assert (season_for("hour"), season_for("day"), season_for("week"), season_for(None)) == (24, 7, 1, 1)


def result(values: list[float | None]) -> TrendsResult:
    now = datetime(2026, 12, 1, tzinfo=UTC)
    points = [
        Point(label=f"d{i}", value=v, bucket=f"2026-{1 + i // 28:02d}-{1 + i % 28:02d}") for i, v in enumerate(values)
    ]
    return TrendsResult(
        kind="trends",
        timezone="UTC",
        date_from=now,
        date_to=now,
        interval="day",
        computed_at=now,
        series=[Series(label="visits", points=points)],
    )


def test_trailing_nulls_are_dropped_and_the_forecast_follows_the_last_bucket() -> None:
    values: list[float | None] = [float(v) for v in weekly_counts(n=60)]
    answer = forecast_result(result([*values, None, None]), ForecastRequest(metric_id="m", horizon=3), 90)
    (series,) = answer.series
    assert len(series.history) == 60
    assert series.history[-1].time == "2026-03-04"
    assert [p.time for p in series.forecast] == ["2026-03-05", "2026-03-06", "2026-03-07"]


def test_horizon_limit_and_empty_series() -> None:
    with pytest.raises(InvalidInput, match="over the limit of 10"):
        forecast_result(result([1.0] * 60), ForecastRequest(metric_id="m", horizon=11), 10)
    with pytest.raises(InvalidInput, match="empty series"):
        forecast_result(result([0.0] * 60), ForecastRequest(metric_id="m", horizon=3), 90)
