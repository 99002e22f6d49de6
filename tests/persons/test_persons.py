"""Persons: kept current by the warehouse (materialized views), read through the API."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

from analytics_engine.tenants.schemas import TenantCreate
from analytics_engine.warehouse.migrations import migrate

START = datetime.now(UTC).replace(microsecond=0) - timedelta(days=3)


def at(hours: int) -> str:
    return (START + timedelta(hours=hours)).isoformat()


def test_person_first_last_seen_and_latest_properties(new_tenant) -> None:  # type: ignore[no-untyped-def]
    tenant = new_tenant()
    tenant.ingest(
        [
            {"event": "signup", "distinct_id": "ann", "timestamp": at(0), "properties": {"plan": "free", "age": 30}},
            {"event": "upgrade", "distinct_id": "ann", "timestamp": at(5), "properties": {"plan": "pro"}},
            # arrives later but happened earlier: must not win
            {"event": "pageview", "distinct_id": "ann", "timestamp": at(2), "properties": {"plan": "trial"}},
            {"event": "pageview", "distinct_id": "bob", "timestamp": at(1), "properties": {"country": "NO"}},
        ]
    )
    tenant.ingest([{"event": "x", "distinct_id": "ann", "timestamp": at(3), "properties": {"flags": {"beta": True}}}])
    ann = tenant.get("/v1/persons/ann")
    assert ann.status_code == 200, ann.text
    body = ann.json()
    assert body["distinct_id"] == "ann" and body["event_count"] == 4
    assert body["first_seen"].startswith(at(0)[:19]) and body["last_seen"].startswith(at(5)[:19])
    assert body["properties"] == {"plan": "pro", "age": 30, "flags": {"beta": True}}

    assert tenant.get("/v1/persons/nobody").status_code == 404
    page = tenant.get("/v1/persons").json()
    assert [p["distinct_id"] for p in page["results"]] == ["ann", "bob"] and page["has_more"] is False
    assert tenant.get("/v1/persons", params={"limit": 1}).json()["has_more"] is True
    second = tenant.get("/v1/persons", params={"limit": 1, "offset": 1}).json()
    assert [p["distinct_id"] for p in second["results"]] == ["bob"]
    assert [p["distinct_id"] for p in tenant.get("/v1/persons", params={"property": "plan:pro"}).json()["results"]] == [
        "ann"
    ]
    assert tenant.get("/v1/persons", params={"property": "plan:trial"}).json()["results"] == []
    where = json.dumps([{"key": "age", "operator": "gte", "value": 18}])
    assert [p["distinct_id"] for p in tenant.get("/v1/persons", params={"where": where}).json()["results"]] == ["ann"]
    where = json.dumps([{"key": "plan", "operator": "is_not_set"}])
    assert [p["distinct_id"] for p in tenant.get("/v1/persons", params={"where": where}).json()["results"]] == ["bob"]
    assert [p["distinct_id"] for p in tenant.get("/v1/persons", params={"search": "BO"}).json()["results"]] == ["bob"]
    after = (START + timedelta(hours=4)).isoformat()
    assert [p["distinct_id"] for p in tenant.get("/v1/persons", params={"seen_after": after}).json()["results"]] == [
        "ann"
    ]
    bad = tenant.get("/v1/persons", params={"where": '[{"key": "a b"}]'})
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_input"
    assert tenant.get("/v1/persons", params={"property": "novalue"}).status_code == 422


def test_persons_are_tenant_scoped_and_cohort_filterable(new_tenant) -> None:  # type: ignore[no-untyped-def]
    a, b = new_tenant(), new_tenant()
    a.ingest([{"event": "e", "distinct_id": "shared", "properties": {"who": "a"}}, {"event": "e", "distinct_id": "x"}])
    b.ingest([{"event": "e", "distinct_id": "shared", "properties": {"who": "b"}}])
    assert a.get("/v1/persons/shared").json()["properties"] == {"who": "a"}
    assert b.get("/v1/persons/shared").json()["properties"] == {"who": "b"}
    assert b.get("/v1/persons/x").status_code == 404
    assert [p["distinct_id"] for p in b.get("/v1/persons").json()["results"]] == ["shared"]
    cohort = a.post("/v1/cohorts", json={"name": "s", "kind": "static", "distinct_ids": ["x", "ghost"]}).json()
    listed = a.get("/v1/persons", params={"cohort_id": cohort["id"]}).json()
    assert [p["distinct_id"] for p in listed["results"]] == ["x"]


def test_migration_backfills_persons_from_existing_events(runtime) -> None:  # type: ignore[no-untyped-def]
    """Events stored before the persons tables existed are folded in by the migration."""
    warehouse = runtime.warehouse
    db = warehouse.database
    tenant = runtime.tenants.create(TenantCreate(name=f"bf-{uuid.uuid4().hex[:8]}"))
    for name in (
        "persons_mv",
        "person_properties_mv",
        "persons",
        "person_properties",
        "cohort_users",
        "cohort_analysis",
    ):
        warehouse.command(f"DROP TABLE IF EXISTS `{db}`.`{name}`")
    warehouse.command(f"DELETE FROM `{db}`.schema_migrations WHERE id = '0700_cohorts'")
    warehouse.command(
        f"INSERT INTO `{db}`.events (tenant_id, event, distinct_id, timestamp, event_id, properties) VALUES "
        "({t:String}, 'e', 'old', '2026-01-01 00:00:00', generateUUIDv4(), '{\"plan\": \"a\"}'), "
        "({t:String}, 'e', 'old', '2026-01-02 00:00:00', generateUUIDv4(), '{\"plan\": \"b\"}')",
        {"t": tenant.id},
    )
    assert "0700_cohorts" in migrate(warehouse)
    from analytics_engine.persons.service import PersonService

    person = PersonService(runtime).get(tenant.id, "old")
    assert person.properties == {"plan": "b"} and person.event_count == 2
    assert person.first_seen.date().isoformat() == "2026-01-01"


def test_a_persons_recent_events(new_tenant) -> None:  # type: ignore[no-untyped-def]
    tenant, other = new_tenant(), new_tenant()
    tenant.ingest(
        [
            {"event": "signup", "distinct_id": "ann", "timestamp": at(0), "properties": {"plan": "free"}},
            {"event": "purchase", "distinct_id": "ann", "timestamp": at(2), "properties": {"amount": 9.5}},
            {"event": "pageview", "distinct_id": "bob", "timestamp": at(1)},
        ]
    )
    other.ingest([{"event": "secret", "distinct_id": "ann", "timestamp": at(3)}])
    events = tenant.get("/v1/persons/ann/events").json()
    assert [e["event"] for e in events] == ["purchase", "signup"]
    assert events[0]["properties"] == {"amount": 9.5} and events[0]["timestamp"].startswith(at(2)[:19])
    assert [e["event"] for e in tenant.get("/v1/persons/ann/events", params={"limit": 1}).json()] == ["purchase"]
    missing = tenant.get("/v1/persons/nobody/events")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
