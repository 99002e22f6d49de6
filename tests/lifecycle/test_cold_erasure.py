"""Erasure by properties reaches the cold tier: a person whose rows holding the property have all
moved to Parquet (and so left `person_properties`) is found there and erased from the cold files;
a later hot value of the property wins over a cold one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from analytics_engine.ingest.validation import Limits, validate_events
from analytics_engine.lifecycle.cold import cold_files, file_figures, local_path
from analytics_engine.lifecycle.window import hot_window_start
from analytics_engine.privacy.receipt import subject_hash

OLD = Limits(max_past_ms=10 * 365 * 86_400_000)


def _write(runtime, tenant_id: str, person: str, start: datetime, count: int, **properties: Any) -> None:  # type: ignore[no-untyped-def]
    raw = [
        {
            "event": "view",
            "distinct_id": person,
            "timestamp": (start + timedelta(hours=3 * i)).isoformat(),
            "properties": {"n": i, **properties},
        }
        for i in range(count)
    ]
    outcome = validate_events(raw, tenant_id, OLD)
    assert not outcome.rejected
    runtime.writer.write(outcome.accepted)


def _erase(tenant, properties: dict[str, Any]) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    response = tenant.post("/v1/privacy/erasures", params={"wait": "true"}, json={"properties": properties})
    assert response.status_code == 202, response.text
    body: dict[str, Any] = tenant.get(f"/v1/privacy/erasures/{response.json()['id']}").json()
    assert body["status"] == "completed", body
    return body["receipt"]


def test_erasure_by_properties_finds_people_in_the_cold_tier(client, runtime, new_tenant, admin_headers) -> None:  # type: ignore[no-untyped-def]
    tenant = new_tenant()
    old = hot_window_start(datetime.now(UTC), 1) - timedelta(days=40)
    recent = datetime.now(UTC) - timedelta(days=2)
    _write(runtime, tenant.id, "carol", old, 20, email="carol@example.com")  # cold only
    _write(runtime, tenant.id, "dave", old, 10, email="dave@old.example")  # cold, then a new hot value
    _write(runtime, tenant.id, "dave", recent, 3, email="dave@new.example")
    _write(runtime, tenant.id, "erin", old, 5, email="erin@example.com")  # cold and hot, same value
    _write(runtime, tenant.id, "erin", recent, 2, email="erin@example.com")
    _write(runtime, tenant.id, "finn", old, 5, email="finn@example.com")  # untouched
    # Through the job runner, like every tiering run (never two at once).
    job = client.post("/v1/admin/lifecycle/run", params={"wait": "true"}, headers=admin_headers).json()
    assert job["state"] == "succeeded", job
    scope = runtime.warehouse.for_tenant(tenant.id)
    assert sum(f.rows for f in cold_files(runtime, tenant.id)) == 40

    def cold_rows(person: str) -> int:
        return sum(
            file_figures(scope, local_path(runtime, tenant.id, f.key), f"distinct_id = '{person}'")[0]
            for f in cold_files(runtime, tenant.id)
        )

    # Only in the cold tier: found there, and its rows leave the cold files.
    receipt = _erase(tenant, {"email": "carol@example.com"})
    assert receipt["subject"]["id_sha256"] == [subject_hash(tenant.id, "carol")]
    cold = {e["store"]: e for e in receipt["stores"]}["cold_files"]
    assert (cold["rows_before"], cold["rows_after"]) == (20, 0)
    assert cold_rows("carol") == 0 and cold_rows("finn") == 5
    for entry in cold_files(runtime, tenant.id):
        assert file_figures(scope, local_path(runtime, tenant.id, entry.key)) == (entry.rows, entry.checksum)

    # A later hot value wins: dave's old address no longer identifies him, his new one does (both tiers).
    assert _erase(tenant, {"email": "dave@old.example"})["subject"]["id_sha256"] == []
    assert cold_rows("dave") == 10
    receipt = _erase(tenant, {"email": "dave@new.example"})
    assert receipt["subject"]["id_sha256"] == [subject_hash(tenant.id, "dave")]
    stores = {e["store"]: e for e in receipt["stores"]}
    assert stores["events"]["rows_before"] == 3 and stores["cold_files"]["rows_before"] == 10
    assert cold_rows("dave") == 0

    # In both tiers with the same value: one person, every row of both tiers.
    receipt = _erase(tenant, {"email": "erin@example.com"})
    assert receipt["subject"]["id_sha256"] == [subject_hash(tenant.id, "erin")]
    stores = {e["store"]: e for e in receipt["stores"]}
    assert stores["events"]["rows_before"] == 2 and stores["cold_files"]["rows_before"] == 5
    assert cold_rows("erin") == 0 and cold_rows("finn") == 5
