"""Outgrowing one machine (issue 26): the cluster DDL and the capacity model, as commands."""

from __future__ import annotations

from typing import Annotated

import typer

from analytics_engine.cli.common import out


def warehouse_ddl(
    cluster: Annotated[
        str | None, typer.Option(help="ClickHouse cluster name (the cluster form); unset: single node.")
    ] = None,
    database: Annotated[str, typer.Option(help="Database name in the generated DDL.")] = "analytics",
) -> None:
    """Print the warehouse DDL every migration produces, for one node or for a cluster (ON CLUSTER,
    Replicated*MergeTree, Distributed tables sharded by tenant; docs/runbook.md)."""
    from analytics_engine.warehouse.cluster import render_ddl

    out.print(render_ddl(database, cluster), markup=False, highlight=False, soft_wrap=True)
