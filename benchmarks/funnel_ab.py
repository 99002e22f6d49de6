"""Issue 18 measurement (funnels, 2026-12-07): the funnel SQL of an earlier commit against the working
tree's, alternated run by run on the same data, answers compared row for row.

    .venv/bin/python benchmarks/funnel_ab.py DATA_DIR [--before main] [--repeat 7] [--cases bench5,dash3]

DATA_DIR: a folder made by `analytics-engine bench insights --data-dir DATA_DIR` (tenant `bench-big`).
The earlier builder is `src/analytics_engine/insights/funnels_builder.py` at `--before`, loaded from git
into its own module. Per case and side: the process CPU (time.process_time: chDB runs in this process, so
it counts both cores' work) and wall time of the bare statement, min and median; then whether the two
answers are identical. The rows are sorted before comparing (GROUP BY output order is not fixed).
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from analytics_engine.config import Settings
from analytics_engine.insights import funnels_builder, parse_insight_query, runner_for
from analytics_engine.runtime import Runtime
from analytics_engine.tenants.service import TenantContext

CASES: dict[str, dict[str, Any]] = {
    # bench insights' funnel_5_steps
    "bench5": {
        "kind": "funnels",
        "steps": [{"event": e} for e in ("signup", "activated", "feature_used", "pageview", "purchase")],
        "conversion_window": {"value": 14, "unit": "day"},
        "date_range": {"date_from": "-90d"},
    },
    # the demo dashboard's funnel widget (bench dashboards asks it over -90d)
    "dash3": {
        "kind": "funnels",
        "steps": [{"event": e} for e in ("signup", "activated", "purchase")],
        "conversion_window": {"value": 30, "unit": "day"},
        "date_range": {"date_from": "-90d"},
    },
    "dash3_30d": {
        "kind": "funnels",
        "steps": [{"event": e} for e in ("signup", "activated", "purchase")],
        "conversion_window": {"value": 30, "unit": "day"},
        "date_range": {"date_from": "-30d"},
    },
    "bench5_week_plan": {
        "kind": "funnels",
        "steps": [{"event": e} for e in ("signup", "activated", "feature_used", "pageview", "purchase")],
        "conversion_window": {"value": 14, "unit": "day"},
        "date_range": {"date_from": "-90d"},
        "interval": "week",
        "breakdown": ["plan"],
    },
    "step_window": {
        "kind": "funnels",
        "steps": [
            {"event": "signup"},
            {"event": "activated", "window": {"value": 1, "unit": "day"}},
            {"event": "feature_used"},
            {"event": "purchase"},
        ],
        "conversion_window": {"value": 14, "unit": "day"},
        "date_range": {"date_from": "-90d"},
    },
    "repeat": {
        "kind": "funnels",
        "steps": [{"event": e} for e in ("signup", "pageview", "feature_used", "pageview")],
        "conversion_window": {"value": 14, "unit": "day"},
        "date_range": {"date_from": "-90d"},
    },
    "strict3": {
        "kind": "funnels",
        "order": "strict",
        "steps": [{"event": e} for e in ("signup", "pageview", "pageview")],
        "conversion_window": {"value": 14, "unit": "day"},
        "date_range": {"date_from": "-90d"},
    },
    "unordered3": {
        "kind": "funnels",
        "order": "unordered",
        "steps": [{"event": e} for e in ("signup", "activated", "purchase")],
        "conversion_window": {"value": 14, "unit": "day"},
        "date_range": {"date_from": "-90d"},
    },
}


def _bins(value: Any) -> dict[int, int]:
    """A time-to-convert histogram as {bin: people > 0}: `sumMap`'s (bins, counts) pair or an array of
    counts indexed by bin (`countResample`)."""
    if len(value) == 2 and all(isinstance(v, list | tuple) for v in value):
        keys, counts = value
        return {int(k): int(c) for k, c in zip(keys, counts, strict=True) if c}
    return {i: int(c) for i, c in enumerate(value) if c}


def normalized(row: tuple[Any, ...]) -> tuple[Any, ...]:
    """A row of `steps_sql` with its histograms in one shape, so two formulations compare."""
    bd, bucket, is_bucket, counts, avgs, medians, hists, overall = row

    def numbers(values: list[Any]) -> list[Any]:  # NaN (an average of nobody) compares unequal to itself
        return [None if isinstance(v, float) and math.isnan(v) else v for v in values]

    hists = [_bins(h) for h in hists]
    return (bd, bucket, is_bucket, counts, numbers(avgs), numbers(medians), hists, _bins(overall))


def load_before(commit: str) -> Any:
    """The funnel builder as it was at `commit`, as a module of its own."""
    text = subprocess.run(
        ["git", "show", f"{commit}:src/analytics_engine/insights/funnels_builder.py"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    # `bin_sql` left insights/histogram.py with issue 18; the earlier builder gets its own copy.
    text = text.replace(
        "from analytics_engine.insights.histogram import bin_sql, upper_edges",
        "from analytics_engine.insights.histogram import upper_edges\n\n\n"
        "def bin_sql(seconds: str, edges_param: str) -> str:\n"
        '    return f"toUInt8(arrayCount(b -> b <= {seconds}, arrayPopBack({edges_param})))"\n',
    )
    path = Path(tempfile.mkdtemp(prefix="funnel-before-")) / "funnels_builder_before.py"
    path.write_text(text)
    spec = importlib.util.spec_from_file_location("funnels_builder_before", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["funnels_builder_before"] = module
    spec.loader.exec_module(module)
    return module


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--before", default="main")
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--cases", default="bench5,dash3")
    parser.add_argument("--tenant", default="bench-big")
    parser.add_argument("--only-new", action="store_true", help="time the working tree's SQL alone")
    parser.add_argument("--print-sql", action="store_true")
    args = parser.parse_args()
    before = load_before(args.before)
    rt = Runtime.build(Settings(data_dir=args.data_dir, log_level="warning", log_json=False))
    tenant = next(t for t in rt.tenants.list() if t.name == args.tenant)
    ctx = TenantContext(tenant.id, tenant.name, tenant.timezone, frozenset({"read"}), "bench")
    base_settings = {"max_execution_time": 0, **rt.budgets.query_settings(tenant.id)}

    def statement(builder: Any, runner: Any) -> tuple[str, dict[str, Any]]:
        text, params = builder.steps_sql(runner)
        return text, {**params, "tenant_id": tenant.id}

    def run(text: str, params: dict[str, Any]) -> tuple[float, float, list[Any]]:
        c0, w0 = time.process_time(), time.perf_counter()
        rows = rt.warehouse.query(text, params, settings=base_settings, timeout=3600).rows
        return (time.process_time() - c0) * 1000, (time.perf_counter() - w0) * 1000, rows

    print(f"load average at start: {' '.join(Path('/proc/loadavg').read_text().split()[:3])}", flush=True)
    for name in args.cases.split(","):
        runner = runner_for(rt, ctx, parse_insight_query(CASES[name]))  # one runner: the same range for both
        runner.resolve_cohorts()
        runner.resolve_materialized()
        sides = {"after": statement(funnels_builder, runner)}
        if not args.only_new:
            sides["before"] = statement(before, runner)
        if args.print_sql:
            print(sides["after"][0])
        answers: dict[str, list[Any]] = {}
        cpu: dict[str, list[float]] = {side: [] for side in sides}
        wall: dict[str, list[float]] = {side: [] for side in sides}
        for side, (text, params) in sides.items():  # warm-up, and the answers
            answers[side] = sorted((normalized(r) for r in run(text, params)[2]), key=repr)
        for _ in range(args.repeat):
            for side, (text, params) in sides.items():
                c, w, _ = run(text, params)
                cpu[side].append(c)
                wall[side].append(w)
        same = "" if args.only_new else f" identical={answers['after'] == answers['before']}"
        print(f"{name}: rows={len(answers['after'])}{same}", flush=True)
        for side in sides:
            print(
                f"  {side:6s} cpu min {min(cpu[side]):7.0f} med {statistics.median(cpu[side]):7.0f} ms;"
                f" wall min {min(wall[side]):7.0f} med {statistics.median(wall[side]):7.0f} ms",
                flush=True,
            )
        if not args.only_new:
            ratio = statistics.median(cpu["after"]) / statistics.median(cpu["before"])
            print(f"  after/before cpu (medians): {ratio:.2f}", flush=True)
    print(f"load average at end: {' '.join(Path('/proc/loadavg').read_text().split()[:3])}", flush=True)
    rt.close()


if __name__ == "__main__":
    main()
