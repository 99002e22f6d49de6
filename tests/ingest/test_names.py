"""`GET /v1/events/names`: the tenant's own event names and property keys, most frequent first, never
another tenant's."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


def test_names_and_keys_of_this_tenant_only(new_tenant) -> None:  # type: ignore[no-untyped-def]
    tenant, other = new_tenant(), new_tenant()
    now = datetime.now(UTC)
    tenant.ingest(
        [
            {"event": "pageview", "distinct_id": "a", "properties": {"path": "/", "utm": {"source": "x"}}},
            {"event": "pageview", "distinct_id": "b", "properties": {"path": "/p"}},
            {"event": "purchase", "distinct_id": "a", "properties": {"amount": 3}},
            {"event": "ancient", "distinct_id": "a", "timestamp": (now - timedelta(days=200)).isoformat()},
        ]
    )
    other.ingest([{"event": "secret", "distinct_id": "z", "properties": {"hidden": 1}}])
    body = tenant.get("/v1/events/names").json()
    assert body["days"] == 90
    assert [(e["name"], e["count"]) for e in body["events"]] == [("pageview", 2), ("purchase", 1)]
    assert {p["name"]: p["count"] for p in body["properties"]} == {"path": 2, "utm.source": 1, "amount": 1}
    only = tenant.get("/v1/events/names", params={"event": "purchase", "days": 365}).json()
    assert [e["name"] for e in only["events"]] == ["pageview", "ancient", "purchase"]
    assert [p["name"] for p in only["properties"]] == ["amount"]
    bad = tenant.get("/v1/events/names", params={"days": 0})
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_input"
