"""The forecasting package's value types: a judged point, a forecast, its backtest, and the too-short error."""

from __future__ import annotations

from dataclasses import dataclass

DETECTORS: tuple[str, ...] = ("auto", "seasonal", "ets", "arima", "theta", "level_shift", "ensemble")
"""Detector names `judge` and `judge_walk` accept. `auto` chooses per series by backtest."""

FORECAST_DETECTORS: tuple[str, ...] = ("ets", "arima", "theta")
"""The forecast-interval breach detectors (one statsforecast model each)."""

THRESHOLD_AT_ZERO = 8.0
"""The score a point must pass at sensitivity 0 (least sensitive)."""
THRESHOLD_AT_ONE = 2.0
"""The score a point must pass at sensitivity 1 (most sensitive)."""


def threshold(sensitivity: float) -> float:
    """The score threshold for a sensitivity in [0, 1]: linear from 8 (at 0) to 2 (at 1); 5 at the default 0.5.

    A score is a robust z: the distance from the expected value in units of the residual's robust spread
    (1.4826 x MAD), so a threshold of 5 flags a point five robust standard deviations away."""
    if not 0.0 <= sensitivity <= 1.0:
        raise ValueError(f"sensitivity must lie in [0, 1], got {sensitivity}")
    return THRESHOLD_AT_ZERO - (THRESHOLD_AT_ZERO - THRESHOLD_AT_ONE) * sensitivity


@dataclass(frozen=True)
class Judgement:
    """One point judged on what came before it: the expected value, the band, the score and the verdict."""

    expected: float
    lower: float
    upper: float
    score: float
    anomalous: bool
    reason: str


class TooShort(ValueError):
    """The history is too short for the detector or the forecast; `needed` is how many points it requires."""

    def __init__(self, needed: int, have: int, what: str = "history") -> None:
        self.needed = needed
        self.have = have
        super().__init__(f"{what} too short: {have} points, at least {needed} needed")


@dataclass(frozen=True)
class ForecastPoint:
    """One forecast step: the point forecast and its 80% and 95% intervals."""

    value: float
    lower_80: float
    upper_80: float
    lower_95: float
    upper_95: float


@dataclass(frozen=True)
class Backtest:
    """Rolling-origin accuracy of the chosen model on the history: MASE against seasonal naive, 95% coverage."""

    mase: float
    coverage_95: float
    horizon: int


@dataclass(frozen=True)
class Forecast:
    """A forecast: the model chosen by backtest, one point per future step, and the backtest that chose it."""

    model: str
    points: list[ForecastPoint]
    backtest: Backtest
