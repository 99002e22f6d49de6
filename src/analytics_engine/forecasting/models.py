"""statsforecast models on a seasonally adjusted series, and `forecast` with a rolling-origin backtest.

Every model works the same way: the additive seasonal index (`seasonal.seasonal_index`, phases by the
point's position in the whole series) is taken out, a non-seasonal statsforecast model is fitted on the
adjusted series, and the index is put back on the forecast. Parameters are estimated once per origin block
and applied to newer data with the model's `forward` (no new optimisation), which keeps a walk cheap.

statsforecast 2.x runs its ETS/ARIMA/Theta code compiled ahead of time (a C++ extension), not with numba,
so nothing is compiled at run time and there is no compile cache to keep; the first call pays only the
import (about 4 s), which `warm_up` does once.
"""

from __future__ import annotations

import hashlib
import math
import threading
import warnings
from collections import OrderedDict
from collections.abc import Sequence
from functools import cache
from typing import Any, Protocol

import numpy as np

from analytics_engine.forecasting.seasonal import Array, seasonal_index
from analytics_engine.forecasting.types import Backtest, Forecast, ForecastPoint, TooShort

MODELS: tuple[str, ...] = ("ets", "arima", "theta", "seasonal_naive")
"""Models `forecast` chooses from by backtest."""
FIT_SEASONS = 16
"""Models are fitted on at most the last 16 seasons (112 days of daily data, 16 days of hourly)."""
BACKTEST_WINDOWS = 4
"""Rolling origins in a forecast's backtest (at least 2 are needed)."""


class _Model(Protocol):
    def fit(self, y: Array) -> Any: ...
    def forward(self, y: Array, h: int) -> dict[str, Array]: ...
    def forecast(self, y: Array, h: int) -> dict[str, Array]: ...


@cache
def _statsforecast() -> Any:
    """The statsforecast models module, imported once and lazily (the import takes seconds)."""
    import statsforecast.models as sf_models

    return sf_models


def warm_up() -> None:
    """Import statsforecast and run each model once, so the first real request does not pay for it."""
    x = np.arange(60, dtype=np.float64) % 7 + np.arange(60) * 0.1
    forecast(x.tolist(), season=7, horizon=7)


def _new(model: str) -> _Model:
    sf = _statsforecast()
    if model == "ets":
        return sf.AutoETS(model="AZN")  # type: ignore[no-any-return]
    if model == "arima":
        return sf.ARIMA(order=(1, 1, 1))  # type: ignore[no-any-return]
    if model == "theta":
        return sf.Theta()  # type: ignore[no-any-return]
    raise ValueError(f"unknown model {model!r}")


def adjust(x: Array, lo: int, hi: int, season: int, index: Array) -> Array:
    """x[lo:hi] minus the seasonal index by absolute phase."""
    return np.asarray(x[lo:hi] - index[np.arange(lo, hi) % season], dtype=np.float64)


def phase_index(x: Array, lo: int, hi: int, season: int) -> Array:
    """The seasonal index of x[lo:hi], by absolute phase (position in x modulo the season)."""
    local = seasonal_index(x[lo:hi], season)
    return np.roll(local, lo % season) if season > 1 else local


_FITS: OrderedDict[tuple[str, int, int, bytes], Fitted] = OrderedDict()
_FITS_LOCK = threading.Lock()
FIT_CACHE_SIZE = 4096
"""Fitted models kept (least recently used dropped): a rule judged again on the same data refits nothing."""


def fitted(model: str, x: Array, lo: int, hi: int, season: int) -> Fitted:
    """`Fitted(...)`, shared by every call with the same model, season, phase and data."""
    key = (model, season, lo % season, hashlib.blake2b(x[lo:hi].tobytes(), digest_size=16).digest())
    with _FITS_LOCK:
        found = _FITS.get(key)
        if found is not None:
            _FITS.move_to_end(key)
            return found
    made = Fitted(model, x, lo, hi, season)
    with _FITS_LOCK:
        _FITS[key] = made
        while len(_FITS) > FIT_CACHE_SIZE:
            _FITS.popitem(last=False)
    return made


class Fitted:
    """A model's parameters estimated on x[lo:hi] (seasonally adjusted), applied to any later window.
    It depends only on the data and on lo's phase (the index is by position modulo the season)."""

    def __init__(self, model: str, x: Array, lo: int, hi: int, season: int) -> None:
        self.model = model
        self.season = season
        self.index = phase_index(x, lo, hi, season)
        self._sf: _Model | None = None
        if model in ("ets", "arima"):
            y = adjust(x, lo, hi, season, self.index)
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    sf = _new(model)
                    sf.fit(y=y)
                self._sf = sf
            except Exception:  # a model that cannot fit this data falls back to the last value
                self._sf = None

    def predict(self, x: Array, lo: int, hi: int, h: int) -> Array:
        """Forecast x[hi : hi+h] from x[lo:hi] with these parameters (seasonal index put back)."""
        s = self.season
        future = self.index[np.arange(hi, hi + h) % s]
        if self.model == "seasonal_naive":
            return np.asarray(x[hi - s + (np.arange(h) % s)], dtype=np.float64)
        y = adjust(x, lo, hi, s, self.index)
        mean: Array | None = None
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                if self.model == "theta":
                    mean = np.asarray(_new("theta").forecast(y=y, h=h)["mean"], dtype=np.float64)
                elif self._sf is not None:
                    mean = np.asarray(self._sf.forward(y=y, h=h)["mean"], dtype=np.float64)
        except Exception:  # fall back to the last adjusted value
            mean = None
        if mean is None or not np.all(np.isfinite(mean)):
            mean = np.full(h, y[-1])
        return mean + future


def fit_window(season: int, seasons: int = FIT_SEASONS) -> int:
    """How many of the latest points a model is fitted on: `seasons` seasons, at least 56 points."""
    return max(seasons * season, 56)


def forecast_needed(season: int, horizon: int) -> int:
    """Points of history `forecast` needs: two seasons to fit, plus two backtest origins a season apart."""
    return 2 * season + horizon + max(season, 1)


def _conformal(errors: Array, scale: Array, levels: Sequence[float]) -> list[Array]:
    """Half-widths per step: the finite-sample conformal quantile of |error| / scale, times the scale."""
    ratios = (np.abs(errors) / scale[None, :]).ravel()
    ratios = ratios[np.isfinite(ratios)]
    out = []
    for level in levels:
        m = len(ratios)
        rank = min(1.0, math.ceil((m + 1) * level) / m) if m else 1.0
        q = float(np.quantile(ratios, rank)) if m else 0.0
        out.append(q * scale)
    return out


def _step_scale(errors: Array) -> Array:
    """Per step k: the mean absolute error of steps 1..k over the windows (non-decreasing, never 0)."""
    per_step = np.nanmean(np.abs(errors), axis=0)
    scale = np.maximum.accumulate(np.cumsum(per_step) / np.arange(1, len(per_step) + 1))
    positive = scale[scale > 0]
    return np.where(scale > 0, scale, positive.min() if len(positive) else 1.0)


def forecast(history: Sequence[float], *, season: int, horizon: int) -> Forecast:
    """Forecast `horizon` steps with the model whose rolling-origin backtest error is lowest.

    Backtest: origins n - horizon - j*season (j = 0..3, as many as the history allows), each forecasting
    `horizon` points with parameters estimated only on data before its origin. The model with the lowest
    mean absolute error wins. Intervals are conformal: the quantile of |error| over all backtest points
    (divided by a per-step scale, the cumulative mean absolute error up to that step) times the scale.
    `mase` is the winner's backtest MAE over the in-sample MAE of the one-season naive forecast;
    `coverage_95` is how often a backtest point fell in a 95% interval calibrated on the other windows."""
    x = np.asarray(history, dtype=np.float64)
    if horizon < 1:
        raise ValueError("horizon must be at least 1")
    season = max(1, int(season))
    n = len(x)
    need = forecast_needed(season, horizon)
    if n < need:
        raise TooShort(need, n)
    if not np.all(np.isfinite(x)):
        raise ValueError("history holds a missing or infinite value")
    window = fit_window(season)
    origins = [n - horizon - j * season for j in range(BACKTEST_WINDOWS)]
    origins = [o for o in origins if o >= 2 * season]
    first = min(origins)
    errors: dict[str, Array] = {}
    fits: dict[str, Fitted] = {}
    for model in MODELS:
        fitted = Fitted(model, x, max(0, first - window), first, season)
        fits[model] = fitted
        rows = [x[o : o + horizon] - fitted.predict(x, max(0, o - window), o, horizon) for o in origins]
        errors[model] = np.vstack(rows)
    mae = {m: float(np.mean(np.abs(e))) for m, e in errors.items()}
    chosen = min(MODELS, key=lambda m: (mae[m], MODELS.index(m)))
    err = errors[chosen]
    scale = _step_scale(err)
    lo = max(0, n - window)
    final = Fitted(chosen, x, lo, n, season) if chosen != "seasonal_naive" else fits[chosen]
    mean = final.predict(x, lo, n, horizon)
    half80, half95 = _conformal(err, scale, (0.80, 0.95))
    points = [
        ForecastPoint(
            value=float(mean[k]),
            lower_80=float(mean[k] - half80[k]),
            upper_80=float(mean[k] + half80[k]),
            lower_95=float(mean[k] - half95[k]),
            upper_95=float(mean[k] + half95[k]),
        )
        for k in range(horizon)
    ]
    naive_scale = float(np.mean(np.abs(x[season:] - x[:-season]))) if n > season else 0.0
    mase = mae[chosen] / naive_scale if naive_scale > 0 else float("nan")
    return Forecast(
        model=chosen,
        points=points,
        backtest=Backtest(mase=mase, coverage_95=_held_out_coverage(err), horizon=horizon),
    )


CALIBRATION_ORIGINS = 60
"""One-step-ahead residuals `forecast_next` calibrates its interval on (as many as the history allows)."""
CALIBRATION_BLOCK = 7
"""Parameters of the calibration's model are re-estimated every this many origins (at least a season)."""
_Z = {0.80: 1.2815515655446004, 0.95: 1.959963984540054}


def is_count_series(x: Array) -> bool:
    """Non-negative whole numbers: event counts, users (their noise is at least Poisson)."""
    return bool(len(x)) and bool(np.all(x >= 0)) and bool(np.all(x == np.round(x)))


def forecast_next(history: Sequence[float], *, season: int) -> Forecast:
    """The next point with intervals calibrated for one step ahead (what the `forecast` alert
    condition judges a new value by).

    The model and point forecast are `forecast(..., horizon=1)`'s. Its interval, calibrated on only
    the backtest's few origins, is too narrow for one step (measured: a 95% interval held the next
    value 57-70% of the time on weekly Poisson counts). Here the half-width is the `level` quantile
    of |error| of the chosen model's one-step-ahead errors at up to `CALIBRATION_ORIGINS` origins
    (parameters re-estimated every block of origins on the data before the block, each origin
    forecast from the data before it only), and for a count series at least the Poisson noise of
    the forecast, z * sqrt(forecast). Measured coverage: tests/alerts/test_forecast_coverage.py."""
    base = forecast(history, season=season, horizon=1)
    x = np.asarray(history, dtype=np.float64)
    season = max(1, int(season))
    n = len(x)
    window = fit_window(season)
    origins = range(max(2 * season, n - CALIBRATION_ORIGINS), n)
    block = max(season, CALIBRATION_BLOCK)
    errors_list = []
    for o in origins:
        start = origins[0] + (o - origins[0]) // block * block  # parameters re-estimated every block
        model = fitted(base.model, x, max(0, start - window), start, season)
        errors_list.append(x[o] - model.predict(x, max(0, o - window), o, 1)[0])
    errors = np.asarray(errors_list, dtype=np.float64)
    errors = errors[np.isfinite(errors)]
    point = base.points[0]
    mean = point.value
    halves = []
    for level in (0.80, 0.95):
        half = float(np.quantile(np.abs(errors), level)) if len(errors) else 0.0
        if is_count_series(x):
            half = max(half, _Z[level] * math.sqrt(max(mean, 1.0)))
        halves.append(half)
    half80, half95 = halves
    calibrated = ForecastPoint(
        value=mean, lower_80=mean - half80, upper_80=mean + half80, lower_95=mean - half95, upper_95=mean + half95
    )
    return Forecast(model=base.model, points=[calibrated], backtest=base.backtest)


def _held_out_coverage(err: Array) -> float:
    """Share of backtest errors inside a 95% interval calibrated on the other windows (leave one window out)."""
    if len(err) < 2:
        return float("nan")
    inside = 0
    total = 0
    for j in range(len(err)):
        rest = np.delete(err, j, axis=0)
        (half,) = _conformal(rest, _step_scale(rest), (0.95,))
        inside += int(np.sum(np.abs(err[j]) <= half))
        total += err.shape[1]
    return inside / total
