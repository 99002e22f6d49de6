from __future__ import annotations

import pytest

from analytics_engine.errors import QueryTimeout, WarehouseError
from analytics_engine.warehouse.migrations import migrate, split_statements
from analytics_engine.warehouse.scoped import TenantScope


def test_migrations_are_recorded_and_idempotent(runtime):
    assert migrate(runtime.warehouse) == []
    ids = [
        r[0]
        for r in runtime.warehouse.query(
            f"SELECT id FROM {runtime.warehouse.table('schema_migrations')} ORDER BY id"
        ).rows
    ]
    assert "0001_events" in ids
    assert len(ids) == len(set(ids))


def test_events_and_rollups_have_no_ttl(runtime):
    """The hot tier is emptied by the tiering job (lifecycle/), never by a TTL that drops rows."""
    migrate(runtime.warehouse, hot_retention_months=7)
    for table in ("events", "metrics_daily", "metrics_monthly", "person_weeks"):
        ddl = runtime.warehouse.query(
            "SELECT engine_full FROM system.tables WHERE database = {db:String} AND name = {t:String}",
            {"db": runtime.warehouse.database, "t": table},
        ).scalar()
        assert " TTL " not in ddl, table


def test_split_statements_keeps_multiline_sql():
    assert split_statements("-- c\nCREATE TABLE a\n(x Int8);\n\nSELECT 1;\n") == [
        "CREATE TABLE a\n(x Int8)",
        "SELECT 1",
    ]


def test_scope_refuses_sql_without_the_tenant_filter(runtime):
    scope = TenantScope(runtime.warehouse, "tn_a")
    with pytest.raises(ValueError, match="tenant_id"):
        scope.query("SELECT count() FROM events")
    with pytest.raises(ValueError, match="another tenant"):
        scope.query("SELECT {tenant_id:String}", {"tenant_id": "tn_b"})
    assert scope.query("SELECT {tenant_id:String}").scalar() == "tn_a"


def test_max_rows_reports_truncation(runtime):
    result = runtime.warehouse.query("SELECT number FROM numbers(10)", max_rows=3)
    assert len(result.rows) == 3 and result.truncated
    assert not runtime.warehouse.query("SELECT number FROM numbers(3)", max_rows=3).truncated


def test_timeout_becomes_query_timeout(runtime):
    with pytest.raises(QueryTimeout):
        runtime.warehouse.query(
            "SELECT count() FROM numbers(100000000000)",
            timeout=0.2,
            settings={"timeout_overflow_mode": "throw"},
        )


def test_driver_errors_are_translated(runtime):
    with pytest.raises(WarehouseError) as caught:
        runtime.warehouse.query("SELECT * FROM no_such_table")
    assert "Traceback" not in caught.value.message


def test_stream_rows(runtime):
    assert sum(1 for _ in runtime.warehouse.stream_rows("SELECT number FROM numbers(50000)")) == 50000
