"""Cohort definitions and versions on the real PostgreSQL metadata database."""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient

from analytics_engine.api.app import create_app
from tests.conftest import ADMIN_KEY, build_settings
from tests.support.factories import make_tenant

pytestmark = pytest.mark.postgres
BASE_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def test_cohorts_on_postgres(tmp_path, warehouse_path, postgres_url) -> None:  # type: ignore[no-untyped-def]
    settings = build_settings(tmp_path, warehouse_path, metadata_url=postgres_url)
    admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
    with TestClient(create_app(settings)) as client:
        tenant = make_tenant(client, admin, "pg-cohorts")
        tenant.ingest([{"event": "buy", "distinct_id": f"u{i}"} for i in range(4)])
        definition = {"type": "group", "criteria": [{"type": "event", "event": "buy"}]}
        cohort = tenant.post("/v1/cohorts", json={"name": "buyers", "definition": definition}).json()
        for _ in range(2):
            job = tenant.post(f"/v1/cohorts/{cohort['id']}/evaluate").json()
            deadline = time.monotonic() + 30
            while tenant.get(f"/v1/jobs/{job['id']}").json()["state"] not in ("succeeded", "failed"):
                assert time.monotonic() < deadline
                time.sleep(0.05)
            assert tenant.get(f"/v1/jobs/{job['id']}").json()["state"] == "succeeded"
        got = tenant.get(f"/v1/cohorts/{cohort['id']}").json()
        assert got["size"] == 4 and got["current_version"] >= 2
        static = tenant.post("/v1/cohorts", json={"name": "s", "kind": "static", "distinct_ids": ["x"]}).json()
        assert static["size"] == 1
        assert tenant.request("DELETE", f"/v1/cohorts/{static['id']}").status_code == 204
        assert tenant.request("DELETE", f"/v1/cohorts/{cohort['id']}").status_code == 204
