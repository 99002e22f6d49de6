"""Alerts with the metadata on the real PostgreSQL server (revision 1500_alerts): create, evaluate
through the schedule's job, history, acknowledge and resolve."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from analytics_engine.api.app import create_app
from tests.alerts.support import evaluate_due_now
from tests.conftest import ADMIN_KEY, build_settings
from tests.support.factories import events, make_tenant

pytestmark = pytest.mark.postgres


def test_alerts_on_postgres(tmp_path: Any, warehouse_path: Any, postgres_url: str) -> None:
    settings = build_settings(tmp_path, warehouse_path, metadata_url=postgres_url)
    admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
    with TestClient(create_app(settings)) as client:
        runtime = client.app.state.runtime  # type: ignore[attr-defined]
        tenant = make_tenant(client, admin, "pg-alerts")
        tenant.ingest(events("signup", 3, start=datetime.now(UTC).replace(hour=5) - timedelta(days=1)))
        source = {
            "type": "insight",
            "query": {"kind": "trends", "series": [{"event": "signup"}], "interval": "day", "timezone": "UTC"},
        }
        body = {"name": "pg", "source": source, "condition": {"type": "threshold", "operator": "below", "value": 5}}
        created = tenant.post("/v1/alerts", json=body)
        assert created.status_code == 201, created.text
        alert_id = created.json()["id"]
        evaluate_due_now(runtime, tenant.id)  # the tenant's only rule
        alert = tenant.get(f"/v1/alerts/{alert_id}").json()
        assert alert["state"] == "firing" and alert["value"] == 3 and alert["firing_since"]
        assert tenant.post(f"/v1/alerts/{alert_id}/acknowledge", json={"comment": "seen"}).status_code == 200
        assert tenant.post(f"/v1/alerts/{alert_id}/resolve", json={}).json()["state"] == "resolved"
        kinds = [e["kind"] for e in tenant.get(f"/v1/alerts/{alert_id}/events").json()]
        assert kinds[:2] == ["notified", "resolved"] and "acknowledged" in kinds and "state" in kinds
