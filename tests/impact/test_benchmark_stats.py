"""Benchmark statistics: true quantiles (checked against numpy), k-anonymity, Laplace noise."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from statistics import fmean

import numpy as np
import pytest

from analytics_engine.impact.benchmarks import Member, build_rows, group_stats, percentile_rank, quantile


@pytest.mark.parametrize("seed", range(20))
def test_quantiles_match_numpy_on_random_data(seed: int) -> None:
    rng = np.random.default_rng(seed)
    values = list(rng.lognormal(1.0, 0.8, size=int(rng.integers(5, 60))))
    stats = group_stats(values, k=5, epsilon=None, bounds=(0, 20), rng=random.Random(seed))
    assert not stats.suppressed and stats.stats is not None
    for name, q in (("p10", 10), ("p25", 25), ("p50", 50), ("p75", 75), ("p90", 90)):
        assert stats.stats[name] == pytest.approx(float(np.percentile(values, q)), rel=1e-12)
        assert quantile(values, q / 100) == pytest.approx(float(np.quantile(values, q / 100)), rel=1e-12)
    assert stats.stats["mean"] == pytest.approx(fmean(values))


def test_percentile_rank_counts_ties_as_half() -> None:
    assert percentile_rank([1, 2, 3, 4], 3) == 62.5
    assert percentile_rank([1, 2, 3, 4], 0) == 0.0
    assert percentile_rank([5, 5], 5) == 50.0


def test_k_minus_one_is_suppressed() -> None:
    result = group_stats([1.0, 2.0, 3.0, 4.0], k=5, epsilon=None, bounds=(0, 20), rng=random.Random(1))
    assert result.suppressed and result.stats is None and "fewer than 5" in result.reason


def test_noise_is_larger_for_smaller_groups() -> None:
    def spread(n: int) -> float:
        errors = []
        for seed in range(200):
            values = [5.0] * n
            stats = group_stats(values, k=5, epsilon=1.0, bounds=(0, 20), rng=random.Random(seed))
            errors.append(abs(stats.stats["mean"] - 5.0))  # type: ignore[index]
        return fmean(errors)

    assert spread(5) > 3 * spread(50)


def test_noisy_quantiles_stay_ordered_and_in_bounds() -> None:
    stats = group_stats([1.0, 2, 3, 4, 5, 6], k=5, epsilon=0.1, bounds=(0, 20), rng=random.Random(3))
    values = [stats.stats[n] for n in ("p10", "p25", "p50", "p75", "p90")]  # type: ignore[index]
    assert values == sorted(values) and all(0 <= v <= 20 for v in values)


def test_rows_carry_no_member_in_group_rows() -> None:
    members = [
        Member(f"t{i}", {"industry": "education", "region": None, "size": "small"}, {"sroi": float(i), "vis": 10.0 * i})
        for i in range(6)
    ]
    groups, member_rows = build_rows(members, k=5, epsilon=None, rng=random.Random(1), refreshed_at=datetime.now(UTC))
    assert {(g["metric"], g["compare_with"]) for g in groups} == {
        ("sroi", "industry"),
        ("sroi", "size"),
        ("vis", "industry"),
        ("vis", "size"),
    }
    for g in groups:
        assert "tenant_id" not in g and g["tenants"] == 6
    assert len(member_rows) == 6 * 4


def test_with_epsilon_no_statistic_equals_a_members_figure() -> None:
    members = [
        Member(f"t{i}", {"industry": "x", "region": "y", "size": "z"}, {"sroi": 1.0 + i, "vis": 20.0 + 3 * i})
        for i in range(5)
    ]
    groups, member_rows = build_rows(members, k=5, epsilon=1.0, rng=random.Random(7), refreshed_at=datetime.now(UTC))
    figures = {v for m in members for v in m.values.values()}
    for g in groups:
        assert g["epsilon"] == 1.0 and not g["suppressed"]
        assert not figures & {g[n] for n in ("p10", "p25", "p50", "p75", "p90", "mean")}
    assert all(0 <= r["percentile_rank"] <= 100 for r in member_rows)
