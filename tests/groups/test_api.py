"""/v1/groups/{type}: the groups events carried, with figures and `$groupidentify` properties, nothing
of another tenant; insight queries aggregated by a group through the API (and a bad group type: 422)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.support.factories import make_tenant

START = (datetime.now(UTC) - timedelta(days=2)).replace(microsecond=0)


def _event(name: str, user: str, minute: int, **props: object) -> dict[str, object]:
    return {
        "event": name,
        "distinct_id": user,
        "timestamp": (START + timedelta(minutes=minute)).isoformat(),
        "properties": props,
    }


@pytest.fixture(scope="module")
def tenant(client, admin_headers):
    handle = make_tenant(client, admin_headers, "groups-api")
    acme, globex = {"company": "acme", "team": "red"}, {"company": "globex"}
    rows = [
        _event("signup", "u1", 0, **{"$groups": acme}),
        _event("signup", "u2", 1, **{"$groups": acme}),
        _event("purchase", "u2", 5, **{"$groups": acme}),
        _event("signup", "u3", 2, **{"$groups": globex}),
        _event("signup", "u4", 3),  # no company
        _event("$groupidentify", "u1", 4, **{"$groups": {"company": "acme"}, "$group_set": {"name": "Acme Ltd"}}),
        _event(
            "$groupidentify",
            "u1",
            9,
            **{"$groups": {"company": "acme"}, "$group_set": {"name": "Acme plc", "size": 40}},
        ),
    ]
    handle.ingest(rows)
    return handle


def test_groups_list(tenant, new_tenant):
    page = tenant.get("/v1/groups/company")
    assert page.status_code == 200, page.text
    groups = {g["key"]: g for g in page.json()["groups"]}
    assert set(groups) == {"acme", "globex"}
    assert (groups["acme"]["events"], groups["acme"]["people"]) == (5, 2)
    assert groups["acme"]["properties"] == {"name": "Acme plc", "size": 40}
    assert groups["globex"]["properties"] == {}
    assert [g["key"] for g in page.json()["groups"]] == ["acme", "globex"]  # latest seen first
    assert [g["key"] for g in tenant.get("/v1/groups/company", params={"search": "GLO"}).json()["groups"]] == ["globex"]
    assert [g["key"] for g in tenant.get("/v1/groups/team").json()["groups"]] == ["red"]
    paged = tenant.get("/v1/groups/company", params={"limit": 1}).json()
    assert paged["has_more"] is True and len(paged["groups"]) == 1
    assert tenant.get("/v1/groups/not-a-type").status_code == 422
    assert new_tenant().get("/v1/groups/company").json()["groups"] == []


def test_insights_by_group(tenant):
    trend = {
        "series": [{"event": "signup", "math": "unique_users"}],
        "interval": "day",
        "date_range": {"date_from": "-7d"},
    }
    people = tenant.post("/v1/insights/trends", json=trend).json()
    assert people["series"][0]["total"] == 4
    companies = tenant.post("/v1/insights/trends", json={**trend, "aggregation": {"group": "company"}}).json()
    assert companies["series"][0]["total"] == 2 and companies["served_by"] == "raw"
    funnel = {
        "steps": [{"event": "signup"}, {"event": "purchase"}],
        "date_range": {"date_from": "-7d"},
        "aggregation": {"group": "company"},
    }
    steps = tenant.post("/v1/insights/funnels", json=funnel).json()["funnel"][0]["steps"]
    assert [s["count"] for s in steps] == [2, 1]
    people = tenant.post("/v1/insights/funnels/people", json={"query": funnel, "step": 2, "status": "converted"})
    assert people.status_code == 200, people.text
    assert people.json()["people"] == ["acme"]  # the people of a group funnel are its group keys
    engagement = {"measure": "active_users", "date_range": {"date_from": "-7d"}, "aggregation": {"group": "team"}}
    answer = tenant.post("/v1/insights/engagement", json=engagement)
    assert answer.status_code == 200, answer.text
    bad = tenant.post("/v1/insights/trends", json={**trend, "aggregation": {"group": "no such"}})
    assert bad.status_code == 422
