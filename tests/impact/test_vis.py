"""VIS worked examples, one per band (docs/impact.md): a 3-month period, version 1 weights 0.3/0.3/0.4,
full credit at 20 hours/month, 4 sessions/month and a mean participant gain of 0.25."""

from __future__ import annotations

import pytest

from analytics_engine.impact.formulas import VIS_V1
from analytics_engine.impact.vis import VolunteerActivity, aggregate_vis, compute_vis


@pytest.mark.parametrize(
    ("hours", "sessions", "gain", "score", "band"),
    [
        # 100 x (0.3 x 2/20 + 0.3 x 1/4 + 0.4 x 0.025/0.25) = 3 + 7.5 + 4 = 14.5
        (6, 3, 0.025, 14.5, "Emerging"),
        # 100 x (0.3 x 8/20 + 0.3 x 2/4 + 0.4 x 0.1/0.25) = 12 + 15 + 16 = 43
        (24, 6, 0.10, 43.0, "Contributing"),
        # 100 x (0.3 x 12/20 + 0.3 x 3/4 + 0.4 x 0.15/0.25) = 18 + 22.5 + 24 = 64.5
        (36, 9, 0.15, 64.5, "High Impact"),
        # 25 h/month caps at 1: 100 x (0.3 x 1 + 0.3 x 4/4 + 0.4 x 0.2/0.25) = 30 + 30 + 32 = 92
        (75, 12, 0.20, 92.0, "Exceptional"),
    ],
)
def test_one_volunteer_per_band(hours: float, sessions: int, gain: float, score: float, band: str) -> None:
    result = compute_vis(VolunteerActivity("v", hours, sessions, gain), 3.0, VIS_V1, version=1)
    assert result["score"] == pytest.approx(score, abs=1e-9)
    assert result["band"] == band
    parts = result["breakdown"]
    assert sum(parts[p]["points"] for p in ("hours", "consistency", "outcome")) == pytest.approx(score, abs=0.02)


def test_no_outcome_data_scores_zero_outcome_and_aggregate_is_mean() -> None:
    a = compute_vis(VolunteerActivity("a", 60, 12, None), 3.0, VIS_V1, version=1)
    assert a["score"] == 60.0 and a["breakdown"]["outcome"]["component"] == 0
    b = compute_vis(VolunteerActivity("b", 6, 3, 0.025), 3.0, VIS_V1, version=1)
    total = aggregate_vis([a, b], VIS_V1, version=1)
    assert total["score"] == pytest.approx((60.0 + 14.5) / 2)
    assert total["band"] == "Contributing"
    assert total["breakdown"]["volunteers_by_band"] == {
        "Emerging": 1,
        "Contributing": 0,
        "High Impact": 1,
        "Exceptional": 0,
    }
    assert aggregate_vis([], VIS_V1, version=1)["score"] is None
