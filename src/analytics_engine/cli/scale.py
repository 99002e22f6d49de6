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


def capacity(
    tenants: Annotated[int, typer.Option(min=1, help="Tenants on the platform.")],
    events_per_month: Annotated[int, typer.Option(min=0, help="Events a month per tenant.")],
    retention_months: Annotated[int, typer.Option(min=1, help="Months kept hot in the warehouse.")] = 13,
    peak_factor: Annotated[float, typer.Option(min=1.0, help="Peak rate over the month's average.")] = 3.0,
    queries_per_tenant_hour: Annotated[float, typer.Option(min=0.0, help="Reads per tenant-hour at peak.")] = 60.0,
    replicas: Annotated[int, typer.Option(min=1, help="ClickHouse replicas per shard.")] = 2,
    node_cores: Annotated[int, typer.Option(min=1, help="Cores of one ClickHouse node.")] = 16,
    node_disk_tib: Annotated[float, typer.Option(min=0.01, help="Disk of one ClickHouse node (TiB).")] = 2.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print the plan and its assumptions as JSON.")] = False,
) -> None:
    """Size a deployment from measured per-event costs (docs/runbook.md, "Sizing"): cores, disk,
    memory, and how many shards, replicas and API processes."""
    import json

    from analytics_engine.ops.capacity import Workload, plan, render

    result = plan(
        Workload(
            tenants=tenants,
            events_per_month=events_per_month,
            retention_months=retention_months,
            peak_factor=peak_factor,
            queries_per_tenant_hour=queries_per_tenant_hour,
            replicas=replicas,
            node_cores=node_cores,
            node_disk_tib=node_disk_tib,
        )
    )
    text = json.dumps(result.as_dict(), indent=2) if as_json else render(result)
    out.print(text, markup=False, highlight=False, soft_wrap=True)
