"""The robust seasonal rule, vectorised over a whole series (numpy only).

For a point t with season s (all windows use only points before t):
- level L(t) = median(x[t-s .. t-1]), the median of the last full season;
- seasonal deviation d(t) = x(t) - L(t);
- expected e(t) = L(t) + median(d(t-s), d(t-2s), ..., d(t-Ks)) over the K = 4 past seasons available (at least 1);
  for hourly data (s = 24) with at least two weeks before t, the lags are weeks instead: d(t-168), d(t-336), ...;
- residual r(t) = x(t) - e(t);
- spread S(t) = 1.4826 x MAD of the last W = 4s residuals before t (at least s of them), falling back to
  1.2533 x their mean absolute deviation when the MAD is 0; never below `spread_floor`.
Every rule works on the signed log1p scale (`to_working`); expected values and bands go back with `to_raw`.
"""

from __future__ import annotations

import warnings

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from numpy.typing import NDArray

Array = NDArray[np.float64]

SEASONS_BACK = 4
"""K: how many past seasons give the seasonal deviation's median."""
SPREAD_SEASONS = 4
"""W / s: how many seasons of past residuals give the spread."""
WEEKS = {24: 168}
"""Hourly data (season 24) has a weekly pattern too: with two weeks of history, the seasonal deviations
are taken at the same hour of the week (lags of 168) instead of the same hour of the day."""
WEEKS_BACK_LEAST = 2


def needed(season: int) -> int:
    """Points of history the robust seasonal rule needs before it judges a point: three seasons."""
    return 3 * season


def _nanmedian_rows(m: Array) -> Array:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.asarray(np.nanmedian(m, axis=1), dtype=np.float64)


def trailing_median(x: Array, width: int) -> Array:
    """out[t] = median(x[t-width .. t-1]) for t >= width, NaN before."""
    n = len(x)
    out = np.full(n, np.nan)
    if n > width:
        out[width:] = np.median(sliding_window_view(x[:-1], width), axis=1)
    return out


def lagged(v: Array, lag: int) -> Array:
    """out[t] = v[t - lag], NaN where t - lag < 0."""
    out = np.full(len(v), np.nan)
    if lag < len(v):
        out[lag:] = v[: len(v) - lag]
    return out


def trailing_spread(r: Array, width: int, least: int) -> Array:
    """out[t] = 1.4826 x MAD of the finite values among r[t-width .. t-1] (NaN with fewer than `least`)."""
    n = len(r)
    padded = np.concatenate([np.full(width, np.nan), r])
    windows = sliding_window_view(padded[:-1], width)[:n]
    count = np.sum(np.isfinite(windows), axis=1)
    centre = _nanmedian_rows(windows)
    dev = np.abs(windows - centre[:, None])
    mad = 1.4826 * _nanmedian_rows(dev)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        mean_dev = 1.2533 * np.nanmean(dev, axis=1)
    spread = np.where(mad > 0, mad, mean_dev)
    spread[count < least] = np.nan
    return spread


def counts_before(x: Array) -> NDArray[np.bool_]:
    """c[t]: every point before t is a non-negative whole number (a count). Only the past decides."""
    whole = (x >= 0) & (x == np.round(x))
    return np.concatenate([[True], np.logical_and.accumulate(whole)[:-1]]) if len(x) else np.zeros(0, dtype=bool)


def to_working(x: Array) -> Array:
    """The working scale: signed log1p, sign(x) log(1 + |x|). Counts' noise grows with their level and
    their anomalies are relative; on this scale both become additive. It decides nothing from the data."""
    return np.asarray(np.sign(x) * np.log1p(np.abs(x)), dtype=np.float64)


def to_raw(y: Array) -> Array:
    return np.asarray(np.sign(y) * np.expm1(np.abs(y)), dtype=np.float64)


def spread_floor(expected: Array, counts: NDArray[np.bool_]) -> Array:
    """The smallest spread allowed around `expected` (working scale): 1e-9 + 0.001 |e|, and where the
    history is counts, the Poisson spread on the working scale, sqrt(max(E, 1)) / (1 + E), E the
    expected count."""
    floor = 1e-9 + 1e-3 * np.abs(expected)
    count = np.maximum(to_raw(np.nan_to_num(expected)), 0.0)
    poisson = np.sqrt(np.maximum(count, 1.0)) / (1.0 + count)
    return np.asarray(np.where(counts, np.maximum(floor, poisson), floor), dtype=np.float64)


def expected_and_spread(x: Array, season: int, counts: NDArray[np.bool_]) -> tuple[Array, Array]:
    """e(t) and S(t) for every t of the series x (working scale; NaN where the history is too short)."""
    s = season
    level = trailing_median(x, s)
    dev = x - level
    stacked = np.stack([lagged(dev, k * s) for k in range(1, SEASONS_BACK + 1)], axis=1)
    expected = level + _nanmedian_rows(stacked)
    week = WEEKS.get(s)
    if week is not None and len(x) > WEEKS_BACK_LEAST * week + s:
        weekly = np.stack([lagged(dev, k * week) for k in range(1, SEASONS_BACK + 1)], axis=1)
        enough = np.sum(np.isfinite(weekly), axis=1) >= WEEKS_BACK_LEAST
        expected = np.where(enough, level + _nanmedian_rows(weekly), expected)
    resid = x - expected
    spread = trailing_spread(resid, SPREAD_SEASONS * s, s)
    return expected, np.maximum(spread, spread_floor(expected, counts))


def seasonal_index(y: Array, season: int) -> Array:
    """Additive seasonal index by phase (index[t mod s]): the median deviation from a centred moving average,
    centred to sum to zero. Zeros when the series is shorter than two seasons."""
    s = season
    n = len(y)
    if s <= 1 or n < 2 * s:
        return np.zeros(max(s, 1))
    kernel = np.ones(s) / s
    if s % 2 == 0:
        kernel = np.convolve(kernel, np.ones(2) / 2)
    trend = np.full(n, np.nan)
    half = len(kernel) // 2
    trend[half : n - half] = np.convolve(y, kernel, mode="valid")
    dev = y - trend
    index = np.zeros(s)
    for p in range(s):
        vals = dev[(np.arange(n) % s) == p]
        vals = vals[np.isfinite(vals)]
        index[p] = float(np.median(vals)) if len(vals) else 0.0
    return np.asarray(index - index.mean(), dtype=np.float64)
