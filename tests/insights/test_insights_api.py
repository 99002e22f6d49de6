"""The insight routes: auth and scopes, 422 on bad queries with clear messages, empty answers for
unknown names, the cache (hit, refresh, per tenant), budgets (429), cohort filters, funnel people."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.support.factories import events

NOW = datetime.now(UTC)
START = (NOW - timedelta(days=3)).replace(hour=8, minute=0, second=0, microsecond=0)
RANGE = {"date_from": (NOW - timedelta(days=5)).date().isoformat()}


@pytest.fixture(scope="module")
def tenant(client, admin_headers):
    from tests.support.factories import make_tenant

    handle = make_tenant(client, admin_headers, "insights-api", timezone="Europe/Oslo")
    handle.ingest(
        events("signup", 6, users=3, start=START, step=timedelta(hours=1), plan="pro")
        + events("purchase", 4, users=2, start=START + timedelta(hours=2), step=timedelta(hours=1), amount=10)
    )
    return handle


def test_trends_answer_shape(tenant):
    response = tenant.post("/v1/insights/trends", json={"series": [{"event": "signup"}], "date_range": RANGE})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["kind"] == "trends" and body["timezone"] == "Europe/Oslo"
    assert body["served_by"] == "rollup" and body["cached"] is False
    assert body["series"][0]["total"] == 6 and sum(p["value"] for p in body["series"][0]["points"]) == 6
    assert {"label", "value", "bucket"} <= set(body["series"][0]["points"][0])
    assert body["timing"]["queries"] == 1 and body["computed_at"]


def test_kind_in_body_route_and_timezone_override(tenant):
    response = tenant.post(
        "/v1/insights", json={"kind": "trends", "series": [{"event": "signup"}], "timezone": "Asia/Tokyo"}
    )
    assert response.status_code == 200, response.text
    assert response.json()["timezone"] == "Asia/Tokyo"


def test_cache_hit_refresh_and_tenant_separation(tenant, new_tenant):
    query = {"series": [{"event": "purchase", "math": "sum", "math_property": "amount"}], "date_range": RANGE}
    first = tenant.post("/v1/insights/trends", json=query).json()
    second = tenant.post("/v1/insights/trends", json=query).json()
    assert second["cached"] is True and second["computed_at"] == first["computed_at"]
    assert second["series"] == first["series"] and first["series"][0]["total"] == 40
    fresh = tenant.post("/v1/insights/trends?refresh=true", json=query).json()
    assert fresh["cached"] is False and fresh["computed_at"] != first["computed_at"]
    other = new_tenant()
    theirs = other.post("/v1/insights/trends", json=query).json()
    assert theirs["cached"] is False and theirs["series"][0]["total"] is None  # no purchases there


def test_unknown_event_and_property_give_empty_results(tenant):
    body = tenant.post(
        "/v1/insights/trends",
        json={
            "series": [{"event": "never-sent"}, {"event": "signup", "filters": [{"key": "nope", "value": "x"}]}],
        },
    ).json()
    assert [s["total"] for s in body["series"]] == [0, 0]
    funnel = tenant.post("/v1/insights/funnels", json={"steps": [{"event": "x"}, {"event": "y"}]}).json()
    assert [s["count"] for s in funnel["funnel"][0]["steps"]] == [0, 0]


@pytest.mark.parametrize(
    ("path", "body", "fragment"),
    [
        ("/v1/insights/funnels", {"steps": [{"event": "a"}]}, "at least 2"),
        ("/v1/insights/funnels", {"steps": [{"event": f"e{i}"} for i in range(21)]}, "at most 20"),
        ("/v1/insights/trends", {"series": [{"event": "a", "math": "mode"}]}, "math"),
        ("/v1/insights/trends", {"series": [{"event": "a", "math": "sum"}]}, "needs math_property"),
        ("/v1/insights/trends", {"series": [{"event": "a"}] * 21}, "at most 20"),
        (
            "/v1/insights/trends",
            {"series": [{"event": "a", "filters": [{"key": "x", "operator": "gt", "value": "y"}]}]},
            "needs a number",
        ),
        (
            "/v1/insights/trends",
            {"series": [{"event": "a"}], "filters": [{"key": "a`b", "value": 1}]},
            "invalid property name",
        ),
        ("/v1/insights/trends", {"series": [{"event": "a"}], "breakdown": ["x; DROP"]}, "invalid property name"),
        (
            "/v1/insights/trends",
            {"series": [{"event": "a"}], "date_range": {"date_from": "2026-05-01", "date_to": "2026-04-01"}},
            "before",
        ),
        ("/v1/insights/trends", {"series": [{"event": "a"}], "date_range": {"date_from": "soon"}}, "invalid date"),
        ("/v1/insights/trends", {"series": [{"event": "a"}], "formula": "A / C"}, "names 'C'"),
        ("/v1/insights/trends", {"series": [{"event": "a"}], "formula": "__import__('os')"}, "formula"),
        ("/v1/insights/trends", {"series": [{"event": "a"}], "timezone": "Mars/Base"}, "unknown time zone"),
        (
            "/v1/insights/trends",
            {"series": [{"event": "a"}], "interval": "hour", "date_range": {"date_from": "-400d"}},
            "buckets",
        ),
        ("/v1/insights/retention", {"periods": 37}, "36"),
        ("/v1/insights/trends", [1, 2], "JSON object"),
    ],
)
def test_bad_queries_are_422_with_a_clear_message(tenant, path, body, fragment):
    response = tenant.post(path, json=body)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_query"
    assert fragment in error["message"] + str(error.get("details")), error


def test_unknown_kind_is_404_and_scope_is_checked(tenant, client, new_tenant):
    assert tenant.post("/v1/insights/pathways", json={}).status_code == 404
    assert client.post("/v1/insights/trends", json={"series": [{"event": "a"}]}).status_code == 401
    ingest_only = new_tenant(scopes=("ingest",))
    response = ingest_only.post("/v1/insights/trends", json={"series": [{"event": "a"}]})
    assert response.status_code == 403


def test_funnel_people_paged(tenant):
    query = {"steps": [{"event": "signup"}, {"event": "purchase"}], "date_range": RANGE}
    page = tenant.post("/v1/insights/funnels/people", json={"query": query, "step": 2, "status": "dropped"})
    assert page.status_code == 200, page.text
    assert page.json()["people"] == ["u2"]
    converted = tenant.post(
        "/v1/insights/funnels/people", json={"query": query, "step": 2, "status": "converted", "limit": 1}
    ).json()
    assert converted["people"] == ["u0"] and converted["has_more"] is True
    bad = tenant.post("/v1/insights/funnels/people", json={"query": query, "step": 3})
    assert bad.status_code == 422


def test_cohort_filter_and_breakdown(tenant):
    created = tenant.post("/v1/cohorts", json={"name": "Two", "kind": "static", "distinct_ids": ["u0", "u1"]})
    assert created.status_code == 201, created.text
    cohort_id = created.json()["id"]
    series = [{"event": "signup", "math": "unique_users"}]
    inside = tenant.post(
        "/v1/insights/trends",
        json={"series": series, "date_range": RANGE, "filters": [{"type": "cohort", "cohort_id": cohort_id}]},
    ).json()
    outside = tenant.post(
        "/v1/insights/trends",
        json={
            "series": series,
            "date_range": RANGE,
            "filters": [{"type": "cohort", "cohort_id": cohort_id, "operator": "not_in"}],
        },
    ).json()
    # unique users with a cohort filter: the person bitmaps AND the cohort's bitmap (exact, as raw)
    assert (inside["served_by"], inside["served_from"]) == ("preaggregation", "person_hours")
    assert outside["served_from"] == "person_hours"
    assert inside["series"][0]["total"] == 2 and outside["series"][0]["total"] == 1
    split = tenant.post(
        "/v1/insights/trends",
        json={"series": series, "date_range": RANGE, "breakdown": [{"type": "cohort", "cohort_ids": [cohort_id]}]},
    ).json()
    assert {tuple(s["breakdown_value"]): s["total"] for s in split["series"]} == {(cohort_id,): 2, ("",): 1}
    unknown = tenant.post(
        "/v1/insights/trends", json={"series": series, "filters": [{"type": "cohort", "cohort_id": "coh_missing"}]}
    )
    assert unknown.status_code == 404


def test_over_budget_is_429_with_retry_after(client, admin_headers, new_tenant):
    handle = new_tenant()
    handle.ingest(events("signup", 3))
    limited = client.put(
        f"/v1/admin/tenants/{handle.id}/budget", json={"query_seconds_per_day": 0.000001}, headers=admin_headers
    )
    assert limited.status_code == 200, limited.text
    assert handle.post("/v1/insights/trends", json={"series": [{"event": "signup"}]}).status_code == 200
    refused = handle.post("/v1/insights/trends?refresh=true", json={"series": [{"event": "signup"}]})
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) >= 1
    assert refused.json()["error"]["details"]["limit"] == "query_seconds_per_day"


def test_cohort_breakdown_in_funnels_and_retention(tenant):
    created = tenant.post("/v1/cohorts", json={"name": "One", "kind": "static", "distinct_ids": ["u0"]})
    cohort_id = created.json()["id"]
    breakdown = [{"type": "cohort", "cohort_ids": [cohort_id]}]
    funnel = tenant.post(
        "/v1/insights/funnels",
        json={"steps": [{"event": "signup"}, {"event": "purchase"}], "date_range": RANGE, "breakdown": breakdown},
    )
    assert funnel.status_code == 200, funnel.text
    groups = {tuple(g["breakdown_value"]): [s["count"] for s in g["steps"]] for g in funnel.json()["funnel"]}
    assert groups == {(cohort_id,): [1, 1], ("",): [2, 1]}
    retention = tenant.post(
        "/v1/insights/retention",
        json={
            "start_event": {"event": "signup"},
            "return_event": {"event": "purchase"},
            "period": "day",
            "periods": 3,
            "date_range": RANGE,
            "breakdown": breakdown,
        },
    )
    assert retention.status_code == 200, retention.text
    sizes = {tuple(c["breakdown_value"]): 0 for c in retention.json()["retention"]}
    for cohort in retention.json()["retention"]:
        sizes[tuple(cohort["breakdown_value"])] += cohort["size"]
    assert sizes == {(cohort_id,): 1, ("",): 2}


def test_strict_and_unordered_funnels_with_breakdowns(tenant):
    for order in ("strict", "unordered"):
        response = tenant.post(
            "/v1/insights/funnels",
            json={
                "steps": [{"event": "signup"}, {"event": "purchase"}],
                "order": order,
                "date_range": RANGE,
                "breakdown": ["plan"],
                "interval": "day",
            },
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["funnel"][0]["breakdown_value"] == ["pro"]
        assert body["totals"]["entered"] == 3
