"""A source that cannot be read fails its job with a plain reason and leaves nothing behind; a run
that fails half-way leaves exactly its checkpointed rows."""

from __future__ import annotations

import pytest

from analytics_engine.sync.spec import SourceSpec
from tests.sync.conftest import donations_table, table_source, unique

pytestmark = pytest.mark.postgres


def table_exists(service, name: str) -> bool:
    warehouse = service.runtime.warehouse
    return bool(
        warehouse.query(
            "SELECT count() FROM system.tables WHERE database = {db:String} AND name = {n:String}",
            {"db": warehouse.database, "n": name},
        ).scalar()
    )


def failed_run(service, spec: SourceSpec):
    service.registry.create(spec)
    job = service.run(spec.name, "backfill")
    assert job.state == "failed"
    assert job.finished_at is not None
    assert service.runtime.jobs.get(job.id).error == job.error
    assert not table_exists(service, spec.target.table)
    checkpoint = service.registry.checkpoint(spec.name)
    assert checkpoint.cursor is None and checkpoint.rows_copied == 0
    return job


def test_bad_dsn(pg, service):
    spec = table_source(unique("baddsn"), "public.whatever", dsn="postgresql://postgres:secret@127.0.0.1:1/test")
    job = failed_run(service, spec)
    assert "cannot connect to PostgreSQL at 127.0.0.1:1/test" in job.error
    assert "secret" not in job.error  # the password never shows


def test_missing_table(pg, service):
    job = failed_run(service, table_source(unique("notable"), pg.table("nope")))
    assert f"table {pg.table('nope')} does not exist" in job.error


def test_missing_column(pg, service):
    spec = table_source(unique("nocol"), donations_table(pg, rows=10), cursor="modified_at")
    job = failed_run(service, spec)
    assert "column(s) modified_at missing from table" in job.error
    assert "updated_at" in job.error  # lists what the table has


def test_broken_query(pg, service):
    spec = table_source(unique("badq"), None, query="SELECT id, org_id FROM nowhere_at_all")
    job = failed_run(service, spec)
    assert "reading the query failed" in job.error and "nowhere_at_all" in job.error


def test_query_sources_are_read_only(pg, service):
    donations_table(pg, rows=10)
    pg.execute("CREATE SEQUENCE {s}.counter")
    query = f"SELECT *, nextval('{pg.table('counter')}') AS n FROM {pg.table('donations')}"
    job = failed_run(service, table_source(unique("writes"), None, query=query))
    assert "read-only transaction" in job.error
    query = f"WITH gone AS (DELETE FROM {pg.table('donations')} RETURNING *) SELECT * FROM gone"
    assert "data-modifying" in failed_run(service, table_source(unique("deletes"), None, query=query)).error
    assert pg.rows("SELECT count(*) FROM {s}.donations")[0][0] == 10


def test_failure_half_way_leaves_exactly_the_checkpointed_rows(pg, service):
    donations_table(pg, rows=500)
    # Row 350 cannot be stored: ClickHouse has no infinite timestamps; the fourth chunk fails.
    pg.execute("UPDATE {s}.donations SET created_at = 'infinity' WHERE id = 350")
    spec = table_source(unique("half"), pg.table("donations"), cursor="id", soft_delete_column=None)
    service.registry.create(spec)
    job = service.run(spec.name, "backfill")
    assert job.state == "failed" and job.error.startswith("Warehouse error")
    checkpoint = service.registry.checkpoint(spec.name)
    warehouse = service.runtime.warehouse
    stored = warehouse.query(f"SELECT count() FROM {warehouse.table(spec.target.table)}").scalar()
    assert stored == checkpoint.rows_copied == 300 and not checkpoint.in_doubt
