"""Metrics and dashboards on the real PostgreSQL metadata database (the 0800 revision, versions,
platform metrics with a NULL tenant, JSON columns, cascade on delete)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from analytics_engine.api.app import create_app
from tests.conftest import ADMIN_KEY, build_settings
from tests.support.factories import events, make_tenant

pytestmark = pytest.mark.postgres
BASE_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
TREND = {"kind": "trends", "series": [{"event": "signup"}]}


def test_metrics_and_dashboards_on_postgres(tmp_path, warehouse_path, postgres_url) -> None:  # type: ignore[no-untyped-def]
    settings = build_settings(tmp_path, warehouse_path, metadata_url=postgres_url)
    admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
    with TestClient(create_app(settings)) as client:
        tenant = make_tenant(client, admin, "pg-dash")
        tenant.ingest(events("signup", 5, users=5))
        platform = client.post("/v1/admin/metrics", json={"name": "All signups", "query": TREND}, headers=admin)
        assert platform.status_code == 201, platform.text
        own = tenant.post("/v1/metrics", json={"name": "Signups", "query": TREND, "dimensions": ["plan"]}).json()
        assert (
            tenant.request(
                "PUT", f"/v1/metrics/{own['id']}", json={"query": TREND, "unit": "x", "dimensions": ["plan"]}
            ).json()["version"]
            == 2
        )
        assert {m["name"] for m in tenant.get("/v1/metrics").json()} == {"All signups", "Signups"}
        body = {
            "name": "PG",
            "widgets": [
                {"title": "Platform", "viz": "big_number", "metric_id": platform.json()["id"]},
                {"title": "Own", "viz": "line", "metric_id": own["id"], "dimensions": ["plan"]},
            ],
        }
        created = tenant.post("/v1/dashboards", json=body)
        assert created.status_code == 201, created.text
        dashboard = created.json()
        rendered = tenant.get(f"/v1/dashboards/{dashboard['id']}/render").json()
        assert rendered["widgets"][0]["data"]["series"][0]["total"] == 5
        assert rendered["widgets"][1]["error"] is None
        assert tenant.request("DELETE", f"/v1/dashboards/{dashboard['id']}").status_code == 204
        assert tenant.get("/v1/dashboards").json() == []
