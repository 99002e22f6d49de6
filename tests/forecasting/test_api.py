"""POST /v1/forecasts: an insight's and a metric's series forecast, and every 422."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

import pytest

from analytics_engine.forecasting.models import MODELS
from tests.support.factories import make_tenant

DAYS = 70


def daily_events(name: str = "visit") -> list[dict]:
    """Events at noon UTC for DAYS days: 12 on weekdays, 4 at weekends, one more every tenth day."""
    today = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)
    out = []
    for back in range(1, DAYS + 1):
        day = today - timedelta(days=back)
        count = (12 if day.weekday() < 5 else 4) + back // 10
        out += [
            {"event": name, "distinct_id": f"u{i}", "timestamp": (day + timedelta(minutes=i)).isoformat()}
            for i in range(count)
        ]
    return out


def trends(event: str = "visit", days: int = DAYS) -> dict:
    return {
        "kind": "trends",
        "query": {"series": [{"event": event}], "interval": "day", "date_range": {"date_from": f"-{days}d"}},
    }


@pytest.fixture(scope="module")
def tenant(client, admin_headers):  # type: ignore[no-untyped-def]
    handle = make_tenant(client, admin_headers, f"forecasts-{uuid.uuid4().hex[:8]}")
    handle.ingest(daily_events())
    return handle


def test_forecast_of_a_trend(tenant) -> None:
    answer = tenant.post("/v1/forecasts", json={"insight": trends(), "horizon": 14})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["interval"] == "day" and body["season"] == 7 and body["horizon"] == 14
    (series,) = body["series"]
    assert len(series["history"]) >= DAYS - 1
    assert series["model"] in MODELS
    assert series["backtest"]["horizon"] == 14
    assert series["backtest"]["mase"] is not None and series["backtest"]["mase"] > 0
    points = series["forecast"]
    assert len(points) == 14
    last = date.fromisoformat(series["history"][-1]["time"][:10])
    assert [p["time"] for p in points] == [(last + timedelta(days=i + 1)).isoformat() for i in range(14)]
    for p in points:
        assert p["lower_95"] <= p["lower_80"] <= p["value"] <= p["upper_80"] <= p["upper_95"]
    # The weekly pattern carries on: weekdays forecast above weekends.
    weekday = [p["value"] for p in points if date.fromisoformat(p["time"]).weekday() < 5]
    weekend = [p["value"] for p in points if date.fromisoformat(p["time"]).weekday() >= 5]
    assert min(weekday) > max(weekend)


def test_forecast_of_a_metric_with_the_read_scope(tenant, client, admin_headers) -> None:
    metric = tenant.post(
        "/v1/metrics",
        json={"name": "Visits", "query": {"kind": "trends", "series": [{"event": "visit"}], "interval": "day"}},
    )
    assert metric.status_code == 201, metric.text
    reader_key = client.post(f"/v1/admin/tenants/{tenant.id}/keys", json={"scopes": ["read"]}, headers=admin_headers)
    headers = {"Authorization": f"Bearer {reader_key.json()['key']}"}
    answer = client.post(
        "/v1/forecasts",
        json={"metric_id": metric.json()["id"], "metric_query": {"time_range": {"from": "-70d"}}, "horizon": 7},
        headers=headers,
    )
    assert answer.status_code == 200, answer.text
    assert len(answer.json()["series"][0]["forecast"]) == 7


def error(response) -> dict:  # type: ignore[no-untyped-def]
    assert response.status_code == 422, response.text
    return response.json()["error"]


def test_unknown_metric_is_422(tenant) -> None:
    assert error(tenant.post("/v1/forecasts", json={"metric_id": "no-such-metric"}))["code"] == "unknown_metric"


def test_empty_series_is_422(tenant) -> None:
    assert error(tenant.post("/v1/forecasts", json={"insight": trends("never_sent")}))["code"] == "empty_series"


def test_too_short_a_history_says_how_many_points_are_needed(tenant) -> None:
    err = error(tenant.post("/v1/forecasts", json={"insight": trends(days=10), "horizon": 14}))
    assert err["code"] == "history_too_short"
    assert err["details"]["needed"] == 2 * 7 + 14 + 7
    assert "needs at least 35" in err["message"]


def test_horizon_over_the_limit_is_422(tenant) -> None:
    err = error(tenant.post("/v1/forecasts", json={"insight": trends(), "horizon": 5000}))
    assert err["code"] == "horizon_too_long"
    assert err["details"]["max_horizon"] == 90


def test_bad_bodies_are_422(tenant) -> None:
    both = tenant.post("/v1/forecasts", json={"insight": trends(), "metric_id": "x"})
    assert both.status_code == 422
    neither = tenant.post("/v1/forecasts", json={"horizon": 3})
    assert neither.status_code == 422
    funnel = tenant.post(
        "/v1/forecasts",
        json={"insight": {"kind": "funnels", "query": {"steps": [{"event": "a"}, {"event": "b"}]}}},
    )
    assert error(funnel)["code"] == "invalid_query"
    bad_query = tenant.post("/v1/forecasts", json={"insight": {"kind": "trends", "query": {"series": "nope"}}})
    assert bad_query.status_code == 422
