"""Budgets on the real insight route: the gate's 429, a read limit's 429, usage counted."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from analytics_engine.runtime import Runtime
from tests.support.budgets import slot_held
from tests.support.factories import events

QUERY = {"series": [{"event": "pageview", "math": "total"}], "interval": "day", "date_range": {"date_from": "-7d"}}


def test_concurrency_limit_gives_429_on_insights(client, admin_headers, new_tenant, runtime: Runtime) -> None:  # type: ignore[no-untyped-def]
    tenant = new_tenant()
    client.put(f"/v1/admin/tenants/{tenant.id}/budget", json={"max_concurrent_queries": 1}, headers=admin_headers)
    with slot_held(runtime.budgets, tenant.id):  # another query of the tenant is running
        refused = tenant.post("/v1/insights/trends", params={"refresh": "true"}, json=QUERY)
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == "1"
    assert refused.json()["error"]["details"]["limit"] == "max_concurrent_queries"
    assert tenant.post("/v1/insights/trends", json=QUERY).status_code == 200


def test_read_limit_gives_429_naming_it(client, admin_headers, new_tenant) -> None:  # type: ignore[no-untyped-def]
    tenant = new_tenant()
    tenant.ingest(events("pageview", 300, users=30, start=datetime.now(UTC) - timedelta(days=2)))
    client.put(f"/v1/admin/tenants/{tenant.id}/budget", json={"max_rows_to_read": 10}, headers=admin_headers)
    refused = tenant.post("/v1/insights/trends", json={**QUERY, "filters": [{"key": "plan", "operator": "is_set"}]})
    assert refused.status_code == 429, refused.text
    assert refused.json()["error"]["code"] == "budget_exceeded"
    assert refused.json()["error"]["details"]["limit"] == "max_rows_to_read"
    assert "Retry-After" in refused.headers


def test_daily_seconds_spent_gives_429_until_midnight(client, admin_headers, new_tenant, runtime: Runtime) -> None:  # type: ignore[no-untyped-def]
    tenant = new_tenant()
    client.put(f"/v1/admin/tenants/{tenant.id}/budget", json={"query_seconds_per_day": 5}, headers=admin_headers)
    ok = tenant.post("/v1/insights/trends", json=QUERY)
    assert ok.status_code == 200, ok.text
    usage = tenant.get("/v1/usage").json()["usage"]
    assert usage["queries"] >= 1 and usage["query_seconds"] > 0
    runtime.budgets.record(tenant.id, 10.0, 0, 0)  # as if a long query had run
    refused = tenant.post("/v1/insights/trends", params={"refresh": "true"}, json=QUERY)
    assert refused.status_code == 429
    assert refused.json()["error"]["details"]["limit"] == "query_seconds_per_day"
    assert int(refused.headers["Retry-After"]) > 0
    # a cached answer costs no warehouse time and is still served
    assert tenant.post("/v1/insights/trends", json=QUERY).status_code == 200
