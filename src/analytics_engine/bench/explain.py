"""`bench explain`: does the offline explainer find a planted cause? (docs/ai.md, docs/benchmarks.md)

Each scenario is a population of cells over three or four dimensions (each cell a combination of one
value per dimension) with a baseline volume and, for ratio metrics, a conversion rate. One or two
segments of one dimension get the planted change (count metrics: their volume x 0.5-0.75 or
x 1.3-1.7; ratio metrics: their rate x 0.55-0.8 or x 1.2-1.45). Decoys on top, chosen per scenario:
a mix shift (10-35% of another dimension's volume moves from one of its segments to another; ratio
rates untouched), an evenly spread change (every cell x 0.9-1.1) and, always, sampling noise
(Poisson volumes, binomial conversions). The cells are summed into every single dimension and
every pair, and ranked by the engine (`ai/decompose.py`, the ranking `POST /v1/ai/explain` uses) and
by the baseline that ranks single-dimension segments by their own absolute change.

Top-1 accuracy: the first contributor is a planted segment (its single dimension and value). Top-3
recall: the share of planted segments among the first three contributors. Target: engine top-1 at
least 90% and at least 1.3x the baseline's.
"""

from __future__ import annotations

import itertools
import random
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from analytics_engine.ai.decompose import (
    Figures,
    Group,
    MetricType,
    Segment,
    decompose,
    rank_by_absolute_change,
    rank_contributors,
    totals_of,
)
from analytics_engine.bench.common import print_table, write_result

TARGET_TOP1 = 0.9
TARGET_RATIO = 1.3


@dataclass
class Scenario:
    seed: int
    metric: MetricType
    dimension: str
    planted: tuple[str, ...]
    decoys: tuple[str, ...]
    groups: list[Group]


def _weights(rng: np.random.Generator, n: int) -> np.ndarray:
    w = rng.dirichlet(np.full(n, 1.0))
    return np.asarray(w, dtype=float)


def scenario(seed: int) -> Scenario:
    """One seeded scenario (deterministic for its seed)."""
    rnd = random.Random(seed)
    rng = np.random.default_rng(seed)
    metric: MetricType = "count" if seed % 2 == 0 else "ratio"
    n_dims = rnd.choice((3, 4))
    dims = [f"d{i}" for i in range(n_dims)]
    sizes = [rnd.randint(3, 12) for _ in dims]
    values = [[f"{d}_v{j}" for j in range(n)] for d, n in zip(dims, sizes, strict=True)]
    weights = [_weights(rng, n) for n in sizes]
    rate_mult = [np.exp(rng.normal(0, 0.25, n)) for n in sizes]
    scale = float(rnd.choice((10_000, 50_000, 200_000)))
    base_rate = rnd.uniform(0.15, 0.5)
    shape = tuple(sizes)
    volume = scale * _outer(weights)
    rate = np.clip(base_rate * _outer(rate_mult), 0.01, 0.95)
    cur_volume, cur_rate = volume.copy(), rate.copy()

    target = rnd.randrange(n_dims)
    # Planted segments carry at least 8% of their dimension's volume (a cause worth finding).
    eligible = [j for j in range(sizes[target]) if weights[target][j] >= 0.08] or [int(np.argmax(weights[target]))]
    k = 2 if (rnd.random() < 0.35 and len(eligible) >= 2) else 1
    chosen = rnd.sample(eligible, k)
    up = rnd.random() < 0.5
    for j in chosen:
        index = _slice(n_dims, target, j)
        if metric == "count":
            cur_volume[index] *= rnd.uniform(1.3, 1.7) if up else rnd.uniform(0.5, 0.75)
        else:
            cur_rate[index] *= rnd.uniform(1.2, 1.45) if up else rnd.uniform(0.55, 0.8)

    decoys: list[str] = ["noise"]
    if rnd.random() < 0.6 and n_dims > 1:
        other = rnd.choice([d for d in range(n_dims) if d != target])
        src, dst = rnd.sample(range(sizes[other]), 2)
        moved = rnd.uniform(0.1, 0.35)
        src_index, dst_index = _slice(n_dims, other, src), _slice(n_dims, other, dst)
        amount = cur_volume[src_index] * moved
        cur_volume[src_index] -= amount
        # the moved volume lands on the destination cells with the same other values
        cur_volume[dst_index] += amount
        decoys.append("mix_shift")
    if rnd.random() < 0.6:
        # Noise: one to three small segments (under 2% of their dimension) of other dimensions swing
        # by x 0.5-1.5 (their volume for counts, their rate for ratios): large relative moves that
        # change the total less than the planted cause (a larger segment moving more would be a cause).
        for _ in range(rnd.randint(1, 3)):
            other = rnd.choice([d for d in range(n_dims) if d != target])
            small = [j for j in range(sizes[other]) if weights[other][j] < 0.02]
            if not small:
                continue
            index = _slice(n_dims, other, rnd.choice(small))
            swing = rnd.uniform(0.5, 1.5)
            if metric == "count":
                cur_volume[index] *= swing
            else:
                cur_rate[index] *= swing
        decoys.append("small_segment_swing")
    if rnd.random() < 0.5:
        factor = rnd.uniform(0.9, 1.1)
        if metric == "count":
            cur_volume *= factor
        else:
            cur_rate = np.clip(cur_rate * factor, 0.0, 0.99)
        decoys.append("even_change")
    cur_rate = np.clip(cur_rate, 0.0, 0.99)

    base_den = rng.poisson(volume).astype(float)
    cur_den = rng.poisson(cur_volume).astype(float)
    if metric == "count":
        base_num, cur_num = base_den, cur_den
    else:
        base_num = rng.binomial(base_den.astype(np.int64), rate).astype(float)
        cur_num = rng.binomial(cur_den.astype(np.int64), cur_rate).astype(float)

    cells = list(itertools.product(*[range(n) for n in shape]))
    groups: list[Group] = []
    for size in (1, 2):
        for combo in itertools.combinations(range(n_dims), size):
            rows: dict[tuple[str, ...], list[float]] = {}
            for cell in cells:
                key = tuple(values[d][cell[d]] for d in combo)
                acc = rows.setdefault(key, [0.0, 0.0, 0.0, 0.0])
                acc[0] += base_num[cell]
                acc[1] += base_den[cell]
                acc[2] += cur_num[cell]
                acc[3] += cur_den[cell]
            figures = {key: Figures(*acc) for key, acc in rows.items()}
            groups.append(decompose(tuple(dims[d] for d in combo), figures, metric, totals_of(figures, metric)))
    planted = tuple(values[target][j] for j in chosen)
    return Scenario(seed, metric, dims[target], planted, tuple(decoys), groups)


def _outer(parts: list[np.ndarray]) -> np.ndarray:
    out = parts[0]
    for part in parts[1:]:
        out = np.multiply.outer(out, part)
    return np.asarray(out, dtype=float)


def _slice(n_dims: int, dim: int, index: int) -> tuple[Any, ...]:
    return tuple(index if d == dim else slice(None) for d in range(n_dims))


def _hit(seg: Segment, sc: Scenario) -> bool:
    return seg.dimensions == (sc.dimension,) and seg.values[0] in sc.planted


def score(ranked: list[Segment], sc: Scenario) -> tuple[bool, float]:
    top1 = bool(ranked) and _hit(ranked[0], sc)
    found = {seg.values[0] for seg in ranked[:3] if _hit(seg, sc)}
    return top1, len(found) / len(sc.planted)


def evaluate(scenarios: int = 240, first_seed: int = 1) -> dict[str, Any]:
    engine_top1 = baseline_top1 = 0
    engine_recall = baseline_recall = 0.0
    by_decoy: dict[str, list[int]] = {}
    elapsed = 0.0
    for seed in range(first_seed, first_seed + scenarios):
        sc = scenario(seed)
        started = time.perf_counter()
        ranked = rank_contributors(sc.groups, limit=10)
        elapsed += time.perf_counter() - started
        e1, e3 = score(ranked, sc)
        b1, b3 = score(rank_by_absolute_change(sc.groups, sc.metric, limit=10), sc)
        engine_top1 += e1
        baseline_top1 += b1
        engine_recall += e3
        baseline_recall += b3
        for decoy in (*sc.decoys, sc.metric):
            tally = by_decoy.setdefault(decoy, [0, 0, 0])
            tally[0] += 1
            tally[1] += e1
            tally[2] += b1
    n = float(scenarios)
    return {
        "scenarios": scenarios,
        "engine": {"top1": engine_top1 / n, "top3_recall": engine_recall / n},
        "baseline": {"top1": baseline_top1 / n, "top3_recall": baseline_recall / n},
        "ratio_top1": (engine_top1 / baseline_top1) if baseline_top1 else None,
        "by_decoy": {
            k: {"scenarios": v[0], "engine_top1": v[1] / v[0], "baseline_top1": v[2] / v[0]}
            for k, v in sorted(by_decoy.items())
        },
        "ranking_ms_per_scenario": elapsed / n * 1000,
    }


def run(scenarios: int = 240, seed: int = 1) -> dict[str, Any]:
    result = evaluate(scenarios, seed)
    ratio = result["ratio_top1"]
    rows = [
        ["engine (ai/decompose.py)", result["engine"]["top1"], result["engine"]["top3_recall"]],
        ["baseline (absolute change)", result["baseline"]["top1"], result["baseline"]["top3_recall"]],
    ]
    print_table(f"bench explain: {scenarios} planted-cause scenarios", ["ranking", "top-1", "top-3 recall"], rows)
    print_table(
        "by decoy / metric",
        ["decoy", "scenarios", "engine top-1", "baseline top-1"],
        [[k, v["scenarios"], v["engine_top1"], v["baseline_top1"]] for k, v in result["by_decoy"].items()],
    )
    met = result["engine"]["top1"] >= TARGET_TOP1 and ratio is not None and ratio >= TARGET_RATIO
    print(
        f"top-1 {result['engine']['top1']:.1%} vs baseline {result['baseline']['top1']:.1%}: ratio "
        f"{ratio if ratio is None else round(ratio, 2)} (target >= {TARGET_TOP1:.0%} and >= {TARGET_RATIO}x): "
        f"{'met' if met else 'NOT met'}"
    )
    result["target_met"] = met
    path = write_result("explain", result)
    print(f"wrote {path}")
    return result


# --- latency at size ---------------------------------------------------------------------------------
def _process_cpu() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


LATENCY_TARGET_SECONDS = 2.0


def latency(events: int, data_dir: Any = None, repeat: int = 3) -> dict[str, Any]:
    """`POST /v1/ai/explain`'s engine, uncached, over `events` generated events (datagen/sql_generator.py:
    plan, country, browser on every event; 180 days): the last 30 days against the 30 before, over
    plan, country and browser (3 dimensions, 3 pairs), for a trend, a funnel and retention. Same-run
    baseline: the metric itself over the two periods (the two insight runs without breakdown)."""
    import os
    import statistics
    import tempfile
    from datetime import UTC, datetime, timedelta
    from pathlib import Path
    from types import SimpleNamespace

    from analytics_engine.ai.explain import ExplainService
    from analytics_engine.ai.schemas import ExplainRequest
    from analytics_engine.config import Settings
    from analytics_engine.datagen.sql_generator import SqlGeneratorSpec, generate_in_warehouse
    from analytics_engine.errors import AppError
    from analytics_engine.insights.context import RunContext
    from analytics_engine.insights.registry import parse_query
    from analytics_engine.insights.registry import run as run_insight
    from analytics_engine.runtime import Runtime
    from analytics_engine.tenants.schemas import TenantCreate

    folder = Path(data_dir) if data_dir else Path(tempfile.mkdtemp(prefix="ae-bench-explain-"))
    runtime = Runtime.build(Settings(data_dir=folder, log_json=False, log_level="warning"))
    rows: list[list[Any]] = []
    measured: dict[str, Any] = {}
    try:
        tenant = runtime.tenants.find_by_name("bench-explain")
        generated = 0.0
        if tenant is None:
            tenant = runtime.tenants.create(TenantCreate(name="bench-explain"))
            started = time.perf_counter()
            generate_in_warehouse(runtime.warehouse, SqlGeneratorSpec(tenant_id=tenant.id, events=events, days=180))
            generated = time.perf_counter() - started
        context = SimpleNamespace(tenant_id=tenant.id, timezone="UTC", tenant_name="bench", scopes=["read"])
        today = datetime.now(UTC).date()
        period = {
            "date_from": (today - timedelta(days=30)).isoformat(),
            "date_to": (today - timedelta(days=1)).isoformat(),
        }
        baseline = {
            "date_from": (today - timedelta(days=60)).isoformat(),
            "date_to": (today - timedelta(days=31)).isoformat(),
        }
        metrics: dict[str, dict[str, Any]] = {
            "trends": {"kind": "trends", "series": [{"event": "purchase"}]},
            "funnels": {"kind": "funnels", "steps": [{"event": "signup"}, {"event": "purchase"}]},
            "retention": {"kind": "retention", "period": "week", "periods": 2},
        }
        service = ExplainService(runtime)
        load_before = os.getloadavg()[0]
        for kind, query in metrics.items():
            request = ExplainRequest.model_validate(
                {
                    "metric": {"kind": kind, "query": query},
                    "period": period,
                    "baseline": baseline,
                    "dimensions": ["plan", "country", "browser"],
                }
            )

            def bare(query: dict[str, Any] = query) -> None:
                for side in (baseline, period):
                    model = parse_query({**query, "date_range": side, "timezone": "UTC"})
                    run_insight(RunContext(runtime, context, refresh=True), model)

            def explain(request: ExplainRequest = request) -> Any:
                return service.explain(context, request, refresh=True)

            bare_times, explain_times, explain_cpu = [], [], []
            answer = None
            try:
                explain()  # warm-up
                for _ in range(repeat):
                    started = time.perf_counter()
                    bare()
                    bare_times.append(time.perf_counter() - started)
                    started, cpu = time.perf_counter(), _process_cpu()
                    answer = explain()
                    explain_times.append(time.perf_counter() - started)
                    explain_cpu.append(_process_cpu() - cpu)
            except AppError as exc:  # a statement past the tenant's time limit: recorded, the rest goes on
                measured[kind] = {"error": f"{exc.code}: {exc.message}", "completed_runs": len(explain_times)}
                rows.append([kind, float("nan"), float("nan"), float("nan"), float("nan"), exc.code])
                print(f"{kind}: {exc.code} after {len(explain_times)} timed runs")
                continue
            e, b = statistics.median(explain_times), statistics.median(bare_times)
            c = statistics.median(explain_cpu)
            print(f"{kind}: explain {e:.2f} s (process CPU {c:.2f} s), bare metric {b:.2f} s")
            top = answer.contributors[0] if answer and answer.contributors else None
            measured[kind] = {
                "explain_seconds": round(e, 3),
                # the process's CPU time (chDB runs in it): robust to the machine's load, unlike wall time
                "explain_cpu_seconds": round(c, 3),
                "bare_metric_seconds": round(b, 3),
                "ratio": round(e / b, 2) if b else None,
                "evidence_entries": len(answer.evidence) - 1 if answer else 0,  # funnels, retention: 2 statements
                "top": f"{top.dimension} = {top.value}" if top else None,
            }
            rows.append([kind, e, c, b, e / b if b else 0.0, measured[kind]["top"]])
        count = (
            runtime.warehouse.platform("bench explain: count")
            .query(
                f"SELECT count() FROM {runtime.warehouse.table('events')} WHERE tenant_id = {{t:String}}",
                {"t": tenant.id},
            )
            .scalar()
        )
    finally:
        runtime.close()
    print_table(
        f"explain latency, {count:,} events (load average {load_before:.1f} on {os.cpu_count()} CPUs)",
        ["metric", "explain s (median)", "explain CPU s", "bare metric s", "ratio", "top contributor"],
        rows,
    )
    worst = max((m.get("explain_seconds", float("inf")) for m in measured.values()), default=0.0)
    print(f"slowest explain {worst:.2f} s (target < {LATENCY_TARGET_SECONDS} s at 10M events)")
    result = {
        "events": int(count),
        "generate_seconds": round(generated, 1),
        "data_dir": str(folder),
        "repeat": repeat,
        "load_average_1m": round(load_before, 2),
        "metrics": measured,
        "target_seconds": LATENCY_TARGET_SECONDS,
    }
    print(f"wrote {write_result('explain-latency', result)}")
    return result
