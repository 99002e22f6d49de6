"""A failing evaluation puts the rules concerned in `error` with the reason and nothing else: here
the warehouse refuses the group's query (the tenant's read budget), while a rule on another source
in the same job evaluates normally; once the cause is gone the rule recovers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.support.factories import events


def test_a_refused_query_errors_its_group_only(client, admin_headers, runtime) -> None:  # type: ignore[no-untyped-def]
    from tests.support.factories import make_tenant

    tenant = make_tenant(client, admin_headers, "alerts-failures")
    tenant.ingest(events("signup", 50, users=20, start=datetime.now(UTC) - timedelta(days=2)))
    trend = {
        "type": "insight",
        "query": {
            "kind": "trends",
            "series": [{"event": "signup"}, {"event": "x"}],
            "filters": [{"key": "plan", "operator": "is_set"}],
            "interval": "day",
        },
    }
    condition = {"type": "threshold", "operator": "above", "value": 1_000_000}
    ids = []
    for source in (trend, trend, {"type": "sla", "signal": "job_failures"}):
        created = tenant.post("/v1/alerts", json={"name": "f", "source": source, "condition": condition})
        assert created.status_code == 201, created.text
        ids.append(created.json()["id"])
    budget = client.put(f"/v1/admin/tenants/{tenant.id}/budget", json={"max_rows_to_read": 1}, headers=admin_headers)
    assert budget.status_code == 200, budget.text
    summary = runtime.alerts.evaluate(tenant.id, ids)
    assert summary.evaluated == 3 and summary.groups == 2
    rules = {a["id"]: a for a in tenant.get("/v1/alerts").json()}
    assert rules[ids[0]]["state"] == rules[ids[1]]["state"] == "error"
    assert rules[ids[0]]["reason"] and rules[ids[0]]["reason"] == rules[ids[1]]["reason"]
    assert rules[ids[2]]["state"] == "ok"
    history = tenant.get(f"/v1/alerts/{ids[0]}/events").json()
    assert history[0]["to_state"] == "error" and history[0]["reason"] == rules[ids[0]]["reason"]
    client.put(f"/v1/admin/tenants/{tenant.id}/budget", json={}, headers=admin_headers)
    runtime.alerts.evaluate(tenant.id, ids)
    assert tenant.get(f"/v1/alerts/{ids[0]}").json()["state"] == "ok"
