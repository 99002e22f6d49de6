"""/v1/groups/types: a tenant declares group types (at most 5, stable indexes), types events carry are
registered on first sight while there is room, a sixth is accepted but ignored by group analytics (a
taxonomy warning with its events, a 422 for an insight naming it), and nothing crosses tenants."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.support.factories import make_tenant

START = (datetime.now(UTC) - timedelta(days=2)).replace(microsecond=0)
SEEN = ["programme", "team", "region", "chapter", "cohort_b"]  # in the order events first carry them


def _event(name: str, user: str, minute: int, groups: dict[str, str], **props: object) -> dict[str, object]:
    return {
        "event": name,
        "distinct_id": user,
        "timestamp": (START + timedelta(minutes=minute)).isoformat(),
        "properties": {"$groups": groups, **props},
    }


@pytest.fixture(scope="module")
def tenant(client, admin_headers):
    return make_tenant(client, admin_headers, "group-types")


def test_declare_rename_and_refusals(tenant, client, admin_headers):
    created = tenant.post("/v1/groups/types", json={"group_type": "company", "name": "Companies"})
    assert created.status_code == 201, created.text
    assert created.json() | {"created_at": None, "updated_at": None} == {
        "group_type": "company",
        "group_type_index": 0,
        "name": "Companies",
        "description": "",
        "source": "declared",
        "created_at": None,
        "updated_at": None,
    }
    again = tenant.post("/v1/groups/types", json={"group_type": "company"})
    assert again.status_code == 409 and again.json()["error"]["code"] == "group_type_exists"
    for bad in ("types", "no such", "1st", "x" * 41):
        assert tenant.post("/v1/groups/types", json={"group_type": bad}).status_code == 422, bad
    renamed = tenant.request("PATCH", "/v1/groups/types/company", json={"name": "Employers", "description": "CSR"})
    assert renamed.status_code == 200, renamed.text
    assert (renamed.json()["name"], renamed.json()["description"], renamed.json()["group_type_index"]) == (
        "Employers",
        "CSR",
        0,
    )
    assert tenant.request("PATCH", "/v1/groups/types/nothing", json={"name": "x"}).status_code == 404
    reader = make_tenant(client, admin_headers, "group-types-reader", scopes=("read",))
    assert reader.post("/v1/groups/types", json={"group_type": "company"}).status_code == 403
    assert reader.get("/v1/groups/types").status_code == 200


def test_first_sight_registration_and_the_sixth_type(tenant, new_tenant):
    if not tenant.get("/v1/groups/types").json():
        assert tenant.post("/v1/groups/types", json={"group_type": "company"}).status_code == 201
    rows = [_event("signup", f"u{i}", i, {"company": "acme", name: f"{name}-1"}) for i, name in enumerate(SEEN)]
    rows.append(_event("signup", "u9", 30, {"company": "acme", SEEN[-1]: "x"}))
    accepted = tenant.ingest(rows)
    assert accepted.get("rejected", []) == [], accepted  # every event is accepted, the sixth type too
    assert tenant.count(event="signup") == len(rows)

    types = tenant.get("/v1/groups/types").json()
    assert [(t["group_type"], t["group_type_index"], t["source"]) for t in types] == [
        ("company", 0, "declared"),
        ("programme", 1, "auto"),
        ("team", 2, "auto"),
        ("region", 3, "auto"),
        ("chapter", 4, "auto"),
    ]
    assert tenant.get("/v1/groups/types").json() == types  # stable

    warnings = [w for w in tenant.get("/v1/taxonomy/warnings").json() if w["kind"] == "group_type_limit"]
    assert [(w["subject"], w["count"], w["details"]["group_type"]) for w in warnings] == [
        ("$groups.cohort_b", 2, "cohort_b")
    ]
    ignored = tenant.get("/v1/groups/cohort_b")
    assert ignored.status_code == 422 and ignored.json()["error"]["code"] == "undeclared_group_type"
    assert [g["key"] for g in tenant.get("/v1/groups/team").json()["groups"]] == ["team-1"]
    full = tenant.post("/v1/groups/types", json={"group_type": "seventh"})
    assert full.status_code == 409 and full.json()["error"]["code"] == "group_type_limit"

    trend = {"series": [{"event": "signup", "math": "unique_users"}], "date_range": {"date_from": "-7d"}}
    ok = tenant.post("/v1/insights/trends", json={**trend, "aggregation": {"group": "team"}})
    assert ok.status_code == 200 and ok.json()["series"][0]["total"] == 1
    assert tenant.post("/v1/insights/trends", json=trend).json()["series"][0]["total"] == 6  # people: all count
    for bad in (
        {**trend, "aggregation": {"group": "cohort_b"}},
        {**trend, "filters": [{"type": "group", "group_type": "cohort_b", "key": "name", "value": "x"}]},
        {**trend, "breakdown": [{"type": "group", "group_type": "cohort_b", "property": "name"}]},
        {
            "steps": [
                {"event": "signup"},
                {
                    "event": "signup",
                    "filters": [{"type": "group", "group_type": "cohort_b", "key": "n", "operator": "is_set"}],
                },
            ],
            "date_range": {"date_from": "-7d"},
        },
    ):
        kind = "funnels" if "steps" in bad else "trends"
        answer = tenant.post(f"/v1/insights/{kind}", json=bad)
        assert answer.status_code == 422, answer.text
        error = answer.json()["error"]
        assert error["code"] == "undeclared_group_type" and "cohort_b" in error["message"]

    # Another tenant: none of these types, its own indexes, no access to this tenant's.
    other = new_tenant()
    assert other.get("/v1/groups/types").json() == []
    assert other.request("PATCH", "/v1/groups/types/team", json={"name": "x"}).status_code == 404
    mine = other.post("/v1/groups/types", json={"group_type": "team"})
    assert mine.status_code == 201 and mine.json()["group_type_index"] == 0
    assert other.post("/v1/insights/trends", json={**trend, "aggregation": {"group": "programme"}}).status_code == 422
    assert [t["group_type"] for t in tenant.get("/v1/groups/types").json()].count("team") == 1
    assert not [w for w in other.get("/v1/taxonomy/warnings").json() if w["kind"] == "group_type_limit"]
