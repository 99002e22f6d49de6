"""The capacity model (docs/runbook.md, "Sizing"): N tenants and M events a month each become cores,
memory, disk and a cluster shape, from costs measured by our benchmarks (docs/benchmarks.md).

Measured costs (2-core development machine, shared; the bench figures cited in `MEASURED`):
- ingest: 15-19.6 us of server CPU per event over HTTP, warehouse insert, views and merges included
  (`bench ingest`, 400k-2M events; 18 us used), of which ~7 us is Python (API replicas) and the rest
  ClickHouse;
- storage: 42.9 compressed bytes per event in `events` and 11.5 in `person_weeks` at 10M events
  (`bench dashboards --events 10000000`, system.parts); the other derived tables are rollups and
  per-person rows, counted here as 10 bytes more (an estimate, not a measurement);
- queries: a rollup trend p95 ~25 ms whatever the range; a raw funnel 0.55 s and retention 0.3 s over
  10M events (`bench insights`), i.e. ~55 ns of one core per event read;
- memory: an API replica ~360 MB RSS (a built runtime, docs/exports-and-reports.md).
Everything else is an assumption and is a parameter: peak-to-average ratio, the share of queries
served by rollups, queries per tenant-hour, the utilisation to plan for, node size."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

SECONDS_PER_MONTH = 30 * 86_400

MEASURED = {
    "ingest_cpu_us_per_event": 18.0,  # bench ingest, 1M-2M events: 17.2-19.6 us
    "ingest_python_us_per_event": 7.0,  # of which Python (first session's breakdown)
    "events_bytes_per_event": 42.9,  # system.parts, 10M events
    "person_weeks_bytes_per_event": 11.5,  # system.parts, 10M events
    "other_derived_bytes_per_event": 10.0,  # estimate: rollups, persons, taxonomy
    "rollup_query_seconds": 0.025,  # bench insights: rollup trends p95
    "raw_query_ns_per_event": 55.0,  # bench insights: funnel 0.55 s / 10M events
    "api_replica_rss_gib": 0.36,  # a built runtime's RSS
}


@dataclass(frozen=True)
class Workload:
    tenants: int
    events_per_month: int  # per tenant
    retention_months: int = 13
    peak_factor: float = 3.0  # busiest minute's rate over the month's average
    queries_per_tenant_hour: float = 60.0  # insight, dashboard and export reads at peak
    rollup_share: float = 0.7  # of those, answered by rollups/pre-aggregations
    replicas: int = 2  # ClickHouse replicas per shard
    node_cores: int = 16
    node_memory_gib: int = 64
    node_disk_tib: float = 2.0
    utilisation: float = 0.5  # plan for half the cores busy at peak


@dataclass(frozen=True)
class Plan:
    events_per_month: int
    average_events_per_second: float
    peak_events_per_second: float
    stored_events: int
    disk_tib: float  # all replicas, with merge headroom
    clickhouse_cores: float
    api_cores: float
    api_replicas: int
    clickhouse_nodes: int
    shards: int
    replicas_per_shard: int
    memory_gib_per_clickhouse_node: int
    single_machine: bool
    limiting: str  # what sized the cluster: "cpu" or "disk"
    assumptions: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def plan(work: Workload) -> Plan:
    if work.tenants < 1 or work.events_per_month < 0:
        raise ValueError("tenants must be at least 1 and events a month not negative")
    total = work.tenants * work.events_per_month
    average = total / SECONDS_PER_MONTH
    peak = average * work.peak_factor
    ingest_ch_cores = peak * (MEASURED["ingest_cpu_us_per_event"] - MEASURED["ingest_python_us_per_event"]) / 1e6
    api_ingest_cores = peak * MEASURED["ingest_python_us_per_event"] / 1e6
    queries_per_second = work.tenants * work.queries_per_tenant_hour / 3600
    raw_seconds = work.events_per_month * MEASURED["raw_query_ns_per_event"] / 1e9  # a month of the tenant
    query_seconds = work.rollup_share * MEASURED["rollup_query_seconds"] + (1 - work.rollup_share) * raw_seconds
    query_cores = queries_per_second * query_seconds
    clickhouse_cores = (ingest_ch_cores + query_cores) / work.utilisation
    api_cores = (api_ingest_cores + queries_per_second * 0.005) / work.utilisation  # ~5 ms of Python a query

    stored = total * work.retention_months
    bytes_per_event = sum(
        MEASURED[k] for k in ("events_bytes_per_event", "person_weeks_bytes_per_event", "other_derived_bytes_per_event")
    )
    one_copy_tib = stored * bytes_per_event / 2**40
    disk_tib = one_copy_tib * 1.4 * work.replicas  # merges need free space: plan 40% headroom

    # One machine: the embedded warehouse and one API process share the node's cores and disk.
    single = (clickhouse_cores + api_cores) <= work.node_cores and one_copy_tib * 1.4 <= work.node_disk_tib
    by_cpu = math.ceil(clickhouse_cores / work.node_cores)
    by_disk = math.ceil(one_copy_tib * 1.4 / work.node_disk_tib)
    shards = max(1, by_cpu, by_disk)
    api_replicas = max(2, math.ceil(api_cores / 2))  # 2-core replicas, at least two for failover
    memory = min(work.node_memory_gib, max(16, 8 + 4 * math.ceil(clickhouse_cores / max(shards, 1))))
    return Plan(
        events_per_month=total,
        average_events_per_second=round(average, 1),
        peak_events_per_second=round(peak, 1),
        stored_events=stored,
        disk_tib=round(disk_tib, 3),
        clickhouse_cores=round(clickhouse_cores, 2),
        api_cores=round(api_cores, 2),
        api_replicas=1 if single else api_replicas,
        clickhouse_nodes=1 if single else shards * work.replicas,
        shards=1 if single else shards,
        replicas_per_shard=1 if single else work.replicas,
        memory_gib_per_clickhouse_node=memory,
        single_machine=single,
        limiting="disk" if by_disk > by_cpu else "cpu",
        assumptions={**asdict(work), **MEASURED},
    )


def render(result: Plan) -> str:
    lines = [
        f"events a month: {result.events_per_month:,} (average {result.average_events_per_second:,.0f}/s, "
        f"peak {result.peak_events_per_second:,.0f}/s)",
        f"stored: {result.stored_events:,} events, {result.disk_tib:.2f} TiB of disk over every replica",
        f"cores at peak: ClickHouse {result.clickhouse_cores:.2f}, API {result.api_cores:.2f}",
    ]
    if result.single_machine:
        lines.append("fits one machine: `serve` with the embedded warehouse (chDB) and one API process")
    else:
        lines.append(
            f"cluster: {result.shards} shard(s) x {result.replicas_per_shard} replica(s) = {result.clickhouse_nodes} "
            f"ClickHouse node(s) with {result.memory_gib_per_clickhouse_node} GiB each (sized by {result.limiting}); "
            f"{result.api_replicas} API replicas of 2 cores"
        )
    return "\n".join(lines)
