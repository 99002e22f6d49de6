"""Backfill into a warehouse table: exact copy, chunked, resumable after a crash between a chunk's
write and its checkpoint, progress on the job row."""

from __future__ import annotations

import pytest

from analytics_engine.sync.service import SyncService
from tests.sync.conftest import donations_table, table_source, unique

pytestmark = pytest.mark.postgres


class Crash(BaseException):
    """Stands for SIGKILL: not an Exception, so nothing in the run catches or cleans up after it."""


def stored_rows(service: SyncService, table: str) -> int:
    warehouse = service.runtime.warehouse
    return warehouse.query(f"SELECT count() FROM {warehouse.table(table)}").scalar()


def test_backfill_copies_every_row_in_chunks(pg, service):
    spec = table_source(unique("don"), donations_table(pg, rows=1050))
    service.registry.create(spec)
    job = service.run(spec.name, "backfill")
    assert job.state == "succeeded", job.error
    assert job.rows_done == 1050 and job.rows_total == 1050 and job.progress == 1.0
    assert job.result["chunks"] == 11  # 100 rows each (setting), the last one 50
    report = service.verify(spec.name)
    assert report["match"], report
    assert {t["tenant_id"]: t["warehouse_rows"] for t in report["tenants"]} == {
        "org-0": 350,
        "org-1": 350,
        "org-2": 350,
    }
    assert stored_rows(service, spec.target.table) == 1050
    checkpoint = service.registry.checkpoint(spec.name)
    assert checkpoint.backfill_done and checkpoint.rows_copied == 1050 and not checkpoint.in_doubt
    # Values survive the trip (numeric, timestamptz in UTC, text).
    table = service.runtime.warehouse.table(spec.target.table)
    row = service.runtime.warehouse.query(
        f"SELECT tenant_id, amount, note, toString(updated_at) FROM {table} FINAL WHERE id = 7"
    ).rows[0]
    source = pg.rows(
        "SELECT org_id, amount, note, to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') "
        "FROM {s}.donations WHERE id = 7"
    )[0]
    assert row == source


@pytest.mark.parametrize("crash_after_chunk", [0, 4])
def test_crash_between_write_and_checkpoint_resumes_exactly(pg, service, crash_after_chunk):
    spec = table_source(unique("crash"), donations_table(pg, rows=1000))
    service.registry.create(spec)

    def crash(chunk: int) -> None:
        if chunk == crash_after_chunk:
            raise Crash

    job = service.start(spec.name, "backfill")
    with pytest.raises(Crash):
        service.execute(job.id, after_write=crash)
    checkpoint = service.registry.checkpoint(spec.name)
    assert checkpoint.in_doubt and checkpoint.rows_copied == crash_after_chunk * 100
    # The dead run's chunk is in the warehouse but not in the checkpoint.
    assert stored_rows(service, spec.target.table) == (crash_after_chunk + 1) * 100
    assert service.runtime.jobs.get(job.id).state == "running"

    resumed = service.run(spec.name, "backfill")
    assert resumed.state == "succeeded", resumed.error
    assert resumed.result["resumed_after_crash"] is True
    assert resumed.result["rows"] == 1000 - crash_after_chunk * 100
    assert service.runtime.jobs.get(job.id).state == "failed"  # the dead run's job says so
    assert "stopped before it finished" in service.runtime.jobs.get(job.id).error
    report = service.verify(spec.name)
    assert report["match"], report
    assert stored_rows(service, spec.target.table) == 1000  # no duplicate even before merges


def test_cancel_stops_at_a_checkpoint(pg, service):
    spec = table_source(unique("cancel"), donations_table(pg, rows=1000))
    service.registry.create(spec)
    job = service.start(spec.name, "backfill")

    def cancel_after_third(chunk: int) -> None:
        if chunk == 2:
            service.runtime.jobs.cancel(job.id)

    finished = service.execute(job.id, after_write=cancel_after_third)
    assert finished.state == "cancelled"
    checkpoint = service.registry.checkpoint(spec.name)
    assert checkpoint.rows_copied == 300 and not checkpoint.backfill_done
    assert stored_rows(service, spec.target.table) == 300
    assert service.run(spec.name, "backfill").state == "succeeded"
    assert service.verify(spec.name)["match"]


def test_restart_copies_everything_again(pg, service):
    spec = table_source(unique("restart"), donations_table(pg, rows=300))
    service.registry.create(spec)
    assert service.run(spec.name, "backfill").state == "succeeded"
    again = service.run(spec.name, "backfill", restart=True)
    assert again.state == "succeeded" and again.result["rows"] == 300
    assert stored_rows(service, spec.target.table) == 300


def test_one_run_per_source(pg, service):
    spec = table_source(unique("busy"), donations_table(pg, rows=200))
    service.registry.create(spec)
    service.start(spec.name, "backfill")
    with pytest.raises(Exception, match="already being copied"):
        service.start(spec.name, "sync")


def test_a_backfill_asked_for_during_the_first_sync_gets_that_sync(pg, service):
    """The first sync of a source is its backfill: asking for a backfill meanwhile (what the docs'
    walk-through does right after declaring a source) answers that job instead of a 409; once the
    backfill is done, a second copy while a sync runs is refused as before."""
    spec = table_source(unique("first"), donations_table(pg, rows=200))
    service.registry.create(spec)
    first = service.start(spec.name, "sync")
    assert service.start(spec.name, "backfill").id == first.id
    with pytest.raises(Exception, match="already being copied"):
        service.start(spec.name, "backfill", restart=True)
    assert service.execute(first.id).state == "succeeded"
    assert service.registry.checkpoint(spec.name).backfill_done
    again = service.start(spec.name, "sync")
    with pytest.raises(Exception, match="already being copied"):
        service.start(spec.name, "backfill")
    assert service.execute(again.id).state == "succeeded"


def test_rows_changed_during_the_first_copy_are_caught_by_the_next_sync(pg, service):
    """The first copy runs in primary-key order; sync then starts at the high-water mark taken when
    the copy began, so a row changed behind the copy is read again."""
    spec = table_source(unique("during"), donations_table(pg, rows=500))
    service.registry.create(spec)

    def change_a_copied_row(chunk: int) -> None:
        if chunk == 2:  # rows 1-300 are copied by now
            pg.execute("UPDATE {s}.donations SET note = 'changed during', updated_at = now() WHERE id = 5")
            pg.execute("UPDATE {s}.donations SET deleted_at = now(), updated_at = now() WHERE id = 6")

    job = service.start(spec.name, "backfill")
    assert service.execute(job.id, after_write=change_a_copied_row).state == "succeeded"
    checkpoint = service.registry.checkpoint(spec.name)
    assert checkpoint.backfill_done and checkpoint.cursor == checkpoint.high_water
    warehouse = service.runtime.warehouse
    table = warehouse.table(spec.target.table)
    assert warehouse.query(f"SELECT note FROM {table} FINAL WHERE id = 5").scalar() == "note 5"  # copied before
    assert service.run(spec.name, "sync").state == "succeeded"
    assert warehouse.query(f"SELECT note FROM {table} FINAL WHERE id = 5").scalar() == "changed during"
    assert warehouse.query(f"SELECT count() FROM {table} FINAL WHERE id = 6").scalar() == 0
    assert service.verify(spec.name)["match"]
