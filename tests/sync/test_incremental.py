"""Incremental sync: new rows, updates and soft deletes reach the warehouse on the next run, each
run is a job row; the events target goes through the one validation path."""

from __future__ import annotations

from decimal import Decimal

import pytest

from analytics_engine.cache import data_version
from analytics_engine.ingest.consistency import check_derived
from analytics_engine.sync.spec import SourceSpec
from tests.sync.conftest import DSN, donations_table, table_source, unique

pytestmark = pytest.mark.postgres


def live(service, table: str, where: str = "1") -> list[tuple]:
    warehouse = service.runtime.warehouse
    return warehouse.query(
        f"SELECT id, amount, note, deleted_at IS NOT NULL FROM {warehouse.table(table)} FINAL WHERE {where} ORDER BY id"
    ).rows


def test_updates_inserts_and_soft_deletes_reach_the_warehouse(pg, service):
    spec = table_source(unique("inc"), donations_table(pg, rows=500))
    service.registry.create(spec)
    assert service.run(spec.name, "backfill").state == "succeeded"
    table = spec.target.table

    pg.execute("UPDATE {s}.donations SET amount = 999.99, note = 'changed', updated_at = now() WHERE id IN (3, 4)")
    pg.execute("UPDATE {s}.donations SET deleted_at = now(), updated_at = now() WHERE id = 5")
    pg.execute(
        "INSERT INTO {s}.donations VALUES (501, 'org-0', 'u-1', 1.50, 'new', now(), now(), NULL), "
        "(502, 'org-9', 'u-2', 2.50, 'new tenant', now(), now(), NULL)"
    )
    version = data_version(service.runtime.cache, "org-9")
    job = service.run(spec.name, "sync")
    assert job.state == "succeeded", job.error
    assert data_version(service.runtime.cache, "org-9") != version  # no answer cached before is served
    assert job.kind == "sync.run" and job.source == spec.name
    assert job.result["rows"] >= 5  # the changed rows (plus whatever lies in the overlap window)

    changed = [(3, Decimal("999.99"), "changed", 0), (4, Decimal("999.99"), "changed", 0)]
    assert live(service, table, "id IN (3, 4)") == changed
    assert live(service, table, "id = 5") == []  # soft-deleted: FINAL hides it
    assert [row[0] for row in live(service, table, "id > 500")] == [501, 502]
    report = service.verify(spec.name)
    assert report["match"], report
    assert {t["tenant_id"] for t in report["tenants"]} == {"org-0", "org-1", "org-2", "org-9"}
    # argMax reads give the same answer as FINAL.
    warehouse = service.runtime.warehouse
    latest = warehouse.query(
        f"SELECT argMax(note, _version), argMax(_is_deleted, _version) FROM {warehouse.table(table)} "
        "WHERE tenant_id = {t:String} AND id = {id:Int64} GROUP BY id",
        {"t": "org-1", "id": 4},
    ).rows
    assert latest == [("changed", 0)]

    # Nothing changed: the next run copies only the overlap window and changes nothing.
    again = service.run(spec.name, "sync")
    assert again.state == "succeeded"
    assert service.verify(spec.name)["match"]


def test_rows_committed_late_with_an_older_timestamp_are_caught_by_the_overlap(pg, service):
    spec = table_source(unique("late"), donations_table(pg, rows=100))
    service.registry.create(spec)
    assert service.run(spec.name, "backfill").state == "succeeded"
    # A row whose updated_at is behind the checkpoint (a transaction that committed late).
    pg.execute(
        "INSERT INTO {s}.donations SELECT 1000, 'org-0', 'u-late', 1, 'late', now(), max(updated_at) - "
        "interval '5 seconds', NULL FROM {s}.donations"
    )
    assert service.run(spec.name, "sync").state == "succeeded"
    assert [row[0] for row in live(service, spec.target.table, "id = 1000")] == [1000]


def test_id_cursor_append_only_source_with_a_tenant_map(pg, service):
    table = donations_table(pg, rows=300)
    spec = table_source(
        unique("ids"),
        table,
        cursor="id",
        soft_delete_column=None,
        tenant_map={"org-0": "tn_zero", "org-1": "tn_one"},  # org-2 rows are not copied
    )
    service.registry.create(spec)
    assert service.run(spec.name, "sync").state == "succeeded"  # a first sync is a backfill
    pg.execute("INSERT INTO {s}.donations VALUES (301, 'org-1', 'u-1', 1, 'x', now(), now(), NULL)")
    job = service.run(spec.name, "sync")
    assert job.result["rows"] == 1
    report = service.verify(spec.name)
    assert report["match"], report
    assert {t["tenant_id"]: t["warehouse_rows"] for t in report["tenants"]} == {"tn_zero": 100, "tn_one": 101}


def test_events_target_through_validation(pg, service):
    pg.execute(
        """CREATE TABLE {s}.sessions (id int PRIMARY KEY, org text NOT NULL, volunteer text, hours numeric(5,1),
           kind text, started_at timestamptz NOT NULL, updated_at timestamptz NOT NULL, removed boolean)"""
    )
    pg.execute(
        """INSERT INTO {s}.sessions SELECT g, 'tn_events', 'v-' || mod(g, 7), mod(g, 5) + 0.5,
           CASE WHEN g % 2 = 0 THEN 'mentoring' ELSE 'tutoring' END, now() - g * interval '1 hour',
           now() - interval '1 minute' + g * interval '1 ms', false FROM generate_series(1, 250) g"""
    )
    pg.execute("UPDATE {s}.sessions SET volunteer = NULL WHERE id = 250")  # invalid: no distinct_id
    pg.execute("UPDATE {s}.sessions SET removed = true WHERE id = 3")  # deleted before the backfill: no event
    spec = SourceSpec.model_validate(
        {
            "name": unique("sessions"),
            "dsn": DSN,
            "table": pg.table("sessions"),
            "tenant_column": "org",
            "cursor": "updated_at",
            "soft_delete_column": "removed",
            "target": {
                "kind": "events",
                "event_name": "volunteer_session",
                "distinct_id": "volunteer",
                "timestamp": "started_at",
                "properties": ["hours", "kind"],
            },
        }
    )
    service.registry.create(spec)
    job = service.run(spec.name, "backfill")
    assert job.state == "succeeded", job.error
    assert job.result["events_written"] == 248 and job.result["events_rejected"] == 1
    warehouse = service.runtime.warehouse
    events = warehouse.table("events")

    def count() -> int:
        return warehouse.query(
            f"SELECT count() FROM {events} WHERE tenant_id = 'tn_events' AND event = 'volunteer_session'"
        ).scalar()

    assert count() == 248
    hours = warehouse.query(
        f"SELECT sum(properties.hours::Float64) FROM {events} WHERE tenant_id = 'tn_events'"
    ).scalar()
    assert hours == float(pg.rows("SELECT sum(hours) FROM {s}.sessions WHERE id < 250 AND id <> 3")[0][0])
    rejected = warehouse.query(
        f"SELECT source, reason FROM {warehouse.table('rejected_events')} WHERE tenant_id = 'tn_events'"
    ).rows
    assert rejected == [("sync", "'distinct_id' is required and must be a non-empty string")]

    # An update re-reads the row (no duplicate event); a soft delete removes the event.
    pg.execute("UPDATE {s}.sessions SET hours = 9, updated_at = now() WHERE id = 1")
    pg.execute("UPDATE {s}.sessions SET removed = true, updated_at = now() WHERE id = 2")
    version = data_version(service.runtime.cache, "tn_events")
    job = service.run(spec.name, "sync")
    assert job.state == "succeeded", job.error
    assert job.result["events_deleted"] == 1
    assert count() == 247
    # The delete reaches the rollups and per-person tables, and no answer cached before is served.
    assert [m.describe() for m in check_derived(warehouse) if m.tenant_id == "tn_events"] == []
    assert data_version(service.runtime.cache, "tn_events") != version


def test_hard_deletes_are_reconciled(pg, service):
    spec = table_source(unique("hard"), donations_table(pg, rows=300))
    service.registry.create(spec)
    assert service.run(spec.name, "backfill").state == "succeeded"
    pg.execute("DELETE FROM {s}.donations WHERE id IN (10, 11, 12)")
    # An incremental sync cannot see a row that is gone...
    assert service.run(spec.name, "sync").state == "succeeded"
    assert not service.verify(spec.name)["match"]
    # ...reconciliation compares keys and tombstones the missing ones.
    job = service.run(spec.name, "reconcile")
    assert job.state == "succeeded", job.error
    assert job.kind == "sync.reconcile"
    assert job.result["source_keys"] == 297 and job.result["tombstoned"] == 3
    assert live(service, spec.target.table, "id IN (10, 11, 12)") == []
    assert service.verify(spec.name)["match"]
    # A key that comes back is live again on the next sync; reconciling again changes nothing.
    pg.execute("INSERT INTO {s}.donations VALUES (11, 'org-2', 'u-11', 1, 'back', now(), now(), NULL)")
    assert service.run(spec.name, "sync").state == "succeeded"
    assert [row[0] for row in live(service, spec.target.table, "id = 11")] == [11]
    assert service.run(spec.name, "reconcile").result["tombstoned"] == 0
    assert service.verify(spec.name)["match"]


def test_a_column_added_to_the_source_is_added_to_the_table(pg, service):
    spec = table_source(unique("newcol"), donations_table(pg, rows=50))
    service.registry.create(spec)
    assert service.run(spec.name, "backfill").state == "succeeded"
    pg.execute("ALTER TABLE {s}.donations ADD COLUMN channel text NOT NULL DEFAULT 'web'")
    pg.execute("UPDATE {s}.donations SET channel = 'app', updated_at = now() WHERE id = 1")
    for _ in range(2):  # the second run finds the column already there
        job = service.run(spec.name, "sync")
        assert job.state == "succeeded", job.error
    warehouse = service.runtime.warehouse
    rows = warehouse.query(
        f"SELECT id, channel, toTypeName(channel) FROM {warehouse.table(spec.target.table)} FINAL "
        "WHERE id IN (1, 2) ORDER BY id"
    ).rows
    # Nullable: rows copied before the column existed read NULL until they change (here the overlap
    # window re-read row 2 as well).
    assert rows == [(1, "app", "Nullable(String)"), (2, "web", "Nullable(String)")]
    pg.execute("ALTER TABLE {s}.donations ALTER COLUMN amount TYPE float8")
    changed = service.run(spec.name, "sync")
    assert changed.state == "failed"
    assert "column amount is now Nullable(Float64) in the source but Nullable(Decimal(12, 2))" in changed.error
