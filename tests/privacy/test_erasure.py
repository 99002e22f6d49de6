"""Erasure end to end through the API: every store loses the person, derived tables agree with
events again, cached answers are not served, the receipt is signed, the bus hears of it; and the
bad inputs of the issue."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from analytics_engine.ingest.consistency import check_derived
from analytics_engine.privacy.eraser import Eraser
from analytics_engine.privacy.receipt import load_receipt_key, subject_hash, verify
from tests.support.factories import TenantHandle

START = datetime.now(UTC) - timedelta(days=3)


def _events(person: str, count: int, **properties: Any) -> list[dict[str, Any]]:
    return [
        {
            "event": "view" if i % 2 else "signup",
            "distinct_id": person,
            "timestamp": (START + timedelta(hours=i)).isoformat(),
            "properties": {"n": i, **properties},
        }
        for i in range(count)
    ]


def _trends(tenant: TenantHandle) -> dict[str, Any]:
    query = {"series": [{"event": "view", "math": "unique_users"}], "date_range": {"date_from": "-7d"}}
    response = tenant.post("/v1/insights/trends", json=query)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _wait(tenant: TenantHandle, erasure_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        body: dict[str, Any] = tenant.get(f"/v1/privacy/erasures/{erasure_id}").json()
        if body["status"] in ("completed", "failed"):
            return body
        time.sleep(0.1)
    raise AssertionError("erasure did not finish")


def _count(runtime, table: str, tenant_id: str, where: str = "1") -> int:  # type: ignore[no-untyped-def]
    return int(
        runtime.warehouse.platform("test")
        .query(
            f"SELECT count() FROM {runtime.warehouse.table(table)} WHERE tenant_id = {{t:String}} AND {where}",
            {"t": tenant_id},
        )
        .scalar()
    )


def test_erasure_removes_the_person_everywhere(client, runtime, new_tenant, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    tenant, other = new_tenant(), new_tenant()
    tenant.ingest(_events("alice", 30, email="alice@example.com") + _events("bob", 20, email="bob@example.com"))
    other.ingest(_events("alice", 5))
    # A refused event of hers, a cohort membership and an export file holding her rows.
    tenant.ingest({"event": "view", "distinct_id": "alice", "timestamp": "not a time"})
    platform = runtime.warehouse.platform("test")
    platform.command(
        f"INSERT INTO {runtime.warehouse.table('cohort_users')} VALUES ({{t:String}}, 'c1', 1, 'alice'), "
        "({t:String}, 'c1', 1, 'bob')",
        {"t": tenant.id},
    )
    export = tmp_path / "e.csv"
    export.write_text("distinct_id,n\nalice,1\nbob,2\nalice,3\n")
    runtime.storage.put_file(tenant.id, "exports/ex_1.csv", export)
    report = tmp_path / "r.html"
    report.write_text("<p>top user: alice</p>")
    runtime.storage.put_file(tenant.id, "reports/rp_1/run/r.html", report)
    before = _trends(tenant)
    assert _trends(tenant)["cached"] is True

    response = tenant.post("/v1/privacy/erasures", json={"distinct_id": "alice"})
    assert response.status_code == 202, response.text
    accepted = response.json()
    assert accepted["job_id"] and accepted["status"] in ("queued", "running", "completed")
    erasure = _wait(tenant, accepted["id"])
    assert erasure["status"] == "completed", erasure
    receipt = erasure["receipt"]
    stores = {entry["store"]: entry for entry in receipt["stores"]}
    assert stores["events"]["rows_before"] == 30 and stores["events"]["rows_after"] == 0
    assert stores["persons"]["rows_before"] >= 1 and stores["persons"]["rows_after"] == 0
    assert stores["person_properties"]["rows_after"] == 0 and stores["person_weeks"]["rows_after"] == 0
    assert stores["cohort_users"]["rows_before"] == 1 and stores["cohort_users"]["rows_after"] == 0
    assert stores["rejected_events"]["rows_before"] == 1 and stores["rejected_events"]["rows_after"] == 0
    assert stores["metrics_daily, metrics_monthly"]["rows_after"] == 0
    assert stores["stored_files"]["rows_before"] == 2 and stores["stored_files"]["rows_after"] == 0
    actions = {f["key"]: f["action"] for f in stores["stored_files"]["details"]["files"]}
    assert actions == {"exports/ex_1.csv": "rewritten", "reports/rp_1/run/r.html": "deleted"}
    assert b"".join(runtime.storage.open(tenant.id, "exports/ex_1.csv")).decode() == "distinct_id,n\nbob,2\n"
    assert receipt["subject"]["id_sha256"] == [subject_hash(tenant.id, "alice")]
    assert receipt["physically_removed_at"]
    key = load_receipt_key(runtime.settings.privacy_receipt_key, runtime.settings.data_dir)
    assert verify(receipt, erasure["signature"], key)
    assert not verify({**receipt, "tenant_id": "x"}, erasure["signature"], key)
    # The rows are gone from the warehouse (not masked), the other tenant's alice is untouched, and
    # every derived table agrees with events again.
    assert _count(runtime, "events", tenant.id, "distinct_id = 'alice'") == 0
    assert _count(runtime, "events", other.id, "distinct_id = 'alice'") == 5
    assert _count(runtime, "events", tenant.id) == 20
    assert [m for m in check_derived(runtime.warehouse) if m.tenant_id in (tenant.id, other.id)] == []
    # No cached answer from before: the unique users of the views went down.
    after = _trends(tenant)
    assert after["cached"] is False
    assert sum(p["value"] for p in after["series"][0]["points"]) < sum(
        p["value"] for p in before["series"][0]["points"]
    )
    # The bus heard of it, with the receipt and its signature.
    published = [e for e in runtime.bus.published if e.type == "privacy.erasure.completed"]
    assert any(
        e.data["erasure_id"] == accepted["id"] and e.data["signature"] == erasure["signature"] for e in published
    )
    # Listed; and running it again is harmless.
    listed = tenant.get("/v1/privacy/erasures").json()["erasures"]
    assert accepted["id"] in [item["id"] for item in listed]
    assert Eraser(runtime, accepted["id"]).run()["status"] == "completed"


def test_erasure_by_person_properties(client, runtime, new_tenant) -> None:  # type: ignore[no-untyped-def]
    tenant = new_tenant()
    tenant.ingest(_events("carol", 4, email="carol@example.com") + _events("dan", 4, email="dan@example.com"))
    response = tenant.post(
        "/v1/privacy/erasures", params={"wait": "true"}, json={"properties": {"email": "dan@example.com"}}
    )
    assert response.status_code == 202, response.text
    erasure = tenant.get(f"/v1/privacy/erasures/{response.json()['id']}").json()
    assert erasure["status"] == "completed"
    assert erasure["receipt"]["subject"]["id_sha256"] == [subject_hash(tenant.id, "dan")]
    assert any(e.data.get("erasure_id") == erasure["id"] for e in runtime.bus.published)  # ?wait=true publishes too
    assert _count(runtime, "events", tenant.id, "distinct_id = 'dan'") == 0
    assert _count(runtime, "events", tenant.id, "distinct_id = 'carol'") == 4


def test_bad_input(client, runtime, new_tenant, admin_headers) -> None:  # type: ignore[no-untyped-def]
    tenant = new_tenant()
    tenant.ingest(_events("erin", 3))
    unknown = tenant.post("/v1/privacy/erasures", params={"wait": "true"}, json={"distinct_id": "nobody"})
    assert unknown.status_code == 202
    body = tenant.get(f"/v1/privacy/erasures/{unknown.json()['id']}").json()
    assert body["status"] == "completed"
    assert all(entry["rows_before"] == 0 and entry["rows_after"] == 0 for entry in body["receipt"]["stores"])
    for bad in ({}, {"distinct_id": "a", "properties": {"x": 1}}, {"distinct_id": ""}, {"id": "a"}, {"properties": {}}):
        response = tenant.post("/v1/privacy/erasures", json=bad)
        assert response.status_code == 422, (bad, response.text)
        assert "error" in response.json()
    reader = new_tenant(scopes=("read",))
    assert reader.post("/v1/privacy/erasures", json={"distinct_id": "erin"}).status_code == 403
    assert reader.get("/v1/privacy/erasures").status_code == 403
    assert client.post("/v1/privacy/erasures", json={"distinct_id": "erin"}, headers=admin_headers).status_code == 403
    # Another tenant cannot read this tenant's erasure, nor reach its person.
    stranger = new_tenant()
    assert stranger.get(f"/v1/privacy/erasures/{unknown.json()['id']}").status_code == 404
    response = stranger.post("/v1/privacy/erasures", params={"wait": "true"}, json={"distinct_id": "erin"})
    receipt = stranger.get(f"/v1/privacy/erasures/{response.json()['id']}").json()["receipt"]
    assert {e["store"]: e for e in receipt["stores"]}["events"]["rows_before"] == 0
    assert _count(runtime, "events", tenant.id, "distinct_id = 'erin'") == 3


def test_suppression_refuses_later_events(client, runtime, new_tenant) -> None:  # type: ignore[no-untyped-def]
    tenant = new_tenant()
    tenant.ingest(_events("frank", 3) + _events("gina", 2))
    response = tenant.post(
        "/v1/privacy/erasures", params={"wait": "true"}, json={"distinct_id": "frank", "suppress": True}
    )
    assert tenant.get(f"/v1/privacy/erasures/{response.json()['id']}").json()["status"] == "completed"
    later = tenant.ingest([{"event": "view", "distinct_id": "frank"}, {"event": "view", "distinct_id": "gina"}])
    assert later["accepted"] == 1
    assert [r["index"] for r in later["rejected"]] == [0] and "suppression" in later["rejected"][0]["reason"]
    assert _count(runtime, "events", tenant.id, "distinct_id = 'frank'") == 0
    # Without suppression the id may come back (a new fact after the request).
    response = tenant.post("/v1/privacy/erasures", params={"wait": "true"}, json={"distinct_id": "gina"})
    assert tenant.ingest({"event": "view", "distinct_id": "gina"})["accepted"] == 1
