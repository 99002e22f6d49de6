"""Answers and feedback stored in PostgreSQL metadata (revision 1800_ai on the real server)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from analytics_engine.api.app import create_app
from tests.conftest import ADMIN_KEY, build_settings
from tests.support.factories import events, make_tenant

pytestmark = pytest.mark.postgres


def test_answers_on_postgres(tmp_path, warehouse_path, postgres_url):
    settings = build_settings(tmp_path, warehouse_path, metadata_url=postgres_url)
    admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
    with TestClient(create_app(settings)) as client:
        a = make_tenant(client, admin, "pg-ai-a")
        b = make_tenant(client, admin, "pg-ai-b")
        yesterday_noon = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0) - timedelta(days=1)
        a.ingest(events("purchase", 6, users=2, start=yesterday_noon, plan="pro"))
        asked = a.post("/v1/ai/ask", json={"question": "How many purchases by plan last 7 days?"})
        assert asked.status_code == 200, asked.text
        body = asked.json()
        assert body["understood"] and '"pro": 6 [e1]' in body["answer"], body["answer"]
        marked = a.post(f"/v1/ai/answers/{body['id']}/feedback", json={"useful": True, "comment": "ok"})
        assert marked.status_code == 200 and marked.json()["feedback"]["useful"] is True
        assert [x["id"] for x in a.get("/v1/ai/answers").json()["answers"]] == [body["id"]]
        assert b.get(f"/v1/ai/answers/{body['id']}").status_code == 404
        assert b.get("/v1/ai/answers").json()["answers"] == []
