"""`POST /v1/alerts/simulate`: a causal replay over past data. Threshold points and firing moments
recomputed by hand, pending periods, an anomaly spike found with expected/lower/upper/score, a
forecast condition's interval, and 422s (too many points, too short a history, no points)."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.support.factories import TenantHandle, events

# The data and the asked ranges both hang on this day (ISO dates, not "-14d"), so a run crossing UTC
# midnight between collection and the test asks the same days it loaded.
TODAY = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
DAYS = 70
SPIKE_DAYS_BACK = 3


def daily_count(days_back: int) -> int:
    if days_back == SPIKE_DAYS_BACK:
        return 120
    return 20 + round(8 * math.sin(2 * math.pi * days_back / 7))


@pytest.fixture(scope="module")
def tenant(client, admin_headers) -> TenantHandle:  # type: ignore[no-untyped-def]
    from tests.support.factories import make_tenant

    handle = make_tenant(client, admin_headers, "alerts-simulate")
    batch = []
    for days_back in range(DAYS, 0, -1):
        start = TODAY - timedelta(days=days_back) + timedelta(hours=1)
        batch += events("signup", daily_count(days_back), users=50, start=start, step=timedelta(minutes=7))
    handle.ingest(batch)
    return handle


SOURCE = {
    "type": "insight",
    "query": {"kind": "trends", "series": [{"event": "signup"}], "interval": "day", "timezone": "UTC"},
}


def days(first_back: int, last_back: int) -> dict[str, str]:
    """The range of whole UTC days from `first_back` to `last_back` days before TODAY, both included."""
    return {
        "date_from": (TODAY - timedelta(days=first_back)).date().isoformat(),
        "date_to": (TODAY - timedelta(days=last_back)).date().isoformat(),
    }


def simulate(tenant: TenantHandle, condition: dict[str, Any], **extra: Any) -> Any:
    body = {"source": SOURCE, "condition": condition, **extra}
    return tenant.post("/v1/alerts/simulate", json=body)


def test_threshold_replay_by_hand(tenant) -> None:  # type: ignore[no-untyped-def]
    response = simulate(
        tenant,
        {"type": "threshold", "operator": "above", "value": 27},
        date_range=days(14, 1),
    )
    assert response.status_code == 200, response.text
    body = response.json()
    expected_days = [TODAY - timedelta(days=d) for d in range(14, 0, -1)]
    assert [datetime.fromisoformat(p["time"]) for p in body["points"]] == expected_days
    assert [p["value"] for p in body["points"]] == [daily_count(d) for d in range(14, 0, -1)]
    assert [p["firing"] for p in body["points"]] == [daily_count(d) > 27 for d in range(14, 0, -1)]
    assert all(p["upper"] == 27 and p["expected"] is None for p in body["points"])
    # fired: every move from not firing to firing
    firing = [p["firing"] for p in body["points"]]
    fired_at = [body["points"][i]["time"] for i, f in enumerate(firing) if f and (i == 0 or not firing[i - 1])]
    assert [f["time"] for f in body["fired"]] == fired_at
    assert all("above the threshold 27" in f["reason"] for f in body["fired"])


def test_pending_periods_delay_firing(tenant) -> None:  # type: ignore[no-untyped-def]
    one = simulate(
        tenant,
        {"type": "threshold", "operator": "above", "value": 0},
        date_range=days(10, 1),
    ).json()
    three = simulate(
        tenant,
        {"type": "threshold", "operator": "above", "value": 0},
        pending_periods=3,
        date_range=days(10, 1),
    ).json()
    assert [p["firing"] for p in one["points"]] == [True] * 10
    assert [p["firing"] for p in three["points"]] == [False, False] + [True] * 8
    assert len(one["fired"]) == len(three["fired"]) == 1


def test_anomaly_replay_finds_the_spike(tenant) -> None:  # type: ignore[no-untyped-def]
    response = simulate(
        tenant,
        {"type": "anomaly", "detector": "seasonal", "sensitivity": 0.5},
        date_range=days(20, 1),
    )
    assert response.status_code == 200, response.text
    body = response.json()
    spike_time = (TODAY - timedelta(days=SPIKE_DAYS_BACK)).isoformat()
    spike = next(p for p in body["points"] if datetime.fromisoformat(p["time"]).isoformat() == spike_time)
    assert spike["value"] == 120 and spike["firing"]
    assert spike["expected"] < spike["upper"] < 120 and spike["score"] > 0
    assert [datetime.fromisoformat(f["time"]).isoformat() for f in body["fired"]] == [spike_time]


def test_relative_and_forecast_replays_carry_expected_values(tenant) -> None:  # type: ignore[no-untyped-def]
    relative = simulate(
        tenant,
        {"type": "relative", "compare_to": "week_ago", "by": 200},
        date_range=days(10, 1),
    ).json()
    spike = next(p for p in relative["points"] if p["value"] == 120)
    assert spike["expected"] == daily_count(SPIKE_DAYS_BACK + 7) and spike["firing"]
    forecast = simulate(tenant, {"type": "forecast", "level": 95}, date_range={"date_from": "-5d", "date_to": "-1d"})
    assert forecast.status_code == 200, forecast.text
    points = forecast.json()["points"]
    assert len(points) == 5 and all(p["lower"] <= p["expected"] <= p["upper"] for p in points)


def test_simulate_bad_input(tenant) -> None:  # type: ignore[no-untyped-def]
    hourly = {**SOURCE, "query": {**SOURCE["query"], "interval": "hour"}}
    too_many = tenant.post(
        "/v1/alerts/simulate",
        json={
            "source": hourly,
            "condition": {"type": "threshold", "operator": "above", "value": 1},
            "date_range": {"date_from": "-200d"},
        },
    )
    assert too_many.status_code == 422 and "at most" in too_many.json()["error"]["message"]
    p95 = {"type": "sla", "signal": "query_p95_ms", "interval": "hour", "include_current": True}
    body = {"source": p95, "condition": {"type": "anomaly"}, "date_range": {"date_from": "-2h"}}
    short = tenant.post("/v1/alerts/simulate", json=body)
    assert short.status_code == 422, short.text
    assert "history" in short.json()["error"]["message"]
    inverted = simulate(
        tenant,
        {"type": "threshold", "operator": "above", "value": 1},
        date_range={"date_from": "-1d", "date_to": "-5d"},
    )
    assert inverted.status_code == 422
    forecast = simulate(tenant, {"type": "forecast"}, date_range={"date_from": "-300d"})
    assert forecast.status_code == 422 and "forecast condition" in forecast.json()["error"]["message"]
    unknown = simulate(tenant, {"type": "anomaly", "detector": "prophet"})
    assert unknown.status_code == 422 and "unknown detector" in unknown.json()["error"]["message"]
