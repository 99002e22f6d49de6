"""`POST /v1/forecasts`: the request (an insight or a registry metric, a horizon) and the answer per series."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from analytics_engine.metrics.schemas import MetricQueryRequest


class InsightSource(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: str = Field(description="An insight kind with a time series: `trends` or `engagement`.")
    query: dict[str, Any] = Field(description="The insight query, as `POST /v1/insights/{kind}` takes it.")


class ForecastRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "insight": {
                        "kind": "trends",
                        "query": {
                            "series": [{"event": "signup"}],
                            "interval": "day",
                            "date_range": {"date_from": "-90d"},
                        },
                    },
                    "horizon": 14,
                },
                {"metric_id": "weekly_active_users", "horizon": 14},
            ]
        },
    )

    insight: InsightSource | None = Field(None, description="The insight whose series are forecast.")
    metric_id: str | None = Field(None, description="Or a registry metric (its id or name).", max_length=200)
    metric_query: MetricQueryRequest = Field(
        default_factory=MetricQueryRequest,
        description="With `metric_id`: the metric's dimensions, filters, time range and interval.",
    )
    horizon: int = Field(14, ge=1, description="Points to forecast (at most the `forecast_max_horizon` setting).")
    season: int | None = Field(
        None,
        ge=1,
        le=400,
        description="Points per season; by default from the interval: 24 for hours, 7 for days, 1 otherwise.",
    )

    @model_validator(mode="after")
    def _one_source(self) -> ForecastRequest:
        if (self.insight is None) == (self.metric_id is None):
            raise ValueError("give exactly one of 'insight' or 'metric_id'")
        return self


class HistoryPoint(BaseModel):
    time: str = Field(description="Bucket start, as the insight labels it (local date, or ISO time for hours).")
    value: float


class ForecastPointOut(BaseModel):
    time: str
    value: float
    lower_80: float
    upper_80: float
    lower_95: float
    upper_95: float


class BacktestOut(BaseModel):
    mase: float | None = Field(description="Backtest MAE over the in-sample MAE of the one-season naive forecast.")
    coverage_95: float | None = Field(description="Share of backtest points inside a 95% interval (held out).")
    horizon: int


class SeriesForecast(BaseModel):
    label: str
    breakdown_value: list[str] | None = None
    history: list[HistoryPoint]
    forecast: list[ForecastPointOut]
    model: str = Field(description="ets, arima, theta or seasonal_naive: the lowest backtest error.")
    backtest: BacktestOut


class ForecastResponse(BaseModel):
    interval: str
    season: int
    horizon: int
    series: list[SeriesForecast]
