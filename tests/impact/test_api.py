"""SROI, VIS, volunteers, results, vocabulary and isolation through the HTTP API."""

from __future__ import annotations

import pytest

from tests.impact.support import activity, outcome, worked_example


@pytest.fixture(scope="module")
def example(client, admin_headers):  # type: ignore[no-untyped-def]
    from tests.support.factories import make_tenant

    tenant = make_tenant(client, admin_headers, "impact-example")
    tenant.ingest(worked_example())
    return tenant


def test_sroi_worked_example(example) -> None:  # type: ignore[no-untyped-def]
    body = example.get("/v1/impact/sroi").json()
    assert body["ratio"] == pytest.approx(4.0542, abs=1e-4)
    assert body["net_ratio"] == pytest.approx(3.0542, abs=1e-4)
    assert body["present_value"] == 141_795.30
    assert body["investment"] == 34_975.0
    assert body["band"] == "excellent"
    assert body["formula_version"] == 1
    assert body["confidence"]["score"] == 0.75
    assert body["result_id"].startswith("imr_")
    outcome_ = body["outcomes"][0]
    assert outcome_["deadweight"]["value"] == 0.25 and outcome_["drop_off"]["value"] == 0.5


def test_same_request_reuses_result_and_programme_filter(example) -> None:  # type: ignore[no-untyped-def]
    first = example.get("/v1/impact/sroi").json()["result_id"]
    assert example.get("/v1/impact/sroi").json()["result_id"] == first
    other = example.get("/v1/impact/sroi", params={"programme": "nothing-here"}).json()
    assert other["ratio"] is None and other["present_value"] == 0 and other["programme"] == "nothing-here"


def test_result_is_stored_with_its_version_and_isolated(example, new_tenant) -> None:  # type: ignore[no-untyped-def]
    result_id = example.get("/v1/impact/sroi").json()["result_id"]
    stored = example.get(f"/v1/impact/results/{result_id}").json()
    assert stored["formula_version"] == 1 and stored["value"] == pytest.approx(4.0542, abs=1e-4)
    assert any(r["id"] == result_id for r in example.get("/v1/impact/results", params={"kind": "sroi"}).json())
    stranger = new_tenant()
    response = stranger.get(f"/v1/impact/results/{result_id}")
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
    empty = stranger.get("/v1/impact/sroi").json()
    assert empty["ratio"] is None and empty["investment"] == 0 and empty["outcomes"] == []


def test_vis_breakdown_and_volunteer_ranking(new_tenant) -> None:  # type: ignore[no-untyped-def]
    tenant = new_tenant()
    events = [activity("ana", 5.0, days_ago=d) for d in range(1, 60, 3)]  # 20 sessions, 100 h
    events += [activity("bo", 2.0, programme="language", days_ago=d) for d in (3, 40)]
    events += [
        outcome("p1", 0.4, "baseline", volunteer="ana", days_ago=50),
        outcome("p1", 0.6, "post", volunteer="ana", days_ago=5),
    ]
    tenant.ingest(events)
    params = {"start": at_date(89), "end": at_date(0)}
    vis = tenant.get("/v1/impact/vis", params={**params, "breakdown": "true"}).json()
    assert vis["volunteers"] == 2 and vis["formula_version"] == 1
    assert set(vis["breakdown"]) >= {"hours", "consistency", "outcome", "volunteers_by_band"}
    assert {p["programme"] for p in vis["programmes"]} == {"mentoring", "language"}
    ranked = tenant.get("/v1/impact/vis/volunteers", params={**params, "limit": 1}).json()
    assert ranked["total"] == 2 and len(ranked["volunteers"]) == 1
    top = ranked["volunteers"][0]
    assert top["volunteer_id"] == "ana" and top["rank"] == 1
    # 90 days = 2.957 months: 100 h -> 33.8/month (capped 1), 20 sessions -> 6.8/month (capped 1),
    # gain 0.2 of her linked participant -> 0.8: 30 + 30 + 32 = 92
    assert top["score"] == pytest.approx(92.0) and top["band"] == "Exceptional"
    second = tenant.get("/v1/impact/vis/volunteers", params={**params, "limit": 1, "offset": 1}).json()
    assert second["volunteers"][0]["volunteer_id"] == "bo" and second["volunteers"][0]["rank"] == 2
    plain = tenant.get("/v1/impact/vis", params=params).json()
    assert "breakdown" not in plain and "programmes" not in plain


def test_vocabulary_remap(new_tenant) -> None:  # type: ignore[no-untyped-def]
    tenant = new_tenant()
    tenant.ingest([{"event": "shift", "distinct_id": "v9", "properties": {"duration": 30, "helper": "v9"}}])
    assert tenant.get("/v1/impact/vis/volunteers").json()["total"] == 0
    put = tenant.request(
        "PUT", "/v1/impact/vocabulary", json={"activity_event": "shift", "hours": "duration", "volunteer_id": "helper"}
    )
    assert put.status_code == 200 and put.json()["activity_event"] == "shift"
    page = tenant.get("/v1/impact/vis/volunteers").json()
    assert page["total"] == 1 and page["volunteers"][0]["breakdown"]["hours"]["input"] == 30
    bad = tenant.request("PUT", "/v1/impact/vocabulary", json={"hours": "x'); DROP TABLE"})
    assert bad.status_code == 422
    assert tenant.request("PUT", "/v1/impact/vocabulary", json={"nope": "x"}).status_code == 422


def test_bad_input_is_4xx(example) -> None:  # type: ignore[no-untyped-def]
    assert example.get("/v1/impact/sroi", params={"start": "2026-02-01", "end": "2026-01-01"}).status_code == 422
    assert example.get("/v1/impact/sroi", params={"start": "yesterday"}).status_code == 422
    assert example.get("/v1/impact/sroi", params={"start": "0001-01-01", "end": "0001-01-31"}).status_code == 422
    assert example.get("/v1/impact/vis", params={"start": "9999-12-01", "end": "9999-12-31"}).status_code == 422
    assert example.get("/v1/impact/vis/volunteers", params={"limit": 0}).status_code == 422
    assert example.get("/v1/impact/sroi", params={"programme": "x' OR 1=1 --"}).json()["ratio"] is None
    assert example.get("/v1/impact/sroi", params={"formula_version": 99}).status_code == 404
    assert example.get("/v1/impact/benchmarks", params={"metric": "nps", "compare_with": "industry"}).status_code == 422


def test_changed_figure_is_announced_on_the_bus(runtime, new_tenant) -> None:  # type: ignore[no-untyped-def]
    tenant = new_tenant()
    tenant.ingest([activity("v1", 4.0)])
    tenant.get("/v1/impact/vis")
    tenant.ingest([activity("v1", 8.0, days_ago=2)])
    tenant.get("/v1/impact/vis")
    mine = [e for e in runtime.bus.published if e.tenant_id == tenant.id and e.type == "impact.vis_updated"]
    assert len(mine) == 2
    assert mine[0].data["previous"] is None and mine[1].data["previous"] == mine[0].data["value"]
    assert mine[1].data["value"] > mine[0].data["value"] and mine[1].data["formula_version"] == 1


def at_date(days_ago: int) -> str:
    from datetime import UTC, datetime, timedelta

    return (datetime.now(UTC) - timedelta(days=days_ago)).date().isoformat()


def test_tenant_attributes_validated(client, admin_headers) -> None:  # type: ignore[no-untyped-def]
    created = client.post(
        "/v1/admin/tenants",
        json={
            "name": "attr-ok",
            "industry": "Health",
            "region": "Asia",
            "size_band": "small",
            "data_sharing_opt_in": True,
        },
        headers=admin_headers,
    )
    assert created.status_code == 201
    assert {k: created.json()[k] for k in ("industry", "region", "size_band", "data_sharing_opt_in")} == {
        "industry": "Health",
        "region": "Asia",
        "size_band": "small",
        "data_sharing_opt_in": True,
    }
    bad = client.post("/v1/admin/tenants", json={"name": "attr-bad", "size_band": "huge"}, headers=admin_headers)
    assert bad.status_code == 422
    plain = client.post("/v1/admin/tenants", json={"name": "attr-none"}, headers=admin_headers).json()
    assert plain["data_sharing_opt_in"] is False and plain["industry"] is None


def test_impact_reads_count_against_the_query_budget(client, admin_headers, new_tenant) -> None:  # type: ignore[no-untyped-def]
    tenant = new_tenant()
    tenant.ingest([activity("v1", 3.0)])
    put = client.put(
        f"/v1/admin/tenants/{tenant.id}/budget", json={"query_seconds_per_day": 0.000001}, headers=admin_headers
    )
    assert put.status_code == 200, put.text
    assert tenant.get("/v1/impact/vis").status_code == 200  # uses the budget up
    refused = tenant.get("/v1/impact/vis")
    assert refused.status_code == 429 and refused.json()["error"]["code"] == "budget_exceeded"


def test_tenant_admin_controls_its_own_sharing(new_tenant) -> None:  # type: ignore[no-untyped-def]
    tenant = new_tenant()
    assert tenant.get("/v1/impact/sharing").json() == {
        "industry": None,
        "region": None,
        "size_band": None,
        "data_sharing_opt_in": False,
    }
    put = tenant.request("PUT", "/v1/impact/sharing", json={"data_sharing_opt_in": True, "industry": "health"})
    assert put.status_code == 200 and put.json()["data_sharing_opt_in"] is True and put.json()["industry"] == "health"
    reader = new_tenant(scopes=("read",))
    assert reader.request("PUT", "/v1/impact/sharing", json={"data_sharing_opt_in": True}).status_code == 403
    assert tenant.request("PUT", "/v1/impact/sharing", json={"size_band": "giant"}).status_code == 422


def test_other_period_lengths_do_not_flap(runtime, new_tenant) -> None:  # type: ignore[no-untyped-def]
    tenant = new_tenant()
    tenant.ingest([activity("v1", 4.0, days_ago=2), activity("v1", 4.0, days_ago=40)])
    for _ in range(2):
        assert tenant.get("/v1/impact/vis").status_code == 200  # last 365 days
        assert tenant.get("/v1/impact/vis", params={"start": at_date(29), "end": at_date(0)}).status_code == 200
    mine = [e for e in runtime.bus.published if e.tenant_id == tenant.id and e.type == "impact.vis_updated"]
    assert len(mine) == 2 and all(e.data["previous"] is None for e in mine)  # one first figure per period length
