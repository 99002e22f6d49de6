"""The capacity model (issue 26): from measured per-event costs to a deployment's size."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from analytics_engine.cli.main import app
from analytics_engine.ops.capacity import MEASURED, Workload, plan


def test_a_small_platform_fits_one_machine():
    small = plan(Workload(tenants=10, events_per_month=1_000_000))
    assert small.single_machine and small.clickhouse_nodes == 1 and small.api_replicas == 1
    assert small.events_per_month == 10_000_000 and small.stored_events == 130_000_000


def test_the_figures_follow_the_measured_costs():
    result = plan(Workload(tenants=100, events_per_month=25_920_000, peak_factor=1.0, queries_per_tenant_hour=0))
    # 2.592e9 events a month = 1,000 events/s; ClickHouse CPU = 1,000 x (18 - 7) us / 0.5 utilisation.
    assert result.average_events_per_second == pytest.approx(1000.0)
    assert result.clickhouse_cores == pytest.approx(1000 * 11e-6 / 0.5, abs=0.01)
    per_event = sum(MEASURED[k] for k in MEASURED if k.endswith("bytes_per_event"))
    assert per_event == pytest.approx(64.4)
    stored = 2_592_000_000 * 13
    assert result.disk_tib == pytest.approx(stored * per_event * 1.4 * 2 / 2**40, rel=1e-3)


def test_more_events_never_need_less_and_a_large_platform_is_a_replicated_cluster():
    sizes = [plan(Workload(tenants=500, events_per_month=m)) for m in (10**6, 10**7, 10**8, 10**9)]
    nodes = [s.clickhouse_nodes for s in sizes]
    assert nodes == sorted(nodes)
    large = sizes[-1]
    assert not large.single_machine
    assert large.replicas_per_shard == 2 and large.clickhouse_nodes == large.shards * 2
    assert large.api_replicas >= 2


def test_the_cli_prints_a_plan_and_json():
    runner = CliRunner()
    text = runner.invoke(app, ["capacity", "--tenants", "2000", "--events-per-month", "50000000"])
    assert text.exit_code == 0, text.output
    assert "shard(s)" in text.output and "ClickHouse node(s)" in text.output
    as_json = runner.invoke(app, ["capacity", "--tenants", "5", "--events-per-month", "1000", "--json"])
    assert as_json.exit_code == 0, as_json.output
    assert json.loads(as_json.output)["single_machine"] is True
