"""The funnel correlation routes: rows for events and property values with odds ratios, excluded
events, the minimum support, the people behind a row (paged), and 422 on a bad request."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

NOW = datetime.now(UTC)
START = (NOW - timedelta(days=3)).replace(hour=8, minute=0, second=0, microsecond=0)
RANGE = {"date_from": (NOW - timedelta(days=5)).date().isoformat()}
FUNNEL = {"steps": [{"event": "signup"}, {"event": "purchase"}], "date_range": RANGE}


def _event(name: str, user: str, minute: int, **props: object) -> dict[str, object]:
    at = (START + timedelta(minutes=minute)).isoformat()
    return {"event": name, "distinct_id": user, "timestamp": at, "properties": props}


@pytest.fixture(scope="module")
def tenant(client, admin_headers):
    from tests.support.factories import make_tenant

    handle = make_tenant(client, admin_headers, "correlation-api")
    rows = []
    for i in range(10):  # u0-u3 watch the video and buy (pro); u4-u9 see an error and leave (free)
        user = f"u{i}"
        rows.append(_event("signup", user, 0, plan="pro" if i < 4 else "free"))
        if i < 4:
            rows += [_event("watched_video", user, 5), _event("purchase", user, 10)]
        else:
            rows += [_event("error_shown", user, 5), _event("heartbeat", user, 6)]
    handle.ingest(rows)
    return handle


def test_events_and_values_that_go_with_converting(tenant):
    body = {"query": FUNNEL, "properties": ["plan"], "exclude_events": ["heartbeat"], "min_people": 1}
    response = tenant.post("/v1/insights/funnels/correlation", json=body)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["totals"]["success"] == 4 and answer["totals"]["failure"] == 6
    rows = {(r["type"], r["event"] or r["property"], r["value"]): r for r in answer["correlation"]}
    assert set(rows) == {
        ("event", "watched_video", None),
        ("event", "error_shown", None),
        ("property", "plan", "pro"),
        ("property", "plan", "free"),
    }
    video = rows[("event", "watched_video", None)]
    assert (video["success_count"], video["failure_count"]) == (4, 0)
    assert video["correlation_type"] == "success" and video["odds_ratio"] == pytest.approx(35.0)  # (5/1)/(1/7)
    assert video["significant"] is True
    assert rows[("event", "error_shown", None)]["correlation_type"] == "failure"


def test_minimum_support_leaves_rows_out(tenant):
    body = {"query": FUNNEL, "min_people": 5}
    answer = tenant.post("/v1/insights/funnels/correlation", json=body).json()
    assert [r["event"] for r in answer["correlation"]] == ["error_shown", "heartbeat"]
    assert answer["totals"]["below_min_people"] == 1


def test_people_behind_a_row(tenant):
    body = {"query": FUNNEL, "properties": ["plan"], "status": "dropped", "event": "error_shown", "limit_people": 4}
    page = tenant.post("/v1/insights/funnels/correlation/people", json=body).json()
    assert page["people"] == ["u4", "u5", "u6", "u7"] and page["has_more"] is True
    body = {"query": FUNNEL, "properties": ["plan"], "status": "converted", "property": "plan", "value": "pro"}
    page = tenant.post("/v1/insights/funnels/correlation/people", json=body).json()
    assert page["people"] == ["u0", "u1", "u2", "u3"] and page["has_more"] is False


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/insights/funnels/correlation", {"query": {"steps": [{"event": "a"}]}}),
        ("/v1/insights/funnels/correlation", {"query": FUNNEL, "min_people": 0}),
        ("/v1/insights/funnels/correlation/people", {"query": FUNNEL, "status": "converted"}),
        ("/v1/insights/funnels/correlation/people", {"query": FUNNEL, "status": "converted", "property": "plan"}),
    ],
)
def test_bad_requests_are_422(tenant, path, body):
    response = tenant.post(path, json=body)
    assert response.status_code == 422, response.text
