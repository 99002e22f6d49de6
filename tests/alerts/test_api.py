"""The alert API end to end: create (422 on bad input), evaluate a trend rule against ingested
events, history rows, acknowledge / snooze / resolve, tenant isolation (404), scopes, and the bus
event of a trigger and a resolution."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.support.factories import TenantHandle, events

TODAY = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)


def trend(event: str = "signup") -> dict[str, Any]:
    return {
        "type": "insight",
        "query": {"kind": "trends", "series": [{"event": event}], "interval": "day", "timezone": "UTC"},
    }


def rule(condition: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"name": "Signups", "source": trend(), "condition": condition, **extra}


@pytest.fixture(scope="module")
def tenant(client, admin_headers) -> TenantHandle:  # type: ignore[no-untyped-def]
    from tests.support.factories import make_tenant

    handle = make_tenant(client, admin_headers, "alerts-api")
    # signups: 10 a day for 9 days, then 3 yesterday (a drop); one today (partial, not judged)
    batch = []
    for days_back in range(10, 1, -1):
        batch += events("signup", 10, users=10, start=TODAY - timedelta(days=days_back), step=timedelta(minutes=5))
    batch += events("signup", 3, users=3, start=TODAY - timedelta(days=1))
    batch += events("signup", 1, start=TODAY - timedelta(hours=1))
    handle.ingest(batch)
    return handle


def create(tenant: TenantHandle, body: dict[str, Any]) -> dict[str, Any]:
    response = tenant.post("/v1/alerts", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def evaluate(tenant: TenantHandle, alert_id: str) -> dict[str, Any]:
    response = tenant.post(f"/v1/alerts/{alert_id}/evaluate")
    assert response.status_code == 200, response.text
    return response.json()


def test_threshold_rule_fires_on_the_last_complete_day_and_resolves(tenant, runtime) -> None:  # type: ignore[no-untyped-def]
    created = create(tenant, rule({"type": "threshold", "operator": "below", "value": 5}))
    assert created["state"] == "ok" and created["next_evaluation_at"]
    fired = evaluate(tenant, created["id"])
    assert fired["state"] == "firing" and fired["value"] == 3
    assert "below the threshold 5" in fired["reason"]
    published = [
        e for e in runtime.bus.published if e.type == "alert.triggered" and e.data["alert_id"] == created["id"]
    ]
    assert published and published[0].subject == "analytics.alert.triggered.v1" and published[0].data["value"] == 3
    # acknowledge with a comment, then resolve by hand
    ack = tenant.post(f"/v1/alerts/{created['id']}/acknowledge", json={"comment": "on it"})
    assert ack.status_code == 200 and ack.json()["acknowledged"]["comment"] == "on it"
    resolved = tenant.post(f"/v1/alerts/{created['id']}/resolve", json={"comment": "fixed"})
    assert resolved.status_code == 200 and resolved.json()["state"] == "resolved"
    assert resolved.json()["acknowledged"] is None
    assert tenant.post(f"/v1/alerts/{created['id']}/resolve", json={}).status_code == 409
    assert any(e.type == "alert.resolved" and e.data["alert_id"] == created["id"] for e in runtime.bus.published)
    history = tenant.get(f"/v1/alerts/{created['id']}/events").json()
    kinds = [e["kind"] for e in history]
    assert {"state", "acknowledged", "resolved", "notified"} <= set(kinds)
    state_change = next(e for e in history if e["kind"] == "state")
    assert state_change["from_state"] == "ok" and state_change["to_state"] == "firing" and state_change["value"] == 3


def test_pending_periods_and_relative_week_condition(tenant) -> None:  # type: ignore[no-untyped-def]
    body = rule({"type": "relative", "compare_to": "previous_period", "direction": "down", "by": 50}, pending_periods=2)
    created = create(tenant, body)
    first = evaluate(tenant, created["id"])
    assert first["state"] == "pending" and first["breaches"] == 1 and "-70.0%" in first["reason"]
    assert evaluate(tenant, created["id"])["state"] == "firing"


def test_snooze_suppresses_the_notification(tenant, runtime) -> None:  # type: ignore[no-untyped-def]
    created = create(tenant, rule({"type": "threshold", "operator": "below", "value": 5}))
    snoozed = tenant.post(f"/v1/alerts/{created['id']}/snooze", json={"minutes": 60, "comment": "deploy"})
    assert snoozed.status_code == 200 and snoozed.json()["snoozed_until"]
    assert evaluate(tenant, created["id"])["state"] == "firing"
    assert not any(e.data.get("alert_id") == created["id"] for e in runtime.bus.published)
    history = tenant.get(f"/v1/alerts/{created['id']}/events").json()
    assert any(e["kind"] == "notification_suppressed" and "snoozed" in e["reason"] for e in history)
    assert tenant.request("DELETE", f"/v1/alerts/{created['id']}/snooze").json()["snoozed_until"] is None


def test_clear_value_is_ok_and_no_data_for_an_empty_series(tenant) -> None:  # type: ignore[no-untyped-def]
    ok = create(tenant, rule({"type": "threshold", "operator": "above", "value": 100}))
    assert evaluate(tenant, ok["id"])["state"] == "ok"
    body = rule({"type": "relative", "by": 10})
    body["source"] = trend("never-sent")
    empty = create(tenant, body)
    result = evaluate(tenant, empty["id"])
    assert result["state"] == "no_data" and "0" in result["reason"]


def test_funnel_retention_and_metric_sources(tenant) -> None:  # type: ignore[no-untyped-def]
    funnel = {
        "type": "insight",
        "query": {"kind": "funnels", "steps": [{"event": "signup"}, {"event": "purchase"}]},
        "step": 2,
    }
    created = create(
        tenant,
        {"name": "conversion", "source": funnel, "condition": {"type": "threshold", "operator": "below", "value": 1}},
    )
    result = evaluate(tenant, created["id"])
    assert result["state"] == "firing" and result["value"] == 0
    retention = {"type": "insight", "query": {"kind": "retention", "period": "day", "periods": 3}, "period": 1}
    created = create(
        tenant,
        {"name": "d1", "source": retention, "condition": {"type": "threshold", "operator": "above", "value": 101}},
    )
    assert evaluate(tenant, created["id"])["state"] in ("ok", "no_data")
    metric = tenant.post("/v1/metrics", json={"name": "Signups", "query": trend()["query"]})
    assert metric.status_code == 201, metric.text
    source = {"type": "metric", "metric_id": metric.json()["id"]}
    created = create(
        tenant, {"name": "m", "source": source, "condition": {"type": "threshold", "operator": "below", "value": 5}}
    )
    assert evaluate(tenant, created["id"])["value"] == 3


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (
            {
                "name": "x",
                "source": {"type": "metric", "metric_id": "met_nope"},
                "condition": {"type": "threshold", "operator": "above", "value": 1},
            },
            "unknown metric",
        ),
        (
            {
                "name": "x",
                "source": {"type": "insight", "query": {"kind": "nope"}},
                "condition": {"type": "threshold", "operator": "above", "value": 1},
            },
            "kind",
        ),
        ({"name": "x", "source": trend(), "condition": {"type": "sideways", "value": 1}}, "condition"),
        (
            {"name": "x", "source": trend(), "condition": {"type": "threshold", "operator": "beyond", "value": 1}},
            "operator",
        ),
        (
            {
                "name": "x",
                "source": {"type": "insight", "query": {"kind": "retention"}},
                "condition": {"type": "threshold", "operator": "above", "value": 1},
            },
            "period",
        ),
        (
            {
                "name": "x",
                "source": {"type": "insight", "query": {"kind": "funnels", "steps": [{"event": "a"}, {"event": "b"}]}},
                "condition": {"type": "relative", "by": 5},
            },
            "interval",
        ),
        (
            {
                "name": "x",
                "source": {**trend(), "query": {**trend()["query"], "interval": "hour"}},
                "condition": {"type": "relative", "compare_to": "year_ago", "by": 5},
            },
            "points of history",
        ),
        (
            {
                **rule({"type": "threshold", "operator": "above", "value": 1}),
                "notify": {"webhooks": [{"url": "http://127.0.0.1:9/x"}]},
            },
            "address",
        ),
    ],
)
def test_bad_input_is_422_with_the_reason(tenant, body: dict[str, Any], fragment: str) -> None:  # type: ignore[no-untyped-def]
    response = tenant.post("/v1/alerts", json=body)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert fragment in (error["message"] + str(error.get("details"))), error


def test_another_tenants_alert_is_404_and_read_scope_cannot_change(tenant, new_tenant) -> None:  # type: ignore[no-untyped-def]
    created = create(tenant, rule({"type": "threshold", "operator": "below", "value": 5}))
    other = new_tenant()
    for method, path in [
        ("GET", ""),
        ("PATCH", ""),
        ("DELETE", ""),
        ("GET", "/events"),
        ("POST", "/evaluate"),
        ("POST", "/resolve"),
    ]:
        kwargs = {"json": {}} if method in ("PATCH", "POST") else {}
        assert other.request(method, f"/v1/alerts/{created['id']}{path}", **kwargs).status_code == 404
    assert created["id"] not in [a["id"] for a in other.get("/v1/alerts").json()]
    reader = new_tenant(scopes=("read",))
    assert (
        reader.post("/v1/alerts", json=rule({"type": "threshold", "operator": "below", "value": 5})).status_code == 403
    )
    assert reader.get("/v1/alerts").status_code == 200


def test_patch_and_delete(tenant) -> None:  # type: ignore[no-untyped-def]
    created = create(tenant, rule({"type": "threshold", "operator": "below", "value": 5}))
    patched = tenant.request(
        "PATCH",
        f"/v1/alerts/{created['id']}",
        json={"condition": {"type": "threshold", "operator": "below", "value": 2}, "every_seconds": 600},
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["condition"]["value"] == 2 and patched.json()["every_seconds"] == 600
    assert evaluate(tenant, created["id"])["state"] == "ok"
    assert tenant.request("PATCH", f"/v1/alerts/{created['id']}", json={"name": None}).status_code == 422
    assert tenant.request("DELETE", f"/v1/alerts/{created['id']}").status_code == 204
    assert tenant.get(f"/v1/alerts/{created['id']}").status_code == 404
    listed = tenant.get("/v1/alerts", params={"state": "firing"}).json()
    assert all(a["state"] == "firing" for a in listed)
    assert tenant.get("/v1/alerts", params={"state": "weird"}).status_code == 422
