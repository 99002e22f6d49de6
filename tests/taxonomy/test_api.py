"""/v1/taxonomy: the names a tenant sent with their figures and warnings, edits by an admin key
(403 for a read key, 404 for a name never sent), hidden names, and nothing of another tenant."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

START = (datetime.now(UTC) - timedelta(days=2)).replace(microsecond=0)


def _event(name: str, minute: int, **props: object) -> dict[str, object]:
    return {
        "event": name,
        "distinct_id": "u0",
        "timestamp": (START + timedelta(minutes=minute)).isoformat(),
        "properties": props,
    }


@pytest.fixture(scope="module")
def tenant(client, admin_headers):
    from tests.support.factories import make_tenant

    handle = make_tenant(client, admin_headers, "taxonomy-api", scopes=("read", "ingest", "admin"))
    rows = [_event("signup", i, plan="pro", utm={"source": "ad"}) for i in range(20)]
    rows += [_event("sigunp", 30, plan=7)]  # a typo, and plan as a number
    handle.ingest(rows)
    return handle


def test_names_types_volumes_and_warnings(tenant):
    response = tenant.get("/v1/taxonomy")
    assert response.status_code == 200, response.text
    body = response.json()
    assert [(e["name"], e["volume"]) for e in body["events"]] == [("signup", 20), ("sigunp", 1)]
    plan = next(p for p in body["properties"] if p["key"] == "plan")
    assert plan["type"] == "string" and [(t["type"], t["events"]) for t in plan["types"]] == [
        ("string", 20),
        ("number", 1),
    ]
    assert any(p["key"] == "utm.source" for p in body["properties"])
    warnings = {(w["kind"], w["subject"]): w for w in body["warnings"]}
    assert warnings[("type_changed", "plan")]["count"] == 1
    assert warnings[("possible_typo", "sigunp")]["details"]["similar_to"] == "signup"
    assert tenant.get("/v1/taxonomy/warnings").json() == body["warnings"]


def test_edit_hide_and_errors(tenant, new_tenant):
    saved = tenant.request(
        "PATCH", "/v1/taxonomy/events/sigunp", json={"hidden": True, "description": "typo, fixed in 2.3"}
    )
    assert saved.status_code == 200, saved.text
    body = tenant.get("/v1/taxonomy").json()
    assert [e["name"] for e in body["events"]] == ["signup"]
    assert all(w["subject"] != "sigunp" for w in body["warnings"])
    hidden = tenant.get("/v1/taxonomy", params={"include_hidden": True}).json()
    assert next(e for e in hidden["events"] if e["name"] == "sigunp")["description"] == "typo, fixed in 2.3"
    nested = tenant.request(
        "PATCH", "/v1/taxonomy/properties/utm.source", json={"verified": True, "tags": ["marketing"]}
    )
    assert nested.status_code == 200 and nested.json()["verified"] is True
    assert tenant.request("PATCH", "/v1/taxonomy/events/never_sent", json={"hidden": True}).status_code == 404
    assert tenant.request("PATCH", "/v1/taxonomy/events/signup", json={"colour": "red"}).status_code == 422
    reader = new_tenant(scopes=("read",))
    assert reader.request("PATCH", "/v1/taxonomy/events/signup", json={"verified": True}).status_code == 403
    assert reader.get("/v1/taxonomy").json() == {"events": [], "properties": [], "warnings": []}
