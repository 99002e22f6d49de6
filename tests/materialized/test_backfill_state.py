"""A column is read only once its backfill job finished: before, answers come from the JSON (same
numbers), and the property says `backfilling`; a failed backfill says `failed` and a new create
starts another."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from analytics_engine.jobs.context import JobFailed
from analytics_engine.runtime import Runtime

BASE = "/v1/materialized-properties"


def _trend(tenant: Any) -> dict[str, Any]:
    body = {
        "series": [{"event": "visit"}],
        "date_range": {"date_from": "-7d"},
        "filters": [{"key": "plan", "operator": "eq", "value": "pro"}],
    }
    response = tenant.post("/v1/insights/trends", json=body, params={"refresh": "true"})
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_served_from_the_column_only_after_the_backfill(new_tenant: Any, runtime: Runtime) -> None:
    tenant = new_tenant()
    start = datetime.now(UTC) - timedelta(hours=3)
    tenant.ingest(
        [
            {
                "event": "visit",
                "distinct_id": f"u{i}",
                "timestamp": (start + timedelta(minutes=i)).isoformat(),
                "properties": {"plan": "pro" if i % 3 else "free"},
            }
            for i in range(12)
        ]
    )
    runtime.runner.paused = True  # the loops claim nothing: the backfill job stays queued
    try:
        created = tenant.post(BASE, json={"path": "plan"}).json()
        assert created["state"] == "backfilling"
        answer = _trend(tenant)
        assert answer["materialized_properties"] == []
        assert answer["series"][0]["total"] == 8
    finally:
        runtime.runner.paused = False
    job = runtime.runner.run_now(created["job_id"], wait=True)
    assert job.state == "succeeded", job
    assert tenant.get(f"{BASE}/{created['id']}").json()["state"] == "ready"
    answer = _trend(tenant)
    assert answer["materialized_properties"] == ["plan"]
    assert answer["series"][0]["total"] == 8


def test_a_failed_backfill_is_reported_and_retried(new_tenant: Any, runtime: Runtime, monkeypatch: Any) -> None:
    tenant = new_tenant()

    def broken(column: str) -> None:
        raise JobFailed("mutation refused")

    monkeypatch.setattr(runtime.materialized.ddl, "materialize", broken)
    created = tenant.post(BASE, json={"path": "country"}, params={"wait": "true"}).json()
    assert created["state"] == "failed" and "mutation refused" in created["error"]
    monkeypatch.undo()
    again = tenant.post(BASE, json={"path": "country"}, params={"wait": "true"}).json()
    assert again["id"] == created["id"] and again["job_id"] != created["job_id"]
    assert again["state"] == "ready"
