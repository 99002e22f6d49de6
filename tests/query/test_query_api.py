"""POST /v1/query and /v1/query/explain end to end: answers, `truncated`, each error's shape, scopes."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.support.factories import TenantHandle, events

pytestmark = pytest.mark.filterwarnings("ignore")


@pytest.fixture(scope="module")
def tenants(client: TestClient, admin_headers: dict[str, str]) -> tuple[TenantHandle, TenantHandle]:
    from tests.support.factories import make_tenant

    one = make_tenant(client, admin_headers, "sql-api-one")
    two = make_tenant(client, admin_headers, "sql-api-two")
    one.ingest(events("signup", 12, users=4, plan="one_plan"))
    two.ingest(events("signup", 5, users=2, plan="two_plan"))
    two.ingest(events("two_only", 3))
    return one, two


def post(tenant: TenantHandle, path: str, body: dict[str, Any]) -> Any:
    return tenant.post(path, json=body)


def test_query_answers_with_typed_columns(tenants: tuple[TenantHandle, TenantHandle]) -> None:
    one, two = tenants
    response = post(one, "/v1/query", {"sql": "SELECT event, count() AS n FROM events GROUP BY event"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["columns"] == [{"name": "event", "type": "LowCardinality(String)"}, {"name": "n", "type": "UInt64"}]
    assert body["rows"] == [["signup", 12]]
    assert body["truncated"] is False and body["limit"] == 1000
    assert body["query_id"] and body["elapsed_ms"] >= 0 and body["rows_read"] >= 0 and body["bytes_read"] >= 0
    other = post(two, "/v1/query", {"sql": "SELECT count() FROM events"}).json()
    assert other["rows"] == [[8]]


def test_truncated_when_the_limit_cuts(tenants: tuple[TenantHandle, TenantHandle]) -> None:
    one, _ = tenants
    body = post(one, "/v1/query", {"sql": "SELECT distinct_id FROM events", "limit": 5}).json()
    assert len(body["rows"]) == 5 and body["truncated"] is True
    full = post(one, "/v1/query", {"sql": "SELECT distinct_id FROM events", "limit": 12}).json()
    assert len(full["rows"]) == 12 and full["truncated"] is False


def test_not_allowed_has_reason_and_position(tenants: tuple[TenantHandle, TenantHandle]) -> None:
    one, _ = tenants
    response = post(one, "/v1/query", {"sql": "SELECT *\nFROM file('/etc/passwd')"})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "sql_not_allowed"
    assert "table functions" in error["details"]["reason"]
    assert error["details"]["position"]["line"] == 2
    system = post(one, "/v1/query", {"sql": "SELECT * FROM system.tables"}).json()["error"]
    assert system["code"] == "sql_not_allowed"


def test_syntax_error_has_position(tenants: tuple[TenantHandle, TenantHandle]) -> None:
    one, _ = tenants
    response = post(one, "/v1/query", {"sql": "SELECT count( FROM events"})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "sql_syntax_error"
    assert set(error["details"]["position"]) == {"line", "column", "offset"}


def test_clickhouse_refusal_is_sql_error(tenants: tuple[TenantHandle, TenantHandle], settings: Any) -> None:
    one, _ = tenants
    response = post(one, "/v1/query", {"sql": "SELECT tenant_id FROM events"})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "sql_error"
    assert settings.warehouse_database not in error["message"]


def test_bad_bodies_are_422(tenants: tuple[TenantHandle, TenantHandle]) -> None:
    one, _ = tenants
    for body in ({}, {"sql": ""}, {"sql": "SELECT 1", "limit": 0}, {"sql": "SELECT 1", "limit": 100_001}, {"q": 1}):
        response = post(one, "/v1/query", body)
        assert response.status_code == 422, (body, response.text)


def test_over_budget_is_429(
    tenants: tuple[TenantHandle, TenantHandle], client: TestClient, admin_headers: dict[str, str]
) -> None:
    one, _ = tenants
    put = client.put(f"/v1/admin/tenants/{one.id}/budget", json={"max_rows_to_read": 1}, headers=admin_headers)
    assert put.status_code == 200, put.text
    try:
        response = post(one, "/v1/query", {"sql": "SELECT * FROM events"})
        assert response.status_code == 429, response.text
        assert response.json()["error"]["code"] == "budget_exceeded"
    finally:
        client.put(f"/v1/admin/tenants/{one.id}/budget", json={}, headers=admin_headers)


def test_explain(tenants: tuple[TenantHandle, TenantHandle]) -> None:
    one, _ = tenants
    response = post(one, "/v1/query/explain", {"sql": "SELECT count() FROM events WHERE event = 'signup'"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["plan"] and isinstance(body["estimated_rows"], int)
    refused = post(one, "/v1/query/explain", {"sql": "SELECT * FROM url('http://x')"})
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "sql_not_allowed"


def test_tables(tenants: tuple[TenantHandle, TenantHandle]) -> None:
    one, _ = tenants
    body = one.get("/v1/query/tables").json()
    names = [t["name"] for t in body["tables"]]
    assert {"events", "persons", "cohort_users", "metrics_daily"} <= set(names)
    events_table = next(t for t in body["tables"] if t["name"] == "events")
    assert "tenant_id" not in [c["name"] for c in events_table["columns"]]


def test_read_scope_needed(client: TestClient, admin_headers: dict[str, str]) -> None:
    from tests.support.factories import make_tenant

    ingest_only = make_tenant(client, admin_headers, "sql-ingest-only", scopes=("ingest",))
    assert post(ingest_only, "/v1/query", {"sql": "SELECT 1"}).status_code == 403
    assert client.post("/v1/query", json={"sql": "SELECT 1"}).status_code == 401


def test_background_runs_pass_the_gate_a_request_would_not(
    tenants: tuple[TenantHandle, TenantHandle], client: TestClient, admin_headers: dict[str, str], runtime: Any
) -> None:
    from analytics_engine.query.service import run_restricted_sql

    _, two = tenants
    put = client.put(
        f"/v1/admin/tenants/{two.id}/budget", json={"query_seconds_per_day": 0.000001}, headers=admin_headers
    )
    assert put.status_code == 200, put.text
    try:
        post(two, "/v1/query", {"sql": "SELECT count() FROM events"})  # uses up the day's seconds
        refused = post(two, "/v1/query", {"sql": "SELECT count() FROM events"})
        assert refused.status_code == 429, refused.text
        tenant = runtime.tenants.authenticate(two.key)
        assert run_restricted_sql(runtime, tenant, "SELECT count() FROM events", background=True).rows == [[8]]
    finally:
        client.put(f"/v1/admin/tenants/{two.id}/budget", json={}, headers=admin_headers)
