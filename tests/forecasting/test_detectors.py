"""Detectors on synthetic series with known anomalies; causality; too-short histories."""

from __future__ import annotations

import numpy as np
import pytest

from analytics_engine.forecasting import DETECTORS, TooShort, judge, judge_walk, threshold
from tests.forecasting.series import weekly_counts


def flagged(series: np.ndarray, detector: str, season: int = 7) -> list[int]:
    return [i for i, j in enumerate(judge_walk(series.tolist(), season=season, detector=detector)) if j and j.anomalous]


@pytest.mark.parametrize("detector", [d for d in DETECTORS if d != "level_shift"])
def test_spike_and_drop_to_zero_are_flagged(detector: str) -> None:
    x = weekly_counts()
    x[60] *= 2.5
    x[100] = 0.0
    hits = flagged(x, detector)
    assert 60 in hits
    assert 100 in hits


@pytest.mark.parametrize("detector", ["seasonal", "ensemble", "level_shift", "auto"])
def test_level_shift_is_flagged_soon_after_it_starts(detector: str) -> None:
    x = weekly_counts()
    x[90:] *= 0.3
    hits = flagged(x, detector)
    assert any(90 <= i <= 97 for i in hits)


def test_a_slow_decline_is_flagged_by_the_ensemble_as_a_drift() -> None:
    """A ramp down to 40% over two weeks: no single day is far off, but the days keep falling short."""
    x = weekly_counts(n=160, level=2000.0)
    ramp = np.clip((np.arange(160) - 100) / 14, 0, 1)
    x = np.round(x * (1 - 0.6 * ramp))
    walk = judge_walk(x.tolist(), season=7, detector="ensemble")
    hits = [i for i, j in enumerate(walk) if j and j.anomalous]
    assert any(100 <= i <= 121 for i in hits)
    assert any("drift" in walk[i].reason for i in hits if 100 <= i <= 121)  # type: ignore[union-attr]


def test_clean_series_has_few_flags() -> None:
    x = weekly_counts(n=200, seed=3)
    assert len(flagged(x, "seasonal")) <= 2
    assert len(flagged(x, "auto")) <= 2


@pytest.mark.parametrize("detector", DETECTORS)
def test_walk_is_causal_and_matches_judge(detector: str) -> None:
    """Element i never changes when points after i change, and equals judge(series[:i], series[i])."""
    x = weekly_counts(n=120)
    cut = 80
    perturbed = x.copy()
    perturbed[cut + 1 :] = perturbed[cut + 1 :][::-1] * 3 + 1000
    perturbed[-3:] = [-5.5, 0.25, 1e9]  # not counts any more, even negative: only the past decides the scale
    a = judge_walk(x.tolist(), season=7, detector=detector)
    b = judge_walk(perturbed.tolist(), season=7, detector=detector)
    assert a[: cut + 1] == b[: cut + 1]
    for i in (21, 37, 64, cut, 119):  # bit for bit, whatever the series' length after i
        assert a[i] == judge(x[:i].tolist(), float(x[i]), season=7, detector=detector)


def test_walk_is_none_while_too_short() -> None:
    walk = judge_walk(weekly_counts(n=40).tolist(), season=7, detector="seasonal")
    assert all(j is None for j in walk[:21])
    assert all(j is not None for j in walk[21:])


def test_too_short_says_how_many_points_are_needed() -> None:
    with pytest.raises(TooShort) as info:
        judge([1.0] * 10, 2.0, season=7)
    assert info.value.needed == 21
    assert "21" in str(info.value)
    with pytest.raises(TooShort) as hourly:
        judge([1.0] * 30, 2.0, season=24)
    assert hourly.value.needed == 72


@pytest.mark.parametrize("detector", DETECTORS)
@pytest.mark.parametrize("season", [7, 24])
def test_every_detector_judges_once_the_needed_history_is_there(detector: str, season: int) -> None:
    x = weekly_counts(n=3 * season + 1).tolist()
    judgement = judge(x[:-1], x[-1], season=season, detector=detector)
    assert judgement.lower <= judgement.expected <= judgement.upper


def test_judgement_band_and_score_agree() -> None:
    x = weekly_counts()
    j = judge(x[:100].tolist(), float(x[100]) * 3, season=7, detector="seasonal", sensitivity=0.5)
    assert j.anomalous and j.score > threshold(0.5)
    assert j.lower < j.expected < j.upper
    assert not (j.lower <= float(x[100]) * 3 <= j.upper)
    assert "above" in j.reason


def test_sensitivity_maps_to_a_threshold() -> None:
    assert threshold(0.0) == 8.0
    assert threshold(0.5) == 5.0
    assert threshold(1.0) == 2.0
    with pytest.raises(ValueError):
        threshold(1.5)


def test_unknown_detector_and_missing_values_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown detector"):
        judge_walk([1.0] * 30, season=7, detector="prophet")
    with pytest.raises(ValueError, match="missing"):
        judge_walk([1.0, float("nan")] * 20, season=7)


def test_constant_series_does_not_divide_by_zero() -> None:
    walk = judge_walk([5.0] * 60, season=7, detector="auto")
    assert all(j is None or not j.anomalous for j in walk)
    j = judge([5.0] * 60, 50.0, season=7, detector="seasonal")
    assert j.anomalous
