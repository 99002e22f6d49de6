"""Detectors: each judges a point on the points before it (see docs/forecasting.md for every rule).

- `seasonal`: the robust seasonal rule (`seasonal.py`), vectorised over the whole series.
- `ets`, `arima`, `theta`: forecast-interval breach. The model (`models.Fitted`) is estimated on the last
  8 seasons before its block (blocks of two seasons, aligned to the series' start) and forecasts each
  point one step ahead from the last 8 seasons; the spread is 1.4826 x MAD of its own one-step errors
  over the last four seasons before the point (an out-of-sample, conformal calibration).
- `level_shift`: the seasonally adjusted last four seasons plus the point; where the median of the last
  m points (m = max(2, season // 4)) lies over 2 spreads from the median before them, ruptures
  (KernelCPD, linear kernel: the exact least-squares change point) finds one change point; when the new
  segment is m..2m points long and all its points lie on one side of the old segment's median, the score
  is their smallest distance from that median over the old segment's robust spread.
- `ensemble`: the highest of the geometric mean of the `seasonal` and `ets` scores, the `level_shift` score,
  and a drift score: 0.8 x the geometric mean of both detectors' `drift` over the last season (`drift`).
- `auto`: per block, the candidate (`seasonal`, `ets`, `ensemble`) whose expected values had the lowest
  mean absolute error over the last four seasons before the block.

All of it runs on the signed log1p scale (`seasonal.to_working`); judgements are turned back at the end.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from numpy.typing import NDArray

from analytics_engine.forecasting import seasonal as robust
from analytics_engine.forecasting.models import Fitted, fit_window, fitted
from analytics_engine.forecasting.seasonal import Array
from analytics_engine.forecasting.types import DETECTORS, FORECAST_DETECTORS, Judgement, TooShort, threshold

Counts = NDArray[np.bool_]

BLOCK_SEASONS = 2
"""Forecast detectors re-estimate their parameters every two seasons."""
DETECTOR_FIT_SEASONS = 8
"""Forecast detectors fit on (and forecast from) the last 8 seasons."""
AUTO_CANDIDATES: tuple[str, ...] = ("seasonal", "ets", "ensemble")
GATE = 2.0
"""`level_shift` asks ruptures only where the last m points' median is over 2 spreads from the older median."""
DRIFT_CLIP = 6.0
"""A signed score counts at most ±6 in a drift (one outlier does not make a drift)."""
DRIFT_WEIGHT = 0.8
"""The ensemble's drift term is 0.8 x the geometric mean of the two detectors' drifts."""


def needed(season: int, detector: str = "auto") -> int:
    """Points of history a detector needs before it judges a point (three seasons for every detector)."""
    return robust.needed(max(1, season))


@dataclass
class Track:
    """A detector's expected value, spread and score for every point of a series (NaN where not judged)."""

    expected: Array
    spread: Array
    score: Array
    reasons: dict[int, str]


def _empty(n: int) -> Track:
    nan = np.full(n, np.nan)
    return Track(nan.copy(), nan.copy(), nan.copy(), {})


def seasonal_track(x: Array, season: int, counts: Counts) -> Track:
    expected, spread = robust.expected_and_spread(x, season, counts)
    return Track(expected, spread, np.abs(x - expected) / spread, {})


def forecast_track(x: Array, season: int, model: str, start: int, counts: Counts) -> Track:
    """One-step-ahead forecasts of `model` for t in [start - 4s, n) and the spread of its own past errors."""
    s = season
    n = len(x)
    block = BLOCK_SEASONS * s
    window = fit_window(s, DETECTOR_FIT_SEASONS)
    spread_width = robust.SPREAD_SEASONS * s
    first = max(2 * s, start - spread_width)
    expected = np.full(n, np.nan)
    fits: dict[int, Fitted] = {}
    for t in range(first, n):
        p = (t // block) * block
        if p < 2 * s:
            continue
        if p not in fits:
            fits[p] = fitted(model, x, max(0, p - window), p, s)
        expected[t] = fits[p].predict(x, max(0, t - window), t, 1)[0]
    errors = x - expected
    spread = robust.trailing_spread(errors, spread_width, s)
    spread = np.maximum(spread, robust.spread_floor(expected, counts))
    return Track(expected, spread, np.abs(errors) / spread, {})


def level_shift_track(x: Array, season: int, start: int, sensitivity: float, counts: Counts) -> Track:
    """The level-shift score for t in [start, n): see the module docstring."""
    import ruptures

    s = season
    n = len(x)
    k = threshold(sensitivity)
    m = max(2, s // 4)
    span = robust.SPREAD_SEASONS * s
    track = _empty(n)
    index_cache: dict[int, Array] = {}
    block = BLOCK_SEASONS * s
    for t in range(max(start, robust.needed(s)), n):
        p = (t // block) * block
        if p not in index_cache:
            index_cache[p] = Fitted("seasonal_naive", x, max(0, p - fit_window(s, DETECTOR_FIT_SEASONS)), p, s).index
        index = index_cache[p]
        lo = max(0, t - span)
        z = x[lo : t + 1] - index[np.arange(lo, t + 1) % s]
        before, after = z[:-m], z[-m:]
        centre = float(np.median(before))
        spread = _spread(before, centre + index[t % s], bool(counts[t]))
        track.expected[t] = centre + index[t % s]
        track.spread[t] = spread
        cheap = abs(float(np.median(after)) - centre) / spread
        score = 0.0
        if cheap > GATE:
            bkps = ruptures.KernelCPD(kernel="linear", min_size=2).fit(z).predict(n_bkps=1)
            b = int(bkps[0])
            post = len(z) - b
            if m <= post <= 2 * m and b >= 2 * s // 2:
                old, new = z[:b], z[b:]
                base = float(np.median(old))
                dev = new - base
                if np.all(dev > 0) or np.all(dev < 0):
                    score = float(np.min(np.abs(dev))) / _spread(old, base + index[t % s], bool(counts[t]))
                if score > k:
                    shift = float(np.median(new)) - base
                    track.reasons[t] = f"level shift of about {math.expm1(shift):+.0%} starting {post - 1} points ago"
        track.score[t] = score
    return track


def _spread(v: Array, expected: float, counts: bool) -> float:
    """1.4826 x MAD of v (1.2533 x mean absolute deviation when 0), never below the scale's floor."""
    dev = np.abs(v - float(np.median(v)))
    mad = 1.4826 * float(np.median(dev))
    if mad <= 0:
        mad = 1.2533 * float(np.mean(dev))
    return max(mad, float(robust.spread_floor(np.array([expected]), np.array([counts]))[0]))


def drift(y: Array, track: Track, width: int) -> Array:
    """|sum of the last `width` signed scores (each clipped to ±6, the point itself included)| / sqrt(width):
    residuals that keep one sign add up even when none passes the threshold alone (a slow change)."""
    z = np.nan_to_num(np.clip((y - track.expected) / track.spread, -DRIFT_CLIP, DRIFT_CLIP))
    out = np.full(len(y), np.nan)
    if len(y) >= width:
        # A sum per window (not a running sum): the same points give the same bits however long the series.
        out[width - 1 :] = np.abs(sliding_window_view(z, width).sum(axis=1)) / math.sqrt(width)
    return out


def ensemble_track(y: Array, season: int, seasonal_t: Track, ets_t: Track, level_t: Track) -> Track:
    """max(sqrt(seasonal x ets), level_shift, 0.8 sqrt(drift_seasonal x drift_ets)) (the module docstring)."""
    expected = (seasonal_t.expected + ets_t.expected) / 2
    spread = np.sqrt(seasonal_t.spread * ets_t.spread)
    joint = np.sqrt(seasonal_t.score * ets_t.score)
    level = np.nan_to_num(level_t.score, nan=0.0)
    slow = DRIFT_WEIGHT * np.sqrt(np.nan_to_num(drift(y, seasonal_t, season) * drift(y, ets_t, season)))
    score = np.where(np.isfinite(joint), np.maximum(np.maximum(joint, level), slow), np.nan)
    reasons = {t: r for t, r in level_t.reasons.items() if level[t] >= joint[t] and level[t] >= slow[t]}
    for t in np.flatnonzero(np.nan_to_num(slow) > np.maximum(np.nan_to_num(joint), level)):
        reasons[int(t)] = f"drift: the last {season} points stayed on one side of the expected values"
    return Track(expected, spread, score, reasons)


def auto_track(x: Array, season: int, tracks: dict[str, Track]) -> tuple[Track, dict[int, str]]:
    """Per block, the candidate with the lowest mean absolute error of its expected values before the block."""
    s = season
    n = len(x)
    block = BLOCK_SEASONS * s
    span = robust.SPREAD_SEASONS * s
    out = _empty(n)
    chosen: dict[int, str] = {}
    for p in range(0, n, block):
        lo, hi = max(0, p - span), p
        best, best_err = "seasonal", math.inf
        for name in AUTO_CANDIDATES:
            err = np.abs(x[lo:hi] - tracks[name].expected[lo:hi])
            err = err[np.isfinite(err)]
            if len(err) >= s and float(np.mean(err)) < best_err:
                best, best_err = name, float(np.mean(err))
        sl = slice(p, min(n, p + block))
        for attr in ("expected", "spread", "score"):
            getattr(out, attr)[sl] = getattr(tracks[best], attr)[sl]
        for t in range(sl.start, sl.stop):
            chosen[t] = best
            if t in tracks[best].reasons:
                out.reasons[t] = tracks[best].reasons[t]
    return out, chosen


def _check(season: int, detector: str, sensitivity: float) -> None:
    if detector not in DETECTORS:
        raise ValueError(f"unknown detector {detector!r}; one of {', '.join(DETECTORS)}")
    if season < 1:
        raise ValueError("season must be at least 1")
    threshold(sensitivity)


def build_tracks(
    x: Array, season: int, detector: str, sensitivity: float, start: int
) -> tuple[dict[str, Track], dict[int, str]]:
    """The tracks `detector` needs (and the per-point choice of `auto`), for judging t in [start, n).

    No score depends on the sensitivity: one set of tracks gives every sensitivity's verdicts."""
    y = robust.to_working(x)
    counts = robust.counts_before(x)
    tracks: dict[str, Track] = {}
    names: set[str] = {detector}
    if detector == "ensemble":
        names |= {"seasonal", "ets", "level_shift"}
    if detector == "auto":
        names |= {"seasonal", "ets", "level_shift", "ensemble"}
    if "seasonal" in names:
        tracks["seasonal"] = seasonal_track(y, season, counts)
    for model in FORECAST_DETECTORS:
        if model in names:
            # Points before `start` whose forecasts are needed: the last season for the drift term, and for
            # auto the two seasons back to its block's start (whose choice looks 4 seasons further back).
            span = season * (2 if detector == "auto" else 1)
            tracks[model] = forecast_track(y, season, model, start - span, counts)
    if "level_shift" in names:
        tracks["level_shift"] = level_shift_track(y, season, start, sensitivity, counts)
    if "ensemble" in names:
        tracks["ensemble"] = ensemble_track(y, season, tracks["seasonal"], tracks["ets"], tracks["level_shift"])
    chosen: dict[int, str] = {}
    if detector == "auto":
        tracks["auto"], chosen = auto_track(y, season, tracks)
    return tracks, chosen


def _walk(x: Array, season: int, detector: str, sensitivity: float, start: int) -> list[Judgement | None]:
    """Judgements for t in [start, n), each on x[:t] only."""
    n = len(x)
    k = threshold(sensitivity)
    tracks, chosen = build_tracks(x, season, detector, sensitivity, start)
    track = tracks[detector]
    out: list[Judgement | None] = []
    for t in range(start, n):
        e, sp, sc = track.expected[t], track.spread[t], track.score[t]
        if t < needed(season, detector) or not (np.isfinite(e) and np.isfinite(sp) and np.isfinite(sc)):
            out.append(None)
            continue
        anomalous = bool(sc > k)
        name = chosen.get(t, detector)
        expected, lower, upper = (float(v) for v in robust.to_raw(np.array([e, e - k * sp, e + k * sp])))
        if anomalous:
            reason = track.reasons.get(t) or (
                f"{name}: {x[t]:.4g} is {'above' if x[t] > expected else 'below'} the expected {expected:.4g} "
                f"by {sc:.1f} spreads (threshold {k:.1f})"
            )
        else:
            reason = f"{name}: within {k:.1f} spreads of the expected {expected:.4g}"
        out.append(
            Judgement(
                expected=expected,
                lower=lower,
                upper=upper,
                score=float(sc),
                anomalous=anomalous,
                reason=reason,
            )
        )
    return out


def _series(values: Sequence[float]) -> Array:
    x = np.asarray(values, dtype=np.float64)
    if x.ndim != 1 or not np.all(np.isfinite(x)):
        raise ValueError("series holds a missing or infinite value")
    return x


def judge(
    history: Sequence[float], value: float, *, season: int, detector: str = "auto", sensitivity: float = 0.5
) -> Judgement:
    """Judge `value` on `history` (the points before it). Raises TooShort when the history is too short."""
    _check(season, detector, sensitivity)
    need = needed(season, detector)
    if len(history) < need:
        raise TooShort(need, len(history))
    x = _series([*history, value])
    result = _walk(x, season, detector, sensitivity, len(x) - 1)[0]
    if result is None:
        raise TooShort(need, len(history))
    return result


def judge_walk(
    series: Sequence[float], *, season: int, detector: str = "auto", sensitivity: float = 0.5
) -> list[Judgement | None]:
    """Causal walk-forward: element i judges series[i] on series[:i]; None while the history is too short."""
    _check(season, detector, sensitivity)
    x = _series(series)
    return _walk(x, season, detector, sensitivity, 0)
