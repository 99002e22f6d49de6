"""Materialized properties with the metadata on the real PostgreSQL server (revision
1300_materialized_properties, the shared column, the cap, suggestions, the drop)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from analytics_engine.api.app import create_app
from tests.conftest import ADMIN_KEY, build_settings
from tests.support.factories import events, make_tenant

pytestmark = pytest.mark.postgres
BASE = "/v1/materialized-properties"


def test_materialized_properties_on_postgres(tmp_path: Any, warehouse_path: Any, postgres_url: str) -> None:
    settings = build_settings(
        tmp_path,
        warehouse_path,
        metadata_url=postgres_url,
        materialized_refresh_seconds=0,
        materialized_max_per_tenant=2,
    )
    admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
    with TestClient(create_app(settings)) as client:
        one, two = make_tenant(client, admin, "pg-mp-1"), make_tenant(client, admin, "pg-mp-2")
        one.ingest(events("signup", 6, users=3, plan="pro"))
        first = one.post(BASE, json={"path": "plan"}, params={"wait": "true"}).json()
        second = two.post(BASE, json={"path": "plan"}, params={"wait": "true"}).json()
        assert first["state"] == second["state"] == "ready" and first["column"] == second["column"]
        query = {"series": [{"event": "signup"}], "filters": [{"key": "plan", "operator": "eq", "value": "pro"}]}
        answer = one.post("/v1/insights/trends", json=query, params={"refresh": "true"}).json()
        assert answer["materialized_properties"] == ["plan"] and answer["series"][0]["total"] == 6

        assert one.post(BASE, json={"path": "country"}).status_code == 201
        refused = one.post(BASE, json={"path": "browser"})
        assert refused.status_code == 422 and refused.json()["error"]["code"] == "materialized_limit"

        widget = {
            "title": "w",
            "viz": "line",
            "query": {"kind": "trends", "series": [{"event": "x"}], "breakdown": ["plan"]},
        }
        assert two.post("/v1/dashboards", json={"name": "d", "widgets": [widget]}).status_code == 201
        items = two.get(f"{BASE}/suggestions").json()["items"]
        assert items == [{"path": "plan", "type": "string", "uses": 1, "materialized": True}]

        for tenant, created in ((one, first), (two, second)):
            assert tenant.request("DELETE", f"{BASE}/{created['id']}").status_code == 204
        assert [item["path"] for item in one.get(BASE).json()["items"]] == ["country"]
        answer = one.post("/v1/insights/trends", json=query, params={"refresh": "true"}).json()
        assert answer["materialized_properties"] == [] and answer["series"][0]["total"] == 6
