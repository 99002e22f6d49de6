"""`served_from` names the pre-aggregated table that answered (docs/insights.md, "The answer"): the
person bitmaps for retention and DAU/WAU/MAU, null for raw answers; the OpenAPI schema says so."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

START = (datetime.now(UTC) - timedelta(days=5)).replace(minute=0, second=0, microsecond=0)


def test_served_from_in_answers_and_schema(client: Any, new_tenant: Any) -> None:
    tenant = new_tenant()
    tenant.ingest(
        [
            {"event": e, "distinct_id": u, "timestamp": (START + timedelta(days=d)).isoformat()}
            for e, u, d in (("signup", "a", 0), ("visit", "a", 1), ("signup", "b", 1), ("visit", "b", 2))
        ]
    )
    retention = {
        "start_event": {"event": "signup"},
        "return_event": {"event": "visit"},
        "period": "day",
        "periods": 3,
        "date_range": {"date_from": "-7d"},
    }
    body = tenant.post("/v1/insights/retention", json=retention).json()
    assert (body["served_by"], body["served_from"]) == ("preaggregation", "person_hours")
    assert body["totals"]["people"] == 2 and body["totals"]["returned"][1] == 2
    active = tenant.post("/v1/insights/engagement", json={"measure": "active_users"}).json()
    assert active["served_from"] == "person_hours"
    filtered = {**retention, "filters": [{"key": "plan", "value": "pro"}]}
    assert tenant.post("/v1/insights/retention", json=filtered).json()["served_from"] is None
    schema = client.get("/openapi.json").json()["components"]["schemas"]
    assert any("served_from" in s.get("properties", {}) for s in schema.values())
