"""The robust seasonal rule, vectorised over a whole series (numpy only).

For a point t with season s (all windows use only points before t):
- level L(t) = median(x[t-s .. t-1]), the median of the last full season;
- seasonal deviation d(t) = x(t) - L(t);
- expected e(t) = L(t) + median(d(t-s), d(t-2s), ..., d(t-Ks)) over the K = 4 past seasons available (at least 1);
- residual r(t) = x(t) - e(t);
- spread S(t) = 1.4826 x MAD of the last W = 4s residuals before t (at least s of them), falling back to
  1.2533 x their mean absolute deviation when the MAD is 0; for a series of non-negative whole numbers
  (counts) S is at least sqrt(max(e(t), 1)), the Poisson spread; always at least 1e-9 + 1e-3 |e(t)|.
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


def is_counts(x: Array) -> bool:
    """Whether the series is non-negative whole numbers (then the Poisson spread is a floor)."""
    finite = x[np.isfinite(x)]
    return bool(len(finite)) and bool(np.all(finite >= 0)) and bool(np.all(finite == np.round(finite)))


def expected_and_spread(x: Array, season: int, counts: bool | None = None) -> tuple[Array, Array]:
    """e(t) and S(t) for every t of the series (NaN where the history before t is too short)."""
    s = season
    level = trailing_median(x, s)
    dev = x - level
    stacked = np.stack([lagged(dev, k * s) for k in range(1, SEASONS_BACK + 1)], axis=1)
    expected = level + _nanmedian_rows(stacked)
    resid = x - expected
    spread = trailing_spread(resid, SPREAD_SEASONS * s, s)
    if counts is None:
        counts = is_counts(x)
    floor = 1e-9 + 1e-3 * np.abs(expected)
    if counts:
        floor = np.maximum(floor, np.sqrt(np.maximum(expected, 1.0)))
    return expected, np.maximum(spread, floor)


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
