"""Forecasts and anomaly detectors on one numeric series (issue 19).

`judge` / `judge_walk` score a point against what came before it; `forecast` predicts the next points with
the statsforecast model that wins a rolling-origin backtest, with conformal intervals. Rules and measured
figures: docs/forecasting.md."""

from analytics_engine.forecasting.detectors import judge, judge_walk
from analytics_engine.forecasting.models import forecast, forecast_next
from analytics_engine.forecasting.types import (
    DETECTORS,
    Backtest,
    Forecast,
    ForecastPoint,
    Judgement,
    TooShort,
    threshold,
)

__all__ = [
    "DETECTORS",
    "Backtest",
    "Forecast",
    "ForecastPoint",
    "Judgement",
    "TooShort",
    "forecast",
    "forecast_next",
    "judge",
    "judge_walk",
    "threshold",
]
