"""The detection benchmark's scoring on tiny hand-made cases, and a small run of its series."""

from __future__ import annotations

import numpy as np
import pytest

from analytics_engine.bench.detection import (
    Event,
    Labelled,
    Tally,
    alert_starts,
    choose,
    make_benchmark,
    method_scores,
    score_series,
    tolerance,
)


def series_with(events: list[Event], n: int = 60) -> Labelled:
    return Labelled(np.zeros(n), 7, "daily", events)


def flags(n: int, *on: int) -> np.ndarray:
    out = np.zeros(n, dtype=bool)
    out[list(on)] = True
    return out


def test_alert_starts_are_run_starts() -> None:
    assert alert_starts(flags(10, 1, 2, 3, 6, 8, 9)) == [1, 6, 8]
    assert alert_starts(flags(5)) == []


def test_event_level_scoring_without_point_adjustment() -> None:
    spike = Event("spike", 30, 30, 30 + tolerance("spike", 7))
    shift = Event("level_shift", 40, 40, 40 + tolerance("level_shift", 7))
    series = series_with([spike, shift])
    # An alert on the spike's next point detects it (delay 1); a run 42..44 detects the shift (delay 2);
    # 45 is inside the shift's window (no new false alert); 55 is false; 10 is before the warm-up (ignored).
    tally = score_series(flags(60, 10, 31, 42, 43, 44, 46, 55), series)
    assert tally.detected == 2 and tally.false == 1 and tally.events == 2
    assert sorted(tally.delays) == [1, 2]
    summary = tally.summary()
    assert summary["precision"] == pytest.approx(2 / 3)
    assert summary["recall"] == 1.0
    assert summary["f1"] == pytest.approx(0.8)
    # 60 points, 21 of warm-up: 39 days = 1.3 months.
    assert summary["false_per_series_month"] == pytest.approx(1 / 1.3)


def test_an_alert_after_the_window_does_not_count() -> None:
    spike = Event("spike", 30, 30, 31)
    tally = score_series(flags(60, 32), series_with([spike]))
    assert tally.detected == 0 and tally.false == 1
    assert tally.summary()["recall"] == 0.0 and tally.summary()["f1"] == 0.0


def test_choose_prefers_best_f1_within_the_false_alert_limit() -> None:
    noisy = Tally(events=10, detected=10, false=20, months=10)  # F1 0.5, 2 false a month
    quiet = Tally(events=10, detected=4, false=0, months=10)  # F1 0.57, 0 false
    assert choose({"noisy": noisy, "quiet": quiet}) == "quiet"
    assert choose({"noisy": noisy}) == "noisy"


def test_benchmark_series_are_seeded_and_labelled() -> None:
    a = make_benchmark(3, 4, 4)
    b = make_benchmark(3, 4, 4)
    assert all(np.array_equal(x.values, y.values) for x, y in zip(a, b, strict=True))
    assert len(a[0].events) == 0 and len(a[4].events) == 0  # every fourth series is clean
    for s in a:
        assert np.all(s.values >= 0)
        assert all(e.start >= s.warm for e in s.events)
        assert s.season == (24 if s.frequency == "hourly" else 7)


def test_a_spike_in_a_small_run_is_detected_by_ours_and_scored() -> None:
    rng = np.random.default_rng(0)
    t = np.arange(84)
    x = rng.poisson(500 * (1 + 0.3 * np.sin(2 * np.pi * t / 7))).astype(float)
    x[50] *= 3
    series = Labelled(x, 7, "daily", [Event("spike", 50, 50, 51)])
    scores = method_scores(series, ("ensemble", "zscore30"))
    tally = score_series(np.nan_to_num(scores["ensemble"]) > 5.0, series)
    assert tally.detected == 1


def test_a_tiny_run_writes_every_figure(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from analytics_engine.bench import common, detection

    monkeypatch.setattr(common, "RESULTS_DIR", tmp_path)
    payload = detection.run(tune_seed=1, report_seed=2, daily=4, hourly=0, forecasts=1, workers=1)
    assert set(payload["detection"]) == set(detection.OURS + detection.BASELINES)
    for figures in payload["detection"].values():
        assert 0.0 <= figures["precision"] <= 1.0 and 0.0 <= figures["recall"] <= 1.0
    assert set(payload["forecast"]) >= {"h7", "h14", "h28", "speed_365_points_ms"}
    assert 0.0 <= payload["forecast"]["h14"]["coverage_95"] <= 1.0
    assert len(list(tmp_path.glob("detection-*.json"))) == 1
