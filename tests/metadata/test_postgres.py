"""The metadata layer on the real PostgreSQL server (127.0.0.1:5432, database `test`)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from analytics_engine.api.app import create_app
from tests.conftest import ADMIN_KEY, build_settings
from tests.support.factories import events, make_tenant

pytestmark = pytest.mark.postgres
BASE_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def test_service_on_postgres_metadata(tmp_path, warehouse_path, postgres_url):
    settings = build_settings(tmp_path, warehouse_path, metadata_url=postgres_url)
    admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
    with TestClient(create_app(settings)) as client:
        a = make_tenant(client, admin, "pg-a")
        b = make_tenant(client, admin, "pg-b", scopes=("read",))
        a.ingest(events("pg", 5))
        assert a.count() == 5 and b.count() == 0
        assert b.post("/v1/events", json={"event": "x", "distinct_id": "u"}).status_code == 403
        key_id = client.get(f"/v1/admin/tenants/{a.id}/keys", headers=admin).json()[0]["id"]
        client.delete(f"/v1/admin/tenants/{a.id}/keys/{key_id}", headers=admin)
        assert a.get("/v1/events/count").status_code == 401
    with TestClient(create_app(settings)) as client:  # migrations run again: a no-op
        assert {t["name"] for t in client.get("/v1/admin/tenants", headers=admin).json()} == {"pg-a", "pg-b"}
