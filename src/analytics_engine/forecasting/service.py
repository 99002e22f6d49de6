"""Forecasts of an insight's or a registry metric's series (`POST /v1/forecasts`).

The insight runs through the typed insight registry (`insights/registry.py`) and a metric through the
metric registry (`metrics/service.py`), exactly as dashboards and exports run them: same tenant scope,
cache and budgets. Every time series of the answer is forecast on its own."""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from analytics_engine.errors import InvalidInput, NotFound
from analytics_engine.forecasting.models import forecast
from analytics_engine.forecasting.schemas import (
    BacktestOut,
    ForecastPointOut,
    ForecastRequest,
    ForecastResponse,
    HistoryPoint,
    SeriesForecast,
)
from analytics_engine.forecasting.types import TooShort
from analytics_engine.insights import registry
from analytics_engine.insights.context import RunContext
from analytics_engine.insights.results import Series, SeriesResult

if TYPE_CHECKING:
    from analytics_engine.runtime import Runtime

SEASONS = {"hour": 24, "day": 7}
"""Points per season by interval: a day of hours, a week of days; other intervals have no season."""
STEPS = {"hour": timedelta(hours=1), "day": timedelta(days=1), "week": timedelta(weeks=1)}
TIME_SERIES_KINDS = ("trends", "engagement")


def season_for(interval: str | None) -> int:
    return SEASONS.get(interval or "", 1)


def next_times(last: str, interval: str, count: int) -> list[str]:
    """The `count` bucket labels after `last` (same format: a date, or an ISO time for hours)."""
    if interval in STEPS:
        step = STEPS[interval]
        if "T" in last or " " in last:
            at = datetime.fromisoformat(last)
            return [(at + step * (i + 1)).isoformat() for i in range(count)]
        day = date.fromisoformat(last[:10])
        return [(day + step * (i + 1)).isoformat() for i in range(count)]
    months = {"month": 1, "quarter": 3}.get(interval, 1)
    day = date.fromisoformat(last[:10])
    out = []
    for i in range(1, count + 1):
        total = day.year * 12 + day.month - 1 + i * months
        out.append(date(total // 12, total % 12 + 1, 1).isoformat())
    return out


def _history(series: Series) -> list[HistoryPoint]:
    """The series' points with a bucket; trailing nulls (buckets not reached) dropped, other nulls 0."""
    points = [p for p in series.points if p.bucket is not None or p.label]
    while points and points[-1].value is None:
        points.pop()
    return [HistoryPoint(time=p.bucket or p.label, value=float(p.value or 0.0)) for p in points]


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def run_source(runtime: Runtime, tenant: Any, request: ForecastRequest) -> SeriesResult:
    """The insight's or metric's typed result (422 for an unknown metric or a kind without a time series)."""
    if request.metric_id is not None:
        try:
            _, result = runtime.metrics.compute(runtime, tenant, request.metric_id, request.metric_query)
        except NotFound as exc:
            raise InvalidInput(f"unknown metric {request.metric_id!r}", code="unknown_metric") from exc
        return result
    assert request.insight is not None
    if request.insight.kind not in TIME_SERIES_KINDS:
        raise InvalidInput(
            f"insight kind {request.insight.kind!r} has no time series to forecast; one of: "
            f"{', '.join(TIME_SERIES_KINDS)}",
            code="invalid_query",
        )
    model = registry.parse_query({**request.insight.query, "kind": request.insight.kind})
    return registry.run(RunContext(runtime, tenant), model)


def check_horizon(horizon: int, max_horizon: int) -> None:
    if horizon > max_horizon:
        raise InvalidInput(
            f"horizon {horizon} is over the limit of {max_horizon} points",
            details={"max_horizon": max_horizon},
            code="horizon_too_long",
        )


def forecast_result(result: SeriesResult, request: ForecastRequest, max_horizon: int) -> ForecastResponse:
    """Forecast every series of an insight answer (pure: no I/O)."""
    check_horizon(request.horizon, max_horizon)
    interval = result.interval or "day"
    season = request.season or season_for(interval)
    series = [s for s in result.series if s.compare != "previous"]
    if not series or all(not any(p.value for p in _history(s)) for s in series):
        raise InvalidInput(
            "the insight answered an empty series (no points, or only nulls and zeros): nothing to forecast",
            code="empty_series",
        )
    out = []
    for s in series:
        history = _history(s)
        values = [p.value for p in history]
        try:
            fc = forecast(values, season=season, horizon=request.horizon)
        except TooShort as exc:
            raise InvalidInput(
                f"series {s.label!r} has {exc.have} points; a forecast of {request.horizon} points with a season "
                f"of {season} needs at least {exc.needed} (widen the date range)",
                details={"needed": exc.needed, "have": exc.have, "series": s.label},
                code="history_too_short",
            ) from exc
        times = next_times(history[-1].time, interval, request.horizon)
        out.append(
            SeriesForecast(
                label=s.label,
                breakdown_value=s.breakdown_value,
                history=history,
                forecast=[
                    ForecastPointOut(
                        time=t,
                        value=p.value,
                        lower_80=p.lower_80,
                        upper_80=p.upper_80,
                        lower_95=p.lower_95,
                        upper_95=p.upper_95,
                    )
                    for t, p in zip(times, fc.points, strict=True)
                ],
                model=fc.model,
                backtest=BacktestOut(
                    mase=_finite(fc.backtest.mase),
                    coverage_95=_finite(fc.backtest.coverage_95),
                    horizon=fc.backtest.horizon,
                ),
            )
        )
    return ForecastResponse(interval=interval, season=season, horizon=request.horizon, series=out)


def forecast_source(runtime: Runtime, tenant: Any, request: ForecastRequest) -> ForecastResponse:
    """`POST /v1/forecasts`: run the insight or metric, then forecast its series."""
    check_horizon(request.horizon, runtime.settings.forecast_max_horizon)
    result = run_source(runtime, tenant, request)
    return forecast_result(result, request, runtime.settings.forecast_max_horizon)
