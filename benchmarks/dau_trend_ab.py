"""Issue 18 follow-up: the dashboard's "Daily active users" trend (any event, unique users by day,
Europe/Berlin) on main's paths against this branch's, alternated statement by statement in one
process so every path meets the same machine load.

    .venv/bin/python benchmarks/dau_trend_ab.py DATA_DIR [--repeat 10]

DATA_DIR: a `bench dashboards --data-dir` folder (tenant `gen-1`). Each round asks a range never asked
before in the round (from 60-150 days back to today, as `bench dashboards` does). Paths, as SQL:

- `sketch` (main): the hour/day rollups' `uniqCombinedMerge(14)(users)` (main's rollup statement
  without its `user_estimate` column, which repeated the same aggregate);
- `bitmaps` (branch): `person_hours`, what the branch's planner sends (`unique_users_sql`);
- `raw_combined` (main's raw path: `uniqCombined(14)(distinct_id)`) and `raw_exact` (the branch's:
  `uniqExact(person_key)`), unfiltered and with the filter `country = "DE"` (on the materialized
  column), the filter renders' raw path; `raw_exact_strings`: `uniqExact(distinct_id)`, for comparison.

Per path: process CPU time (chDB runs in this process) and wall time, p50/p95; the answers' values
per path; the load average before and after.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from analytics_engine.config import Settings
from analytics_engine.insights import parse_insight_query
from analytics_engine.insights.trends import TrendsRunner
from analytics_engine.runtime import Runtime
from analytics_engine.tenants.service import TenantContext


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))]


def statements(rt: Runtime, ctx: TenantContext, start: str) -> dict[str, tuple[str, dict[str, Any]]]:
    def spec(math: str, filters: list[dict[str, Any]] | None = None) -> Any:
        return parse_insight_query(
            {
                "kind": "trends",
                "series": [{"event": None, "math": math}],
                "interval": "day",
                "date_range": {"date_from": start},
                "filters": filters or [],
            }
        )

    def sql_of(query: Any, rollups: bool = True) -> tuple[str, str, dict[str, Any]]:
        runner = TrendsRunner(rt, ctx, query)
        runner.resolve_materialized()
        runner.allow_rollups = rollups
        statement = runner.to_sql()[0]
        return statement.name, statement.text, {**statement.params, "tenant_id": ctx.tenant_id}

    name, bitmaps, params = sql_of(spec("unique_users"))
    assert name.endswith(":person_hours"), name
    name, counts, count_params = sql_of(spec("total"))
    assert name.endswith(":rollup"), name
    sketch = counts.replace("toFloat64(sum(events))", "toFloat64(uniqCombinedMerge(14)(users))").replace(
        "AS t, events FROM", "AS t, events, users FROM"
    )
    _, raw, raw_params = sql_of(spec("unique_users"), rollups=False)
    country = [{"key": "country", "operator": "eq", "value": "DE"}]
    _, raw_f, raw_f_params = sql_of(spec("unique_users", country))
    return {
        "sketch": (sketch, count_params),
        "bitmaps": (bitmaps, params),
        "raw_combined": (raw.replace("uniqExact(person_key)", "uniqCombined(14)(distinct_id)"), raw_params),
        "raw_exact": (raw, raw_params),
        "raw_exact_strings": (raw.replace("uniqExact(person_key)", "uniqExact(distinct_id)"), raw_params),
        "raw_filtered_combined": (
            raw_f.replace("uniqExact(person_key)", "uniqCombined(14)(distinct_id)"),
            raw_f_params,
        ),
        "raw_filtered_exact": (raw_f, raw_f_params),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--skip", default="", help="paths not to time, comma-separated")
    args = parser.parse_args()
    rt = Runtime.build(Settings(data_dir=args.data_dir, log_level="warning", log_json=False))
    tenant = next(t for t in rt.tenants.list() if t.name == "gen-1")
    ctx = TenantContext(tenant.id, tenant.name, tenant.timezone, frozenset({"read", "admin"}), "bench")
    print(f"tenant {tenant.name} ({tenant.timezone}), load {os.getloadavg()}", flush=True)
    today = datetime.now(UTC).date()
    cpu: dict[str, list[float]] = {}
    wall: dict[str, list[float]] = {}
    totals: dict[str, list[float]] = {}
    for round_ in range(args.repeat):
        start = (today - timedelta(days=60 + (round_ * 37) % 90)).isoformat()
        for path, (sql, params) in statements(rt, ctx, start).items():
            if path in args.skip.split(","):
                continue
            c0, w0 = time.process_time(), time.perf_counter()
            rows = rt.warehouse.query(sql, params).rows
            cpu.setdefault(path, []).append((time.process_time() - c0) * 1000)
            wall.setdefault(path, []).append((time.perf_counter() - w0) * 1000)
            totals.setdefault(path, []).append(next(float(r[2]) for r in rows if r[3]))
    for path in cpu:
        print(
            f"{path}: CPU p50 {statistics.median(cpu[path]):.1f} / p95 {pct(cpu[path], 95):.1f} ms, "
            f"wall p50 {statistics.median(wall[path]):.1f} / p95 {pct(wall[path], 95):.1f} ms; "
            f"range totals {totals[path][:3]}",
            flush=True,
        )
    if "sketch" in cpu and "bitmaps" in cpu:
        ratio = statistics.median(cpu["bitmaps"]) / statistics.median(cpu["sketch"])
        print(f"CPU p50 bitmaps / sketch: {ratio:.2f}")
    print(f"load {os.getloadavg()}")
    rt.close()


if __name__ == "__main__":
    main()
