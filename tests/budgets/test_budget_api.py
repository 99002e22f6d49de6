"""Budget routes through the real app: the admin sets limits, a tenant reads its usage, and a
refusal renders as 429 with Retry-After and the limit named in details."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient

from analytics_engine.api.deps import ReadTenant, RuntimeDep
from analytics_engine.api.errors import install_error_handlers
from analytics_engine.runtime import Runtime


def test_admin_reads_and_sets_a_budget(client, admin_headers, new_tenant) -> None:  # type: ignore[no-untyped-def]
    tenant = new_tenant()
    path = f"/v1/admin/tenants/{tenant.id}/budget"
    before = client.get(path, headers=admin_headers)
    assert before.status_code == 200, before.text
    assert before.json()["overrides"] == {}
    assert before.json()["limits"] == before.json()["defaults"]

    put = client.put(path, json={"max_concurrent_queries": 2, "query_seconds_per_day": 600}, headers=admin_headers)
    assert put.status_code == 200, put.text
    body = put.json()
    assert body["overrides"] == {"max_concurrent_queries": 2, "query_seconds_per_day": 600}
    assert body["limits"]["max_concurrent_queries"] == 2
    assert body["limits"]["max_rows_to_read"] == body["defaults"]["max_rows_to_read"]
    assert client.get(path, headers=admin_headers).json()["overrides"] == body["overrides"]


def test_budget_routes_refuse_bad_input_and_strangers(client, admin_headers, new_tenant) -> None:  # type: ignore[no-untyped-def]
    tenant = new_tenant()
    path = f"/v1/admin/tenants/{tenant.id}/budget"
    negative = client.put(path, json={"max_rows_to_read": -1}, headers=admin_headers)
    assert negative.status_code == 422 and negative.json()["error"]["code"] == "invalid_input"
    unknown = client.put(path, json={"max_rowz": 1}, headers=admin_headers)
    assert unknown.status_code == 422
    missing = client.get("/v1/admin/tenants/tn_missing/budget", headers=admin_headers)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    assert client.put("/v1/admin/tenants/tn_missing/budget", json={}, headers=admin_headers).status_code == 404
    # a tenant key (even with the admin scope) cannot read or change budgets
    assert tenant.get(path).status_code == 401
    assert tenant.request("PUT", path, json={"max_concurrent_queries": 100}).status_code == 401


def test_usage_shows_the_tenants_own_consumption(client, admin_headers, new_tenant, runtime: Runtime) -> None:  # type: ignore[no-untyped-def]
    tenant, other = new_tenant(), new_tenant()
    client.put(f"/v1/admin/tenants/{tenant.id}/budget", json={"query_seconds_per_day": 100}, headers=admin_headers)
    runtime.budgets.record(tenant.id, 2.5, 1000, 64_000)
    runtime.budgets.record(other.id, 9.0, 1, 1)
    response = tenant.get("/v1/usage")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["tenant_id"] == tenant.id
    assert body["usage"]["queries"] == 1 and body["usage"]["query_seconds"] == 2.5
    assert body["usage"]["read_rows"] == 1000 and body["usage"]["read_bytes"] == 64_000
    assert body["limits"]["query_seconds_per_day"] == 100
    assert body["remaining"]["query_seconds"] == 97.5
    assert not body["resets_at"].startswith(body["day"])  # the next midnight, not today
    assert client.get("/v1/usage").status_code == 401
    ingest_only = new_tenant(scopes=("ingest",))
    assert ingest_only.get("/v1/usage").status_code == 403


def test_refusal_renders_429_with_retry_after(client, admin_headers, new_tenant, runtime: Runtime) -> None:  # type: ignore[no-untyped-def]
    """A route guarded by the gate, on the service's own error handlers (the insight routes use the
    same `admit()`)."""
    app = FastAPI()
    install_error_handlers(app)
    app.state.runtime = runtime

    @app.get("/guarded")
    def guarded(tenant: ReadTenant, rt: RuntimeDep) -> dict[str, str]:
        with rt.budgets.admit(tenant.tenant_id):
            return {"ok": "yes"}

    tenant = new_tenant()
    client.put(f"/v1/admin/tenants/{tenant.id}/budget", json={"max_concurrent_queries": 1}, headers=admin_headers)
    local = TestClient(app)
    assert local.get("/guarded", headers=tenant.headers).status_code == 200
    with runtime.budgets.admit(tenant.id):  # one query already running
        refused = local.get("/guarded", headers=tenant.headers)
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == "1"
    error = refused.json()["error"]
    assert error["code"] == "budget_exceeded"
    assert error["details"]["limit"] == "max_concurrent_queries"
    assert "max_concurrent_queries" in error["message"]
    assert tenant.get("/v1/usage").json()["usage"]["rejected"] == 1
