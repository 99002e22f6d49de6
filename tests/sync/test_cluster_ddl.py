"""Sync's target and staging tables in both warehouse modes (issue 26): golden files of the DDL for
one node and for a cluster (ANALYTICS_CLICKHOUSE_CLUSTER), made by the migrations' own rewrite
(warehouse/cluster.py), the statements sync runs on them on a cluster, and the single-node DDL run
in chDB. The sync runs against PostgreSQL (tests/sync/test_backfill.py ...) use the same DDL.

Regenerate after a deliberate change with `AE_UPDATE_GOLDEN=1 pytest tests/sync/test_cluster_ddl.py`."""

from __future__ import annotations

import os
import re
import uuid
from pathlib import Path

from psycopg import sql

from analytics_engine.sync.postgres import SourceColumn
from analytics_engine.sync.spec import SourceSpec
from analytics_engine.sync.targets import KEYS_SUFFIX, TableWriter
from analytics_engine.warehouse import Warehouse
from analytics_engine.warehouse.cluster import cluster_command, cluster_tables

GOLDEN = Path(__file__).parent / "golden"
CLUSTER = "analytics_cluster"
SERVER = "http://127.0.0.1:1"  # never connected: DDL is text until run


def _spec() -> SourceSpec:
    return SourceSpec.model_validate(
        {
            "name": "donations",
            "dsn": "postgresql://postgres@127.0.0.1:5432/test",
            "table": "donations",
            "tenant_column": "org_id",
            "cursor": "updated_at",
            "soft_delete_column": "deleted_at",
            "target": {"kind": "table", "table": "sync_donations"},
        }
    )


def _columns() -> list[SourceColumn]:
    def column(name: str, pg_type: str, ch_type: str, nullable: bool = False) -> SourceColumn:
        return SourceColumn(name, pg_type, nullable, ch_type, sql.Identifier(name))

    return [
        column("tenant_id", "text", "String"),
        column("id", "int8", "Int64"),
        column("amount", "numeric", "Decimal(12, 2)", nullable=True),
        column("note", "text", "String", nullable=True),
        column("updated_at", "timestamptz", "DateTime64(6, 'UTC')"),
        column("deleted_at", "timestamptz", "DateTime64(6, 'UTC')", nullable=True),
    ]


def _writer(warehouse: Warehouse) -> TableWriter:
    return TableWriter(warehouse, _spec(), _columns())


def _script(writer: TableWriter) -> str:
    keys = writer.keys_ddl(f"{writer.name}{KEYS_SUFFIX}", [("tenant_id", "String"), ("id", "Int64")])
    return "\n\n".join(s + ";" for s in [*writer.ddl(), *keys]) + "\n"


def _golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("AE_UPDATE_GOLDEN") == "1":
        path.write_text(text)
    assert path.exists(), f"{path} missing: run with AE_UPDATE_GOLDEN=1"
    assert text == path.read_text(), f"{name} differs from the generated DDL (AE_UPDATE_GOLDEN=1 to accept)"


def test_single_node_sync_ddl_matches_its_golden_file():
    _golden("sync_ddl_single_node.sql", _script(_writer(Warehouse("chdb:///tmp/nowhere", "analytics"))))


def test_cluster_sync_ddl_matches_its_golden_file():
    _golden("sync_ddl_cluster.sql", _script(_writer(Warehouse(SERVER, "analytics", cluster=CLUSTER))))


def test_cluster_sync_tables_are_replicated_behind_distributed_tables_sharded_by_tenant():
    writer = _writer(Warehouse(SERVER, "analytics", cluster=CLUSTER))
    for statements, table in (
        (writer.ddl(), "sync_donations"),
        (
            writer.keys_ddl(f"sync_donations{KEYS_SUFFIX}", [("tenant_id", "String"), ("id", "Int64")]),
            "sync_donations__sync_keys",
        ),
    ):
        local, front = statements
        assert local.startswith("CREATE TABLE ") and f"`analytics`.{table}_local ON CLUSTER '{CLUSTER}'" in local
        assert re.search(
            r"ENGINE = Replicated\w*MergeTree\('/clickhouse/tables/\{shard\}/\{database\}/\{table\}', '\{replica\}'",
            local,
        )
        # A rewritten chunk (after a crash) must not be dropped as a duplicate block.
        assert "replicated_deduplication_window = 0" in local and "non_replicated" not in local
        assert f"`analytics`.{table} ON CLUSTER '{CLUSTER}' AS `analytics`.{table}_local" in front
        assert f"ENGINE = Distributed('{CLUSTER}', 'analytics', '{table}_local', cityHash64(tenant_id))" in front
    local, front = writer.ddl()
    assert "ReplicatedReplacingMergeTree(" in local and "'{replica}', _version, _is_deleted)" in local
    # The ownership check reads the comment of the table sync names: the Distributed one.
    assert front.endswith("COMMENT 'analytics-engine sync source donations'")


def test_sync_statements_reach_the_shard_local_tables_on_a_cluster():
    sharded = frozenset({"sync_donations", "sync_donations__sync_keys"})
    tables = cluster_tables() | sharded

    def rewrite(statement: str) -> list[str]:
        return cluster_command(statement, "analytics", CLUSTER, tables)

    on = f"ON CLUSTER '{CLUSTER}'"
    assert rewrite("DELETE FROM `analytics`.`sync_donations` WHERE (`id`) > ({c0:Int64})") == [
        f"DELETE FROM `analytics`.`sync_donations_local` {on} WHERE (`id`) > ({{c0:Int64}})"
    ]
    assert rewrite("TRUNCATE TABLE `analytics`.`sync_donations`") == [
        f"TRUNCATE TABLE `analytics`.`sync_donations_local` {on} "
    ]
    add = "ALTER TABLE `analytics`.`sync_donations` ADD COLUMN IF NOT EXISTS `x` Nullable(String)"
    assert rewrite(add) == [
        f"ALTER TABLE `analytics`.`sync_donations_local` {on} ADD COLUMN IF NOT EXISTS `x` Nullable(String)",
        f"ALTER TABLE `analytics`.`sync_donations` {on} ADD COLUMN IF NOT EXISTS `x` Nullable(String)",
    ]
    assert rewrite("DROP TABLE IF EXISTS `analytics`.`sync_donations__sync_keys`") == [
        f"DROP TABLE IF EXISTS `analytics`.`sync_donations__sync_keys` {on} SYNC",
        f"DROP TABLE IF EXISTS `analytics`.`sync_donations__sync_keys_local` {on} SYNC",
    ]
    # Without the name, a table the service made is left alone (other users' tables are not ours).
    assert cluster_command("TRUNCATE TABLE `analytics`.`sync_other`", "analytics", CLUSTER, tables) == [
        "TRUNCATE TABLE `analytics`.`sync_other`"
    ]


def test_single_node_sync_ddl_runs_in_chdb(warehouse_path: Path):
    """The golden single-node statements run in chDB; the target deduplicates nothing (a chunk
    written twice is stored twice, for FINAL to collapse), the staging table holds keys."""
    database = f"syncddl_{uuid.uuid4().hex[:8]}"
    warehouse = Warehouse(f"chdb://{warehouse_path}", database, pool_size=1)
    warehouse.command(f"CREATE DATABASE `{database}`")
    try:
        text = (GOLDEN / "sync_ddl_single_node.sql").read_text().replace("`analytics`", f"`{database}`")
        for statement in [s.strip() for s in text.split(";") if s.strip()]:
            warehouse.command(statement)
        writer = _writer(warehouse)
        comment, columns = writer.existing()
        assert comment == "analytics-engine sync source donations"
        assert columns["amount"] == "Nullable(Decimal(12, 2))" and columns["tenant_id"] == "LowCardinality(String)"
        chunk = b"org-1\t1\t1.50\t\\N\t2026-12-01 00:00:00.000000\t\\N\t1\t0\n"
        writer.insert(chunk)
        writer.insert(chunk)
        table = warehouse.table("sync_donations")
        assert warehouse.query(f"SELECT count() FROM {table}").scalar() == 2
        assert warehouse.query(f"SELECT count() FROM {table} FINAL").scalar() == 1
        assert writer.tombstone_missing(b"") == 1
        assert warehouse.query(f"SELECT count() FROM {table} FINAL").scalar() == 0
        staging = warehouse.query(
            "SELECT count() FROM system.tables WHERE database = {d:String} AND name LIKE '%sync_keys%'", {"d": database}
        ).scalar()
        assert staging == 0  # the staging table is dropped after the check
    finally:
        warehouse.command(f"DROP DATABASE `{database}`")


def test_a_sync_table_may_not_take_a_shard_local_name():
    import pytest
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="_local"):
        SourceSpec.model_validate({**_spec().model_dump(), "target": {"kind": "table", "table": "orders_local"}})
