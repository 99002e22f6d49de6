"""Cohorts in insights, end to end through the HTTP API: a funnel filtered by a cohort ("in" and
"not in"), a trend broken down by cohort, retention and engagement filtered by a cohort, and the
404 for another tenant's cohort in an insight."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

BASE = (datetime.now(UTC) - timedelta(days=3)).replace(hour=10, minute=0, second=0, microsecond=0)


def ev(name: str, user: str, minutes: int, **props: object) -> dict:
    return {
        "event": name,
        "distinct_id": user,
        "timestamp": (BASE + timedelta(minutes=minutes)).isoformat(),
        "properties": props,
    }


@pytest.fixture
def world(new_tenant):  # type: ignore[no-untyped-def]
    """Six users sign up; a, b, c (pro) and d (free) purchase; a and b purchase twice."""
    tenant = new_tenant()
    events = [ev("signup", u, i, plan="pro" if u in "abc" else "free") for i, u in enumerate("abcdef")]
    events += [ev("purchase", u, 30 + i) for i, u in enumerate("abcd")]
    events += [ev("purchase", u, 60 + i) for i, u in enumerate("ab")]
    tenant.ingest(events)
    pro = tenant.post(
        "/v1/cohorts",
        json={
            "name": "pro",
            "definition": {
                "type": "group",
                "criteria": [{"type": "person_property", "key": "plan", "operator": "eq", "value": "pro"}],
            },
        },
    ).json()
    repeat = tenant.post(
        "/v1/cohorts",
        json={
            "name": "repeat buyers",
            "definition": {
                "type": "group",
                "criteria": [
                    {
                        "type": "event",
                        "event": "purchase",
                        "operator": "at_least",
                        "count": 2,
                        "window": {"last_days": 30},
                    }
                ],
            },
        },
    ).json()
    static = tenant.post("/v1/cohorts", json={"name": "vip", "kind": "static", "distinct_ids": ["e", "d", "zz"]}).json()
    return tenant, pro["id"], repeat["id"], static["id"]


def insight(tenant, kind: str, body: dict) -> dict:  # type: ignore[no-untyped-def]
    response = tenant.post(f"/v1/insights/{kind}", json={"kind": kind, "date_range": {"date_from": "-14d"}, **body})
    assert response.status_code == 200, response.text
    return response.json()


def funnel_counts(answer: dict) -> list[int]:
    return [step["count"] for step in answer["funnel"][0]["steps"]]


def test_funnel_filtered_by_cohort(world) -> None:  # type: ignore[no-untyped-def]
    tenant, pro, _, static = world
    steps = {"steps": [{"event": "signup"}, {"event": "purchase"}]}
    assert funnel_counts(insight(tenant, "funnels", steps)) == [6, 4]
    inside = insight(tenant, "funnels", {**steps, "filters": [{"type": "cohort", "cohort_id": pro, "operator": "in"}]})
    assert funnel_counts(inside) == [3, 3]
    outside = insight(
        tenant, "funnels", {**steps, "filters": [{"type": "cohort", "cohort_id": pro, "operator": "not_in"}]}
    )
    assert funnel_counts(outside) == [3, 1]
    vip = insight(tenant, "funnels", {**steps, "filters": [{"type": "cohort", "cohort_id": static}]})
    assert funnel_counts(vip) == [2, 1]  # d and e; "zz" never sent an event


def test_trend_broken_down_by_cohort(world) -> None:  # type: ignore[no-untyped-def]
    tenant, pro, repeat, _ = world
    answer = insight(
        tenant,
        "trends",
        {
            "series": [{"event": "purchase", "math": "unique_users"}],
            "interval": "day",
            "breakdown": [{"type": "cohort", "cohort_ids": [pro, repeat]}],
        },
    )
    totals = {tuple(s["breakdown_value"] or []): s["total"] for s in answer["series"]}
    # pro: a, b, c; repeat buyers: a, b; d is in neither cohort
    assert totals[(pro,)] == 3 and totals[(repeat,)] == 2
    assert totals == {(pro,): 3, (repeat,): 2, ("",): 1}  # '' = in none of the cohorts (d)


def test_retention_and_engagement_filtered_by_cohort(world) -> None:  # type: ignore[no-untyped-def]
    tenant, pro, _, _ = world
    cohort_filter = [{"type": "cohort", "cohort_id": pro, "operator": "in"}]
    plain = insight(tenant, "engagement", {"measure": "active_users", "interval": "day"})
    only = insight(tenant, "engagement", {"measure": "active_users", "interval": "day", "filters": cohort_filter})
    assert max(p["value"] or 0 for s in plain["series"] for p in s["points"]) == 6
    assert max(p["value"] or 0 for s in only["series"] for p in s["points"]) == 3
    retention = insight(
        tenant,
        "retention",
        {
            "start_event": {"event": "signup"},
            "return_event": {"event": "purchase"},
            "period": "day",
            "periods": 2,
            "filters": cohort_filter,
        },
    )
    assert sum(row["size"] for row in retention["retention"]) == 3


def test_other_tenants_cohort_in_an_insight_is_404(world, new_tenant) -> None:  # type: ignore[no-untyped-def]
    _, pro, _, _ = world
    other = new_tenant()
    response = other.post(
        "/v1/insights/funnels",
        json={
            "kind": "funnels",
            "steps": [{"event": "signup"}, {"event": "purchase"}],
            "filters": [{"type": "cohort", "cohort_id": pro}],
        },
    )
    assert response.status_code == 404, response.text
    assert response.json()["error"]["code"] == "not_found"
