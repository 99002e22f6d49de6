"""SROI worked examples computed by hand (the same ones as docs/impact.md)."""

from __future__ import annotations

import pytest

from analytics_engine.impact.formulas import SROI_V1
from analytics_engine.impact.sroi import ParticipantScores, SroiInputs, band, compute_sroi, summarize


def inputs(outcomes: dict[str, list[ParticipantScores]], **kwargs: object) -> SroiInputs:
    stats, reach = summarize(outcomes)
    return SroiInputs(outcomes=stats, reach=reach, **kwargs)  # type: ignore[arg-type]


def worked_example_inputs() -> SroiInputs:
    """40 participants gain 0.25 on job readiness (0.50 -> 0.75), 20 of them keep 0.125 at follow-up
    (0.625); 10 control-group people gain 0.0625 (0.50 -> 0.5625); costs 20,000 USD; 500 volunteer hours."""
    rows = [ParticipantScores(f"p{i}", False, 0.5, 0.75, 0.625 if i < 20 else None) for i in range(40)] + [
        ParticipantScores(f"c{i}", True, 0.5, 0.5625) for i in range(10)
    ]
    return inputs({"job_readiness": rows}, costs={"USD": 20_000.0}, volunteer_hours=500.0)


def test_worked_example_by_hand() -> None:
    result = compute_sroi(worked_example_inputs(), SROI_V1, version=1, hourly_value=29.95)
    outcome = result["outcomes"][0]
    # deadweight = control gain / intervention gain = 0.0625 / 0.25
    assert outcome["deadweight"]["value"] == 0.25
    assert outcome["deadweight"]["source"].startswith("calibrated")
    # drop-off = 1 - follow-up gain / post gain = 1 - 0.125 / 0.25
    assert outcome["drop_off"]["value"] == 0.5
    assert outcome["quantity"] == 40
    # year 1 = 40 x 4,000 x (1 - 0.25) x (1 - 0.25 attribution) x (1 - 0.05 displacement) = 85,500
    assert outcome["year_one_value"] == 85_500.0
    # year t = 85,500 x 0.5^(t-1) / 1.035^t
    assert [y["value"] for y in outcome["years"]] == [85_500.0, 42_750.0, 21_375.0]
    assert [y["present_value"] for y in outcome["years"]] == [82_608.70, 39_907.58, 19_279.03]
    assert result["present_value"] == 141_795.30
    # investment = 20,000 + 500 x 29.95 = 34,975
    assert result["investment"] == 34_975.0
    assert result["ratio"] == pytest.approx(4.0542, abs=1e-4)
    assert result["net_ratio"] == pytest.approx(3.0542, abs=1e-4)
    assert result["band"] == "excellent"
    # confidence = 0.5 x min(1, 50/100) + 0.25 x min(1, 0.2/0.2) + 0.25 x min(1, 0.5/0.5)
    assert result["confidence"]["score"] == 0.75
    names = {item["name"]: item for item in result["explanation"]}
    for expected in (
        "discount_rate",
        "benefit_years",
        "attribution",
        "displacement",
        "costs",
        "volunteer_hours",
        "volunteer_hour_value",
        "investment",
        "formula_version",
    ):
        assert "source" in names[expected], expected
    assert names["volunteer_hour_value"]["value"] == 29.95
    assert "employability" in outcome["proxy_source"] and outcome["proxy"] == 4_000.0


def test_defaults_when_control_and_follow_up_are_missing() -> None:
    rows = [ParticipantScores(f"p{i}", False, 0.2, 0.6) for i in range(4)]
    result = compute_sroi(inputs({"language": rows}, costs={"USD": 1_000.0}), SROI_V1, version=1, hourly_value=29.95)
    outcome = result["outcomes"][0]
    assert outcome["deadweight"] == {"value": 0.2, "source": outcome["deadweight"]["source"]}
    assert "formula v1 default" in outcome["deadweight"]["source"]
    assert outcome["drop_off"]["value"] == 0.3 and "default" in outcome["drop_off"]["source"]
    # 4 x 1,800 x 0.8 x 0.75 x 0.95 = 4,104 in year 1; then x 0.7 per year; / 1.035^t
    expected = sum(4_104.0 * 0.7 ** (t - 1) / 1.035**t for t in (1, 2, 3))
    assert result["present_value"] == pytest.approx(expected, abs=0.01)
    assert result["confidence"]["score"] == pytest.approx(0.5 * 4 / 100)


def test_sector_proxy_and_discount_rate() -> None:
    rows = [ParticipantScores("p", False, 0.1, 0.9)]
    health = compute_sroi(
        inputs({"wellbeing": rows}, costs={"USD": 100.0}, sector="health"),
        SROI_V1,
        version=1,
        hourly_value=29.95,
    )
    assert health["outcomes"][0]["proxy"] == 3_600.0
    assert {i["name"]: i["value"] for i in health["explanation"]}["discount_rate"] == 0.015


def test_no_investment_and_unknown_dimension_and_other_currency() -> None:
    rows = [ParticipantScores("p", False, 0.1, 0.9)]
    result = compute_sroi(inputs({"astrology": rows}, costs={"EUR": 50.0}), SROI_V1, version=1, hourly_value=29.95)
    assert result["ratio"] is None and result["band"] == "insufficient data"
    assert result["present_value"] == 0.0
    assert "no proxy" in result["outcomes"][0]["proxy_source"]
    assert {i["name"]: i["value"] for i in result["explanation"]}["costs_excluded"] == {"EUR": 50.0}


@pytest.mark.parametrize(
    ("ratio", "name"),
    [
        (0.5, "poor"),
        (1.0, "break-even"),
        (1.99, "break-even"),
        (2.0, "good"),
        (4.0, "excellent"),
        (10.0, "exceptional"),
        (25.0, "exceptional"),
    ],
)
def test_bands(ratio: float, name: str) -> None:
    assert band(ratio) == name
