"""Cluster DDL from the same migrations (issue 26): golden files of the generated SQL for one node
and for a cluster, the single-node DDL run in chDB, and the rules the cluster form keeps.

Regenerate the golden files after a new migration with
`AE_UPDATE_GOLDEN=1 pytest tests/warehouse/test_cluster_ddl.py` and read the diff."""

from __future__ import annotations

import os
import re
import uuid
from pathlib import Path

import pytest

from analytics_engine.warehouse import Warehouse
from analytics_engine.warehouse.cluster import (
    ClusterDDLError,
    ClusterLayout,
    cluster_statements,
    migration_statements,
    render_ddl,
)
from analytics_engine.warehouse.migrations import split_statements

GOLDEN = Path(__file__).parent / "golden"
CLUSTER = "analytics_cluster"


def _golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("AE_UPDATE_GOLDEN") == "1":
        path.write_text(text + "\n")
    assert path.exists(), f"{path} missing: run with AE_UPDATE_GOLDEN=1"
    assert text + "\n" == path.read_text(), f"{name} differs from the generated DDL (AE_UPDATE_GOLDEN=1 to accept)"


def test_single_node_ddl_matches_its_golden_file():
    _golden("ddl_single_node.sql", render_ddl("analytics", None))


def test_cluster_ddl_matches_its_golden_file():
    _golden("ddl_cluster.sql", render_ddl("analytics", CLUSTER))


def test_single_node_ddl_is_each_migration_unchanged():
    from analytics_engine.warehouse.migrations import migration_files

    assert [(i, split_statements(t)) for i, t in migration_files()] == migration_statements(None)


def test_the_single_node_ddl_runs_in_chdb(warehouse_path: Path):
    """The golden single-node script, for a fresh database, runs statement by statement in chDB and
    leaves the same tables as `migrate()`."""
    database = f"golden_{uuid.uuid4().hex[:8]}"
    warehouse = Warehouse(f"chdb://{warehouse_path}", database, pool_size=1)
    script = render_ddl(database, None)
    for statement in split_statements(script):
        warehouse.command(statement)
    tables = {
        row[0]
        for row in warehouse.query("SELECT name FROM system.tables WHERE database = {d:String}", {"d": database}).rows
    }
    expected = {
        "events",
        "event_ids",
        "metrics_daily",
        "metrics_monthly_mv",
        "taxonomy_properties",
        "schema_migrations",
    }
    assert expected <= tables
    assert warehouse.query(f"SELECT count() FROM `{database}`.events").scalar() == 0
    warehouse.command(f"DROP DATABASE `{database}`")


def _creates(statements: list[str]) -> dict[str, str]:
    found = {}
    for statement in statements:
        match = re.match(r"CREATE (?:TABLE|MATERIALIZED VIEW) (?:IF NOT EXISTS )?\{db\}\.(\w+)", statement)
        if match:
            found[match.group(1)] = statement
    return found


def test_every_cluster_table_is_replicated_behind_a_distributed_table_sharded_by_tenant():
    statements = [s for _, group in migration_statements(CLUSTER) for s in group]
    assert all(f"ON CLUSTER '{CLUSTER}'" in s for s in statements if not s.startswith("INSERT"))
    creates = _creates(statements)
    locals_ = {name for name in creates if name.endswith("_local")}
    assert {"events_local", "event_ids_local", "person_weeks_local", "taxonomy_properties_local"} <= locals_
    for local in locals_:
        table = local.removesuffix("_local")
        assert re.search(r"ENGINE = Replicated\w*MergeTree\('/clickhouse/tables/\{shard\}/", creates[local]), local
        assert "{replica}" in creates[local]
        assert "non_replicated_deduplication_window" not in creates[local]
        front = creates[table]
        assert f"AS {{db}}.{local}" in front and f"Distributed('{CLUSTER}', {{db_name}}, '{local}'," in front
        if re.search(r"^\s*tenant_id\s", creates[local], re.M):
            assert front.rstrip().endswith("cityHash64(tenant_id))"), table
    # Tables that kept the insert-time deduplication window keep it, replicated.
    assert "replicated_deduplication_window = 1000" in creates["events_local"]
    assert "replicated_deduplication_window = 1000" in creates["taxonomy_properties_local"]


def test_views_run_on_each_shard_between_local_tables():
    statements = [s for _, group in migration_statements(CLUSTER) for s in group]
    views = {n: s for n, s in _creates(statements).items() if n.endswith("_mv")}
    assert len(views) >= 7
    for name, view in views.items():
        referenced = re.findall(r"\{db\}\.(\w+)", view)
        assert referenced[0] == name
        assert all(ref.endswith("_local") for ref in referenced[1:]), (name, referenced)


def test_backfills_write_through_the_distributed_tables_and_wait_for_the_shards():
    inserts = [s for _, group in migration_statements(CLUSTER) for s in group if s.startswith("INSERT")]
    assert inserts and all(s.endswith("SETTINGS distributed_foreground_insert = 1") for s in inserts)
    assert all("_local" not in s for s in inserts)


def test_alters_reach_local_tables_and_column_changes_the_distributed_one_too():
    layout = ClusterLayout(CLUSTER)
    known = {"events"}
    assert cluster_statements("ALTER TABLE {db}.events ADD COLUMN x UInt8", layout, known) == [
        f"ALTER TABLE {{db}}.events_local ON CLUSTER '{CLUSTER}' ADD COLUMN x UInt8",
        f"ALTER TABLE {{db}}.events ON CLUSTER '{CLUSTER}' ADD COLUMN x UInt8",
    ]
    assert cluster_statements("ALTER TABLE {db}.events REMOVE TTL", layout, known) == [
        f"ALTER TABLE {{db}}.events_local ON CLUSTER '{CLUSTER}' REMOVE TTL"
    ]
    dropped = cluster_statements("DROP TABLE IF EXISTS {db}.events", layout, known)
    assert dropped[1].endswith(f"events_local ON CLUSTER '{CLUSTER}' SYNC")
    assert "events" not in known


def test_statements_without_a_cluster_form_are_refused():
    layout = ClusterLayout(CLUSTER)
    with pytest.raises(ClusterDDLError, match="no cluster form"):
        cluster_statements("OPTIMIZE TABLE {db}.events FINAL", layout, set())
    with pytest.raises(ClusterDDLError, match="no migration created"):
        cluster_statements("ALTER TABLE {db}.nowhere REMOVE TTL", layout, set())
    with pytest.raises(ClusterDDLError, match="MergeTree"):
        cluster_statements("CREATE TABLE {db}.m (tenant_id String) ENGINE = Memory", layout, set())
    with pytest.raises(ClusterDDLError, match="cluster name"):
        ClusterLayout("x'; DROP")


def test_the_embedded_warehouse_refuses_a_cluster():
    with pytest.raises(ValueError, match="server DSN"):
        Warehouse("chdb:///tmp/nowhere", "analytics", cluster=CLUSTER)


def test_the_cli_prints_the_cluster_ddl():
    from typer.testing import CliRunner

    from analytics_engine.cli.main import app

    result = CliRunner().invoke(app, ["warehouse-ddl", "--cluster", CLUSTER])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == render_ddl("analytics", CLUSTER).strip()


def test_runtime_mutations_of_our_tables_go_to_the_local_tables_on_the_cluster():
    from analytics_engine.warehouse.cluster import cluster_command, cluster_tables

    tables = cluster_tables()
    assert {"events", "persons", "cohort_users", "taxonomy_properties"} <= tables
    erase = "ALTER TABLE `analytics`.`events` DELETE WHERE tenant_id = {tenant_id:String} SETTINGS mutations_sync = 2"
    assert cluster_command(erase, "analytics", CLUSTER, tables) == [
        f"ALTER TABLE `analytics`.`events_local` ON CLUSTER '{CLUSTER}' DELETE WHERE tenant_id = {{tenant_id:String}} "
        "SETTINGS mutations_sync = 2"
    ]
    add = "ALTER TABLE `analytics`.`events` ADD COLUMN IF NOT EXISTS `mp_plan` String"
    assert [s.split(" ADD")[0] for s in cluster_command(add, "analytics", CLUSTER, tables)] == [
        f"ALTER TABLE `analytics`.`events_local` ON CLUSTER '{CLUSTER}'",
        f"ALTER TABLE `analytics`.`events` ON CLUSTER '{CLUSTER}'",
    ]
    lightweight = "DELETE FROM `analytics`.`cohort_users` WHERE tenant_id = {tenant_id:String}"
    assert cluster_command(lightweight, "analytics", CLUSTER, tables) == [
        f"DELETE FROM `analytics`.`cohort_users_local` ON CLUSTER '{CLUSTER}' WHERE tenant_id = {{tenant_id:String}}"
    ]
    # Other tables (sync targets, staging) and other statements pass unchanged.
    for sql in (
        "ALTER TABLE `analytics`.`sync_orders` DELETE WHERE 1",
        "DELETE FROM `other`.`events` WHERE 1",
        "INSERT INTO `analytics`.`events` VALUES",
        "SELECT 1",
    ):
        assert cluster_command(sql, "analytics", CLUSTER, tables) == [sql]
