"""/v1/materialized-properties: create (backfilled by a job), list, get, delete; shared columns and
their drop; the caps' 422; suggestions from dashboards and metrics; the OpenAPI description."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient

from analytics_engine.materialized.columns import column_name
from analytics_engine.materialized.warehouse import ColumnDDL
from analytics_engine.runtime import Runtime
from tests.materialized.conftest import MAX_COLUMNS, MAX_PER_TENANT
from tests.support.factories import TenantHandle

BASE = "/v1/materialized-properties"


def _path() -> str:
    return f"p{uuid.uuid4().hex[:8]}"


def _create(tenant: TenantHandle, path: str, value_type: str = "string", wait: bool = True) -> Any:
    return tenant.post(BASE, json={"path": path, "type": value_type}, params={"wait": str(wait).lower()})


def _trend(tenant: TenantHandle, **query: Any) -> dict[str, Any]:
    body = {"series": [{"event": "visit"}], "date_range": {"date_from": "-7d"}, **query}
    response = tenant.post("/v1/insights/trends", json=body, params={"refresh": "true"})
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_create_backfills_and_serves_the_column(new_tenant: Any, runtime: Runtime) -> None:
    tenant = new_tenant()
    start = datetime.now(UTC) - timedelta(hours=5)
    tenant.ingest(
        [
            {
                "event": "visit",
                "distinct_id": f"u{i}",
                "timestamp": (start + timedelta(minutes=i)).isoformat(),
                "properties": {"plan": ["pro", "team", "free"][i % 3], "utm": {"source": "ads" if i % 2 else "mail"}},
            }
            for i in range(30)
        ]
    )
    before = _trend(tenant, filters=[{"key": "plan", "operator": "eq", "value": "pro"}], breakdown=["utm.source"])
    assert before["materialized_properties"] == []

    response = _create(tenant, "plan")
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["state"] == "ready" and created["column"] == column_name("plan", "string")
    assert created["path"] == "plan" and created["type"] == "string" and created["source"] == "manual"
    job = tenant.get(f"/v1/jobs/{created['job_id']}").json()
    assert job["kind"] == "materialized.backfill" and job["state"] == "succeeded"
    assert job["rows_done"] == job["rows_total"]  # parts of events rewritten / parts at the start

    _create(tenant, "utm.source")
    after = _trend(tenant, filters=[{"key": "plan", "operator": "eq", "value": "pro"}], breakdown=["utm.source"])
    assert after["materialized_properties"] == ["plan", "utm.source"]
    assert after["served_by"] == "raw"  # the existing field keeps its values
    assert after["series"] == before["series"]

    listed = tenant.get(BASE).json()
    assert [item["path"] for item in listed["items"]] == ["plan", "utm.source"]
    assert listed["limit"] == MAX_PER_TENANT
    assert tenant.get(f"{BASE}/{created['id']}").json()["id"] == created["id"]


def test_create_is_idempotent(new_tenant: Any) -> None:
    tenant = new_tenant()
    path = _path()
    first, second = _create(tenant, path).json(), _create(tenant, path).json()
    assert first["id"] == second["id"] and second["state"] == "ready"
    assert len(tenant.get(BASE).json()["items"]) == 1


def test_tenants_share_a_column_and_the_last_delete_drops_it(new_tenant: Any, runtime: Runtime) -> None:
    one, two = new_tenant(), new_tenant()
    path = _path()
    name = column_name(path, "number")
    first = _create(one, path, "number").json()
    second = _create(two, path, "number").json()
    assert first["column"] == second["column"] == name
    ddl = ColumnDDL(runtime.warehouse)
    assert ddl.exists(name)

    assert one.request("DELETE", f"{BASE}/{first['id']}").status_code == 204
    assert one.get(f"{BASE}/{first['id']}").status_code == 404
    assert two.get(f"{BASE}/{second['id']}").json()["state"] == "ready"
    assert ddl.exists(name)  # the other tenant still uses it

    assert two.request("DELETE", f"{BASE}/{second['id']}").status_code == 204
    _wait(lambda: not ddl.exists(name))
    # the answer falls back to JSON, never an error
    assert _trend(two, filters=[{"key": path, "operator": "gt", "value": 1}])["materialized_properties"] == []


def test_another_tenants_property_is_404(new_tenant: Any) -> None:
    owner, other = new_tenant(), new_tenant()
    created = _create(owner, _path()).json()
    assert other.get(f"{BASE}/{created['id']}").status_code == 404
    assert other.request("DELETE", f"{BASE}/{created['id']}").status_code == 404
    assert owner.get(f"{BASE}/{created['id']}").status_code == 200


def test_tenant_cap_is_a_422_with_the_limit(new_tenant: Any) -> None:
    tenant = new_tenant()
    for _ in range(MAX_PER_TENANT):
        assert _create(tenant, _path(), wait=False).status_code == 201
    response = _create(tenant, _path(), wait=False)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "materialized_limit"
    assert f"({MAX_PER_TENANT})" in error["message"]
    assert error["details"]["limit"] == MAX_PER_TENANT and error["details"]["scope"] == "tenant"
    assert error["details"]["errors"][0]["type"] == "materialized_limit"


def test_bad_input_is_422(new_tenant: Any) -> None:
    tenant = new_tenant()
    for body in ({"path": "a b"}, {"path": "x", "type": "date"}, {"path": "x`y"}, {"path": "x", "extra": 1}):
        response = tenant.post(BASE, json=body)
        assert response.status_code == 422, body
        assert response.json()["error"]["details"]["errors"]


def test_read_scope_cannot_change(client: TestClient, admin_headers: dict[str, str]) -> None:
    from tests.support.factories import make_tenant

    reader = make_tenant(client, admin_headers, f"reader-{uuid.uuid4().hex[:6]}", scopes=("read",))
    assert reader.get(BASE).status_code == 200
    assert _create(reader, "plan").status_code == 403


def test_suggestions_count_dashboard_and_metric_uses(new_tenant: Any) -> None:
    tenant = new_tenant()
    filtered = {
        "kind": "trends",
        "series": [{"event": "buy", "math": "sum", "math_property": "amount"}],
        "filters": [{"key": "plan", "operator": "eq", "value": "pro"}],
        "breakdown": ["country"],
    }
    widgets = [
        {"title": "a", "viz": "line", "query": filtered},
        {
            "title": "b",
            "viz": "line",
            "query": {**filtered, "filters": [{"key": "plan", "operator": "in", "value": ["a", "b"]}]},
        },
    ]
    response = tenant.post("/v1/dashboards", json={"name": "d", "widgets": widgets})
    assert response.status_code == 201, response.text
    metric = {"name": "m", "query": {"kind": "trends", "series": [{"event": "buy"}], "breakdown": ["plan"]}}
    assert tenant.post("/v1/metrics", json=metric).status_code == 201

    suggestions = tenant.get(f"{BASE}/suggestions").json()
    uses = {(item["path"], item["type"]): item["uses"] for item in suggestions["items"]}
    assert uses == {("plan", "string"): 3, ("country", "string"): 2, ("amount", "number"): 2}
    assert suggestions["items"][0]["path"] == "plan"
    assert suggestions["auto"] is False

    applied = tenant.post(f"{BASE}/suggestions/apply", params={"min_uses": 3}).json()
    assert [item["path"] for item in applied["created"]] == ["plan"]
    items = tenant.get(f"{BASE}/suggestions").json()["items"]
    assert {item["path"]: item["materialized"] for item in items} == {"plan": True, "country": False, "amount": False}


def test_openapi_describes_the_routes(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    paths = spec["paths"]
    assert set(paths[BASE]) == {"get", "post"}
    assert set(paths[f"{BASE}/{{property_id}}"]) == {"get", "delete"}
    assert "get" in paths[f"{BASE}/suggestions"] and "post" in paths[f"{BASE}/suggestions/apply"]
    assert "422" in paths[BASE]["post"]["responses"]
    create = spec["components"]["schemas"]["MaterializedPropertyCreate"]
    assert create["properties"]["type"]["enum"] == ["string", "number"]
    answer = spec["components"]["schemas"]["InsightResponse"]["properties"]
    assert "materialized_properties" in answer


def _wait(condition: Any, seconds: float = 20.0) -> None:
    import time

    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


# Last in the module: it fills the service's column capacity, which refuses every new link after it.
def test_column_cap_is_a_422_that_tells_nothing_about_other_tenants(new_tenant: Any, runtime: Runtime) -> None:
    from sqlalchemy import func, select

    from analytics_engine.materialized.models import MaterializedColumn

    with runtime.metadata.session() as session:
        used = session.scalar(select(func.count()).select_from(MaterializedColumn)) or 0
    shared = _path()
    filler = new_tenant()
    assert _create(filler, shared, wait=False).status_code == 201
    used += 1
    while used < MAX_COLUMNS:
        tenant = new_tenant()
        for _ in range(min(MAX_PER_TENANT, MAX_COLUMNS - used)):
            assert _create(tenant, _path(), wait=False).status_code == 201
            used += 1
    late = new_tenant()
    response = _create(late, _path(), wait=False)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["details"]["scope"] == "service"
    details = response.json()["error"]["details"]
    assert details["limit"] == MAX_COLUMNS and details["scope"] == "service"
    assert "used" not in details and str(MAX_COLUMNS - 1) not in response.json()["error"]["message"]
    # A property another tenant materialized is refused alike: the answer must not reveal that it exists.
    shared_answer = _create(late, shared, wait=False)
    assert shared_answer.status_code == 422
    assert shared_answer.json()["error"]["message"] == response.json()["error"]["message"]
    assert _create(filler, shared, wait=False).status_code in (200, 201)  # an existing link stays idempotent
