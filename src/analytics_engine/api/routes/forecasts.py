"""Forecasts: `POST /v1/forecasts` forecasts every series of an insight or a registry metric (read scope)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from analytics_engine.api.deps import ReadTenant, RuntimeDep
from analytics_engine.forecasting.schemas import ForecastRequest, ForecastResponse
from analytics_engine.forecasting.service import forecast_source

router = APIRouter(tags=["forecasts"])

_ERROR = {"description": 'The error shape `{"error": {"code", "message", "details"}}`.'}
_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {**_ERROR, "description": "No or an unknown API key."},
    403: {**_ERROR, "description": "The key lacks the `read` scope."},
    422: {
        **_ERROR,
        "description": "Unknown metric (`unknown_metric`), an insight without a time series or an invalid "
        "query (`invalid_query`), an empty series (`empty_series`), too short a history "
        "(`history_too_short`, with `needed` points in the details), a horizon over the limit "
        "(`horizon_too_long`).",
    },
    429: {**_ERROR, "description": "The tenant's query budget is spent."},
    504: {**_ERROR, "description": "The insight's query timed out."},
}


_REQUEST = {
    "insight": {
        "kind": "trends",
        "query": {"series": [{"event": "signup"}], "interval": "day", "date_range": {"date_from": "-90d"}},
    },
    "horizon": 2,
}
_ANSWER = {
    "interval": "day",
    "season": 7,
    "horizon": 2,
    "series": [
        {
            "label": "signup",
            "breakdown_value": None,
            "history": [{"time": "2026-12-05", "value": 118.0}, {"time": "2026-12-06", "value": 131.0}],
            "forecast": [
                {
                    "time": "2026-12-07",
                    "value": 140.2,
                    "lower_80": 128.9,
                    "upper_80": 151.5,
                    "lower_95": 122.0,
                    "upper_95": 158.4,
                },
                {
                    "time": "2026-12-08",
                    "value": 137.6,
                    "lower_80": 125.1,
                    "upper_80": 150.1,
                    "lower_95": 117.8,
                    "upper_95": 157.4,
                },
            ],
            "model": "ets",
            "backtest": {"mase": 0.71, "coverage_95": 0.95, "horizon": 2},
        }
    ],
}


@router.post(
    "/v1/forecasts",
    response_model=ForecastResponse,
    responses=_RESPONSES,
    openapi_extra={
        "requestBody": {"content": {"application/json": {"example": _REQUEST}}},
        "responses": {"200": {"content": {"application/json": {"example": _ANSWER}}}},
    },
    summary="Forecast an insight's or a metric's series, with 80% and 95% intervals and a backtest",
)
def create_forecast(body: ForecastRequest, tenant: ReadTenant, runtime: RuntimeDep) -> ForecastResponse:
    """Runs the insight (trends or engagement) or the registry metric, then forecasts each of its series
    `horizon` points ahead with the model (ETS, ARIMA, Theta or seasonal naive) whose rolling-origin
    backtest error is lowest. Intervals are conformal (from the backtest's errors). The answer gives each
    series' history, forecast, model, and backtest (`mase` against the seasonal naive forecast,
    `coverage_95`). Rules: docs/forecasting.md."""
    return forecast_source(runtime, tenant, body)
