"""Issue 18, built: the person bitmaps (`person_hours`) against `person_weeks` and raw events, through
the engine (`run_insight`, refresh), alternated run by run so both paths meet the same machine load.

    .venv/bin/python benchmarks/person_bitmaps_served.py DATA_DIR [--repeat 10] [--raw]

DATA_DIR: a folder of `bench insights --data-dir` (tenant `bench-big`) or `bench dashboards` (`gen-1`).
Per case: process CPU time (chDB runs in this process) and wall time, p50/p95, of each path; whether
the answers are equal; what served. Then the storage of the new tables per event (system.parts) and
how many of the tenant's people have an id.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path
from typing import Any

from analytics_engine.config import Settings
from analytics_engine.insights import parse_insight_query, run_insight
from analytics_engine.runtime import Runtime
from analytics_engine.tenants.service import TenantContext

CASES: dict[str, dict[str, Any]] = {
    "retention_12_weeks_-90d": {
        "kind": "retention",
        "start_event": {"event": "signup"},
        "return_event": {"event": None},
        "period": "week",
        "periods": 12,
        "date_range": {"date_from": "-90d"},
        "timezone": "Europe/Berlin",
    },
    "retention_12_weeks_-12w": {
        "kind": "retention",
        "start_event": {"event": "signup"},
        "return_event": {"event": None},
        "period": "week",
        "periods": 12,
        "date_range": {"date_from": "-12w"},
        "timezone": "Europe/Berlin",
    },
    "retention_recurring_8_weeks": {
        "kind": "retention",
        "start_event": {"event": "signup"},
        "return_event": {"event": None},
        "period": "week",
        "periods": 8,
        "start_type": "recurring",
        "date_range": {"date_from": "-90d"},
        "timezone": "Europe/Berlin",
    },
    "dau_wau_mau_-90d": {
        "kind": "engagement",
        "measure": "active_users",
        "interval": "day",
        "date_range": {"date_from": "-90d"},
        "timezone": "Europe/Berlin",
    },
}


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--raw", action="store_true", help="also time the raw path (slow at 10M)")
    args = parser.parse_args()
    rt = Runtime.build(Settings(data_dir=args.data_dir, log_level="warning", log_json=False))
    tenant = next(t for t in rt.tenants.list() if t.name in ("bench-big", "gen-1"))
    ctx = TenantContext(tenant.id, tenant.name, tenant.timezone, frozenset({"read", "admin"}), "bench")
    paths = {"person_hours": (True, True), "person_weeks": (False, True)}
    if args.raw:
        paths["raw"] = (False, False)
    print(f"tenant {tenant.name} ({tenant.timezone}), load {os.getloadavg()[0]:.1f}", flush=True)
    results: dict[str, Any] = {}
    for name, spec in CASES.items():
        query = parse_insight_query(spec)
        cpu: dict[str, list[float]] = {p: [] for p in paths}
        wall: dict[str, list[float]] = {p: [] for p in paths}
        answers: dict[str, Any] = {}
        served: dict[str, set[str]] = {p: set() for p in paths}
        for _ in range(args.repeat):
            for path, (bitmaps, pre) in paths.items():
                rt.settings.person_bitmaps, rt.settings.preaggregations = bitmaps, pre
                c0, w0 = time.process_time(), time.perf_counter()
                answer = run_insight(rt, ctx, query, refresh=True)
                cpu[path].append((time.process_time() - c0) * 1000)
                wall[path].append((time.perf_counter() - w0) * 1000)
                served[path].add(f"{answer.served_by}:{answer.served_from}")
                answers[path] = json.dumps([answer.series, answer.totals, answer.retention], default=str)
        same = len({answers[p] for p in paths}) == 1
        results[name] = {
            p: {
                "cpu_p50": round(statistics.median(cpu[p]), 1),
                "cpu_p95": round(pct(cpu[p], 95), 1),
                "wall_p50": round(statistics.median(wall[p]), 1),
                "wall_p95": round(pct(wall[p], 95), 1),
                "served": sorted(served[p]),
            }
            for p in paths
        }
        results[name]["same_answer"] = same
        line = ", ".join(
            f"{p}: CPU p50 {r['cpu_p50']} / p95 {r['cpu_p95']} ms, wall p50 {r['wall_p50']} / p95 {r['wall_p95']} "
            f"({'/'.join(r['served'])})"
            for p, r in ((p, results[name][p]) for p in paths)
        )
        ratio = results[name]["person_weeks"]["cpu_p50"] / max(results[name]["person_hours"]["cpu_p50"], 0.001)
        print(f"{name}: {line}; same answer: {same}; CPU p50 ratio weeks/hours {ratio:.1f}x", flush=True)
    wh = rt.warehouse
    events = wh.query(
        f"SELECT count() FROM {wh.table('events')}",
    ).scalar()
    for table, rows, size in wh.query(
        "SELECT table, sum(rows), sum(bytes_on_disk) FROM system.parts WHERE active AND database = {db:String} "
        "AND table IN ('person_hours', 'person_ids', 'person_weeks', 'events') GROUP BY table ORDER BY table",
        {"db": wh.database},
    ).rows:
        print(f"storage {table}: {rows} rows, {size} bytes, {size / events:.2f} bytes per event (all tenants)")
    people, with_id = wh.query(
        f"SELECT uniqExact(distinct_id), uniqExactIf(distinct_id, person_key IN (SELECT person_key FROM "
        f"{wh.table('person_ids')} WHERE tenant_id = {{t:String}} AND distinct_id != '')) FROM {wh.table('events')} "
        "WHERE tenant_id = {t:String}",
        {"t": tenant.id},
    ).rows[0]
    print(f"people of the tenant: {people}, with an id: {with_id}; load {os.getloadavg()[0]:.1f}")
    rt.close()


if __name__ == "__main__":
    main()
