from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import orjson
import pytest

from tests.support.factories import events


def test_single_array_and_ndjson_bodies(new_tenant):
    tenant = new_tenant()
    assert tenant.ingest({"event": "one", "distinct_id": "u1"})["accepted"] == 1
    assert tenant.ingest(events("many", 5))["accepted"] == 5
    ndjson = b"\n".join(orjson.dumps(e) for e in events("lines", 3)) + b"\n"
    response = tenant.post("/v1/events", content=ndjson, headers={"Content-Type": "application/x-ndjson"})
    assert response.json()["accepted"] == 3
    assert tenant.count() == 9
    assert tenant.count(event="many") == 5


def test_server_fills_timestamp_and_event_id(new_tenant, runtime):
    tenant = new_tenant()
    before = datetime.now(UTC) - timedelta(seconds=5)
    tenant.ingest({"event": "filled", "distinct_id": "u1"})
    row = runtime.warehouse.query(
        f"SELECT timestamp, toString(event_id) FROM {runtime.warehouse.table('events')} WHERE tenant_id = {{t:String}}",
        {"t": tenant.id},
    ).rows[0]
    assert row[0].replace(tzinfo=UTC) >= before
    assert uuid.UUID(row[1])


def test_rejected_events_are_kept_and_the_valid_ones_land(new_tenant):
    tenant = new_tenant()
    body = [
        {"event": "ok", "distinct_id": "u1"},
        {"event": "", "distinct_id": "u1"},
        {"event": "ok", "distinct_id": "u2", "timestamp": "yesterday"},
        {"event": "ok", "distinct_id": "u3", "properties": ["not", "an", "object"]},
        {"event": "ok", "distinct_id": "u4", "surprise": True},
        "not an object",
        {
            "event": "ok",
            "distinct_id": "u5",
            "timestamp": (datetime.now(UTC) + timedelta(days=2)).isoformat(),
        },
        {"event": "ok", "distinct_id": "u6", "event_id": "not-a-uuid"},
        {"event": "ok", "distinct_id": "u7"},
    ]
    result = tenant.ingest(body)
    assert result["accepted"] == 2
    assert [r["index"] for r in result["rejected"]] == [1, 2, 3, 4, 5, 6, 7]
    assert tenant.count() == 2
    stored = tenant.get("/v1/events/rejected").json()
    assert sorted(item["position"] for item in stored) == [1, 2, 3, 4, 5, 6, 7]
    reasons = {item["position"]: item["reason"] for item in stored}
    assert "event" in reasons[1] and "ISO 8601" in reasons[2] and "future" in reasons[6]
    assert orjson.loads(next(i["payload"] for i in stored if i["position"] == 4))["surprise"] is True


def test_malformed_ndjson_line_is_rejected_alone(new_tenant):
    tenant = new_tenant()
    body = b'{"event":"a","distinct_id":"u"}\n{broken\n{"event":"b","distinct_id":"u"}\n'
    response = tenant.post("/v1/events", content=body, headers={"Content-Type": "application/x-ndjson"})
    assert response.status_code == 200
    assert response.json()["accepted"] == 2
    assert response.json()["rejected"][0]["index"] == 1
    assert "malformed JSON" in response.json()["rejected"][0]["reason"]
    assert tenant.get("/v1/events/rejected").json()[0]["payload"] == "{broken"


def test_retried_batch_counts_once(new_tenant):
    tenant = new_tenant()
    batch = [dict(e, event_id=str(uuid.uuid4())) for e in events("retry", 50, users=5)]
    tenant.ingest(batch)
    tenant.ingest(batch)
    tenant.ingest(batch[:10] + batch[:10])
    assert tenant.count() == 50


def test_retry_with_other_spelling_of_the_same_ids_counts_once(new_tenant):
    tenant = new_tenant()
    batch = [dict(e, event_id=str(uuid.uuid4())) for e in events("spelling", 20)]
    tenant.ingest(batch)
    respelled = [dict(e, event_id=e["event_id"].upper().replace("-", "")) for e in batch]
    tenant.ingest(respelled)
    assert tenant.count() == 20


def test_same_event_id_in_two_tenants_is_two_events(new_tenant):
    a, b = new_tenant(), new_tenant()
    shared = {"event": "x", "distinct_id": "u", "event_id": str(uuid.uuid4())}
    a.ingest(shared)
    b.ingest(shared)
    assert a.count() == 1 and b.count() == 1


def test_tenant_isolation(new_tenant):
    a, b = new_tenant(), new_tenant()
    a.ingest([*events("secret", 7), {"event": "", "distinct_id": "a-only"}])
    b.ingest(events("secret", 3))
    assert a.count(event="secret") == 7
    assert b.count(event="secret") == 3
    assert len(a.get("/v1/events/rejected").json()) == 1
    assert b.get("/v1/events/rejected").json() == []


def test_tenant_id_in_the_body_is_not_a_field(new_tenant):
    a, b = new_tenant(), new_tenant()
    result = a.ingest([{"event": "x", "distinct_id": "u", "tenant_id": b.id}])
    assert result["accepted"] == 0
    assert "unknown field" in result["rejected"][0]["reason"]
    assert b.count() == 0


def test_count_time_range(new_tenant):
    tenant = new_tenant()
    start = datetime(2026, 3, 1, tzinfo=UTC)
    tenant.ingest(events("ranged", 10, start=start, step=timedelta(hours=1)))
    assert tenant.count(**{"from": "2026-03-01T02:00:00Z", "to": "2026-03-01T05:00:00Z"}) == 3


def test_concurrent_requests_share_inserts(new_tenant):
    from concurrent.futures import ThreadPoolExecutor

    tenant = new_tenant()
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda i: tenant.ingest(events(f"c{i % 2}", 100, users=10)), range(16)))
    assert sum(r["accepted"] for r in results) == 1600
    assert tenant.count() == 1600


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        ({"event": "x", "distinct_id": "u", "properties": {f"p{i}": i for i in range(300)}}, "more than"),
        ({"event": "x", "distinct_id": "u", "properties": {"big": "x" * 10_000}}, "larger than"),
        ({"event": "x" * 500, "distinct_id": "u"}, "longer than"),
        ({"event": "x", "distinct_id": "u", "timestamp": "2001-01-01T00:00:00Z"}, "older than"),
    ],
)
def test_event_limits_reject_with_reason(new_tenant, event, reason):
    result = new_tenant().ingest([event])
    assert result["accepted"] == 0
    assert reason in result["rejected"][0]["reason"]
