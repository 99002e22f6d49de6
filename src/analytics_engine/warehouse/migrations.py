"""Ordered, idempotent ClickHouse migrations, recorded in `schema_migrations`.

Each migration is a `.sql` file in `warehouse/migrations/` named `NNNN_what.sql`, applied in name
order once. Statements are separated by a line holding only `;`-terminated SQL; `{db}` stands for the
configured database and `{hot_retention_months}` for the TTL the first migrations set (1600 removed
it: the tiering job moves old months to the cold tier instead, docs/lifecycle.md). Number ranges by concern keep
parallel work apart: 00xx foundation, 04xx streaming, 05xx sync, 06xx insights, 07xx cohorts,
08xx dashboards, 09xx impact, 10xx exports, 16xx lifecycle and privacy.
"""

from __future__ import annotations

import structlog

from analytics_engine.warehouse.client import Warehouse
from analytics_engine.warehouse.cluster import ClusterLayout, migration_statements, render, schema_migrations_ddl
from analytics_engine.warehouse.sql_files import migration_files, split_statements

__all__ = ["migrate", "migration_files", "split_statements"]

log = structlog.get_logger(__name__)


def migrate(warehouse: Warehouse, *, hot_retention_months: int = 13, cluster: str | None = None) -> list[str]:
    """Create the database and apply every migration not yet recorded; returns the applied ids.
    With `cluster` (default: the warehouse's own), each statement takes its cluster form
    (warehouse/cluster.py: ON CLUSTER, Replicated*MergeTree, a Distributed table in front)."""
    cluster = cluster if cluster is not None else warehouse.cluster
    db = warehouse.database
    on_cluster = f" ON CLUSTER '{cluster}'" if cluster else ""
    warehouse.command(f"CREATE DATABASE IF NOT EXISTS `{db}`{on_cluster}")
    layout = ClusterLayout(cluster) if cluster else None
    warehouse.command(render(schema_migrations_ddl(layout), db))
    done = {row[0] for row in warehouse.query(f"SELECT id FROM `{db}`.schema_migrations").rows}
    applied = []
    for migration_id, statements in migration_statements(cluster):
        if migration_id in done:
            continue
        for statement in statements:
            warehouse.command(render(statement, db, hot_retention_months))
        warehouse.command(f"INSERT INTO `{db}`.schema_migrations (id) VALUES ({{id:String}})", {"id": migration_id})
        applied.append(migration_id)
        log.info("warehouse.migration_applied", migration=migration_id, cluster=cluster)
    return applied
