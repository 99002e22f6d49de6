"""`bench insights`: p50/p95 of each insight kind on one tenant holding N events (10M by default)
among 20 smaller tenants, served from rollups and raw events, from the cache, and in the same run
the bare ClickHouse time of the very SQL the runner generates (`to_sql()`): the engine's overhead.

Data is generated inside ClickHouse (`datagen/sql_generator.py`, about 100k events/s on 2 cores);
with `--data-dir` it is kept and reused by later runs (generation is skipped when the tenants
already hold the events asked for).
"""

from __future__ import annotations

import gc
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from analytics_engine.bench.common import write_result
from analytics_engine.budgets import BudgetUpdate
from analytics_engine.config import Settings
from analytics_engine.datagen.sql_generator import SqlGeneratorSpec, count_events, generate_in_warehouse
from analytics_engine.errors import AppError
from analytics_engine.runtime import Runtime
from analytics_engine.tenants.schemas import TenantCreate
from analytics_engine.tenants.service import TenantContext

console = Console(width=max(160, Console().width))
BIG = "bench-big"
SMALL = "bench-small-{n:02d}"
SMALL_TENANTS = 20
TARGETS_MS = {
    "funnel_5_steps": 1000.0,
    "paths_5_steps": 1000.0,
    "funnel_correlation": 2000.0,
    "group_funnel_5_steps": 1000.0,
    "retention_12_weeks": 1000.0,
    "trends_rollup": 50.0,
    "trends_filter_plan_materialized": 50.0,
    "cached": 5.0,
}
TARGET_OVERHEAD = 1.3
SLOW_SECONDS, SLOW_REPEAT = 5.0, 3

# The questions asked of the big tenant: one per kind, the shapes users ask most.
FUNNEL_5_STEPS: dict[str, Any] = {
    "kind": "funnels",
    "steps": [
        {"event": "signup"},
        {"event": "activated"},
        {"event": "feature_used"},
        {"event": "pageview"},
        {"event": "purchase"},
    ],
    "conversion_window": {"value": 14, "unit": "day"},
    "date_range": {"date_from": "-90d"},
}
CASES: list[tuple[str, dict[str, Any]]] = [
    (
        "trends_rollup",
        {
            "kind": "trends",
            "series": [{"event": "pageview", "math": "total"}, {"event": "pageview", "math": "unique_users"}],
            "interval": "day",
            "date_range": {"date_from": "-90d"},
        },
    ),
    (
        "trends_raw",
        {
            "kind": "trends",
            "series": [{"event": "pageview", "math": "total"}, {"event": "pageview", "math": "unique_users"}],
            "interval": "day",
            "date_range": {"date_from": "-90d"},
            "filters": [{"type": "property", "key": "browser", "operator": "is_set"}],
        },
    ),
    (
        "trends_filter_plan",
        {
            "kind": "trends",
            "series": [{"event": "pageview", "math": "total"}, {"event": "pageview", "math": "unique_users"}],
            "interval": "day",
            "date_range": {"date_from": "-90d"},
            "filters": [{"type": "property", "key": "plan", "operator": "eq", "value": "pro"}],
        },
    ),
    (
        # A breakdown by plan: served from the property rollup once plan is materialized (issue 18).
        "trends_breakdown_plan",
        {
            "kind": "trends",
            "series": [{"event": "pageview", "math": "total"}, {"event": "pageview", "math": "unique_users"}],
            "interval": "week",
            "date_range": {"date_from": "-90d"},
            "breakdown": ["plan"],
        },
    ),
    (
        "trends_breakdown_raw",
        {
            "kind": "trends",
            "series": [{"event": "purchase", "math": "sum", "math_property": "amount"}],
            "interval": "week",
            "date_range": {"date_from": "-180d"},
            "breakdown": ["plan"],
        },
    ),
    ("funnel_5_steps", FUNNEL_5_STEPS),
    # The same funnel counted by company (docs/groups.md): each company is one unit.
    ("group_funnel_5_steps", {**FUNNEL_5_STEPS, "aggregation": {"group": "company"}}),
    (
        "retention_12_weeks",
        {
            "kind": "retention",
            "start_event": {"event": "signup"},
            "return_event": {"event": None},
            "period": "week",
            "periods": 12,
            "date_range": {"date_from": "-90d"},
        },
    ),
    (
        "paths_5_steps",
        {
            "kind": "paths",
            "start_event": "signup",
            "steps": 5,
            "path_cleaning": [{"regex": "^feature_(.*)$", "alias": "feature"}],
            "date_range": {"date_from": "-90d"},
        },
    ),
    (
        "engagement_dau_wau_mau",
        {"kind": "engagement", "measure": "active_users", "interval": "day", "date_range": {"date_from": "-90d"}},
    ),
    (
        "engagement_lifecycle",
        {"kind": "engagement", "measure": "lifecycle", "interval": "week", "date_range": {"date_from": "-90d"}},
    ),
]


@dataclass(frozen=True)
class Correlation:
    """A funnel correlation case (not an insight kind: its own route, `insights/correlation.py`)."""

    funnel: dict[str, Any]
    options: dict[str, Any]

    def runner(self, runtime: Runtime, tenant: TenantContext) -> Any:
        from analytics_engine.insights.correlation import CorrelationOptions, FunnelCorrelationRunner
        from analytics_engine.insights.models import FunnelsQuery

        query = FunnelsQuery.model_validate(self.funnel)
        return FunnelCorrelationRunner(runtime, tenant, query, CorrelationOptions.model_validate(self.options))


# Funnel correlation (issue 25): a 3-step funnel, every other event and the entry's plan and browser.
CORRELATION_CASES = {
    "funnel_correlation": Correlation(
        {
            "kind": "funnels",
            "steps": [{"event": "signup"}, {"event": "activated"}, {"event": "purchase"}],
            "conversion_window": {"value": 14, "unit": "day"},
            "date_range": {"date_from": "-90d"},
        },
        {"properties": ["plan", "browser"]},
    )
}


# Asked again once `plan` is a materialized column of the big tenant (issue 18: a trend with a filter on
# a materialized property, p95 < 50 ms at 10M events); the first run of each reads the JSON properties.
MATERIALIZED_PATH = "plan"
MATERIALIZED_CASES = ("trends_filter_plan", "trends_breakdown_plan", "trends_breakdown_raw")


@dataclass
class Timings:
    engine: list[float] = field(default_factory=list)
    bare: list[float] = field(default_factory=list)
    cached: list[float] = field(default_factory=list)
    # Answers read from a materialized column: the runner's SQL without the column (JSON properties),
    # run bare and alternated with the rest, so the two see the same machine load.
    bare_json: list[float] = field(default_factory=list)
    # Answers from a rollup of a filtered or broken-down trend (the property rollup): the raw path's
    # SQL (the same runner with rollups off, reading the column), run bare and alternated likewise.
    bare_raw: list[float] = field(default_factory=list)
    same_as_raw: bool | None = None  # the rollup's answer equal to the raw path's (series and totals)
    path: str | None = None
    cache_misses: int = 0

    def summary(self) -> dict[str, Any]:
        engine, bare, cached = (percentiles(values) for values in (self.engine, self.bare, self.cached))
        extra: dict[str, Any] = {}
        if self.bare_json:
            json_ms = percentiles(self.bare_json)
            extra = {
                "bare_json_ms": json_ms,
                "json_over_column_p50": round(json_ms["p50"] / bare["p50"], 2) if bare["p50"] else None,
            }
        if self.bare_raw:
            raw_ms = percentiles(self.bare_raw)
            extra["bare_raw_ms"] = raw_ms
            extra["raw_over_rollup_p50"] = round(raw_ms["p50"] / bare["p50"], 2) if bare["p50"] else None
            extra["raw_over_rollup_p95"] = round(raw_ms["p95"] / bare["p95"], 2) if bare["p95"] else None
            extra["same_answer_as_raw"] = self.same_as_raw
        return {
            **extra,
            "engine_ms": engine,
            "bare_clickhouse_ms": bare,
            "cached_ms": cached,
            "overhead_p50": round(engine["p50"] / bare["p50"], 3) if bare["p50"] else None,
            "overhead_p95": round(engine["p95"] / bare["p95"], 3) if bare["p95"] else None,
            "path": self.path,
            "cache_misses": self.cache_misses,
        }


def percentiles(values: list[float]) -> dict[str, float]:
    """p50 and p95 in milliseconds (nearest rank: p95 of 20 samples is the 19th)."""
    if not values:
        return {"p50": 0.0, "p95": 0.0, "n": 0}
    ordered = sorted(values)

    def rank(p: float) -> float:
        return ordered[max(0, min(len(ordered) - 1, int(-(-p * len(ordered) // 1)) - 1))] * 1000

    return {"p50": round(statistics.median(ordered) * 1000, 3), "p95": round(rank(0.95), 3), "n": len(ordered)}


def timed(call: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = call()
    return time.perf_counter() - started, result


# --- data ------------------------------------------------------------------------------------------
def tenant_context(runtime: Runtime, name: str) -> TenantContext:
    """Find or create the bench tenant `name`; its budget has no daily cap (the bench's own load)."""
    found = next((t for t in runtime.tenants.list() if t.name == name), None)
    tenant = found or runtime.tenants.create(TenantCreate(name=name))
    runtime.budgets.set_budget(tenant.id, BudgetUpdate(query_seconds_per_day=0, max_concurrent_queries=0))
    return TenantContext(
        tenant_id=tenant.id, tenant_name=tenant.name, timezone=tenant.timezone, scopes=frozenset({"read"}), key_id=""
    )


def ensure_data(runtime: Runtime, big_events: int, small_events: int) -> dict[str, Any]:
    """Generate what is missing: `big_events` for the big tenant and `small_events` spread over 20."""
    plan = [(BIG, big_events, 1)] + [
        (SMALL.format(n=n), small_events // SMALL_TENANTS, 100 + n) for n in range(SMALL_TENANTS)
    ]
    contexts = {name: tenant_context(runtime, name) for name, _, _ in plan}
    todo = []
    for name, wanted, seed in plan:
        have = count_events(runtime.warehouse, contexts[name].tenant_id)
        if have not in (0, wanted):
            raise RuntimeError(f"{name} holds {have} events, not {wanted}: use a fresh --data-dir")
        if have == 0 and wanted:
            todo.append((name, wanted, seed))
    generated_seconds = 0.0
    total = sum(wanted for _, wanted, _ in todo)
    if todo:
        with Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=console,
        ) as progress:
            task = progress.add_task("generating events in ClickHouse", total=total)
            started = time.perf_counter()
            for name, wanted, seed in todo:
                spec = SqlGeneratorSpec(contexts[name].tenant_id, wanted, days=180, seed=seed)
                generate_in_warehouse(runtime.warehouse, spec, on_progress=lambda n: progress.advance(task, n))
            generated_seconds = time.perf_counter() - started
    return {
        "contexts": contexts,
        "generated_events": total,
        "generated_seconds": round(generated_seconds, 1),
        "events_per_second": round(total / generated_seconds) if generated_seconds else None,
    }


def unmaterialize(runtime: Runtime, tenant: TenantContext) -> None:
    """Start from the JSON properties: unlink the tenant from a column an earlier run made (the drop
    job waits for `serve`; the next `materialize` takes the column back)."""
    for item in runtime.materialized.list(tenant.tenant_id).items:
        runtime.materialized.delete(tenant.tenant_id, item.id)


def materialize(runtime: Runtime, tenant: TenantContext) -> dict[str, Any]:
    """Materialize MATERIALIZED_PATH for the tenant and wait for its backfill (a job of the runner)."""
    from analytics_engine.materialized.schemas import MaterializedPropertyCreate

    console.print(f"[bold]materializing {MATERIALIZED_PATH}[/bold] (ADD COLUMN + MATERIALIZE COLUMN) ...")
    started = time.perf_counter()
    body = MaterializedPropertyCreate(path=MATERIALIZED_PATH, type="string")
    created = runtime.materialized.create(tenant.tenant_id, body, wait=True)
    seconds = round(time.perf_counter() - started, 1)
    console.print(f"  {created.column}: {created.state} in {seconds} s")
    return {"column": created.column, "state": created.state, "seconds": seconds}


# --- measuring -------------------------------------------------------------------------------------
def measure(runtime: Runtime, tenant: TenantContext, query: Any, repeat: int) -> Timings:
    """Engine (refresh, so no cache) and bare ClickHouse alternate run by run, so both see the same
    machine load; then the cached path. `query`: a parsed insight query, or a `Correlation` case."""
    from analytics_engine.insights import runner_for

    def make() -> Any:
        return query.runner(runtime, tenant) if isinstance(query, Correlation) else runner_for(runtime, tenant, query)

    def run_insight(runtime: Runtime, tenant: TenantContext, query: Any, *, refresh: bool) -> Any:
        return make().run(refresh=refresh)

    timings = Timings()
    statements, settings = bare_statements(runtime, tenant, query, runner=make())
    warm_up, first = timed(lambda: run_insight(runtime, tenant, query, refresh=True))  # and what served it
    timings.path = (
        first.served_by
        + (f":{first.served_from}" if getattr(first, "served_from", None) else "")
        + ("+column" if first.materialized_properties else "")
    )
    bare_query(runtime, statements, settings)
    json_statements = raw_statements = None
    if first.materialized_properties:
        json_statements, _ = bare_statements(runtime, tenant, query, materialized=False, runner=make())
        bare_query(runtime, json_statements, settings)
    if first.served_by == "property_rollup":
        raw_runner = make()
        raw_runner.allow_rollups = False
        raw_statements, _ = bare_statements(runtime, tenant, query, runner=raw_runner)
        bare_query(runtime, raw_statements, settings)
        raw_answer = make()
        raw_answer.allow_rollups = False
        timings.same_as_raw = _series_of(raw_answer.run(refresh=True)) == _series_of(first)
    if warm_up > SLOW_SECONDS:  # far past every target already: a few runs tell as much
        repeat = min(repeat, SLOW_REPEAT)
    for _ in range(repeat):
        seconds, _ = timed(lambda: run_insight(runtime, tenant, query, refresh=True))
        timings.engine.append(seconds)
        seconds, _ = timed(lambda: bare_query(runtime, statements, settings))
        timings.bare.append(seconds)
        if json_statements is not None:
            seconds, _ = timed(lambda: bare_query(runtime, json_statements, settings))
            timings.bare_json.append(seconds)
        if raw_statements is not None:
            seconds, _ = timed(lambda: bare_query(runtime, raw_statements, settings))
            timings.bare_raw.append(seconds)
    for _ in range(repeat):
        seconds, answer = timed(lambda: run_insight(runtime, tenant, query, refresh=False))
        timings.cached.append(seconds)
        timings.cache_misses += 0 if answer.cached else 1
    return timings


def _series_of(answer: Any) -> list[tuple[Any, ...]]:
    return sorted((s.label, s.total, tuple(p.value for p in s.points)) for s in answer.series)


def bare_statements(
    runtime: Runtime, tenant: TenantContext, query: Any, *, materialized: bool = True, runner: Any = None
) -> tuple[list[tuple[str, dict[str, Any], dict[str, Any]]], dict[str, Any]]:
    """The runner's own statements (`to_sql()`: text, parameters with the tenant bound, the statement's
    own settings), with the budget settings the engine adds to each; `materialized=False`: as if no
    property were materialized."""
    from analytics_engine.insights import runner_for

    runner = runner or runner_for(runtime, tenant, query)
    runner.resolve_cohorts()
    if materialized:
        runner.resolve_materialized()
    statements = [(s.text, {**s.params, "tenant_id": tenant.tenant_id}, s.settings or {}) for s in runner.to_sql()]
    return statements, runtime.budgets.query_settings(tenant.tenant_id)


def bare_query(
    runtime: Runtime, statements: list[tuple[str, dict[str, Any], dict[str, Any]]], settings: dict[str, Any]
) -> list[list[Any]]:
    """clickhouse-connect straight on a pooled connection: no facade, no runner, no result model,
    no cache, no budget gate; the rows fetched as Python tuples all the same."""
    from analytics_engine.warehouse.client import render_settings, translate_error

    base = {"max_execution_time": runtime.warehouse.query_timeout, **settings}
    try:
        with runtime.warehouse.connection() as client:
            return [
                list(client.query(text + render_settings({**base, **own}), parameters=params).result_rows)
                for text, params, own in statements
            ]
    except Exception as exc:
        raise translate_error(exc) from exc


def run(
    events: int,
    small_events: int,
    repeat: int,
    data_dir: Path | None,
    cache_url: str | None = None,
    *,
    only: set[str] | None = None,
) -> dict[str, Any]:
    try:
        from analytics_engine.insights import run_insight, runner_for  # noqa: F401
        from analytics_engine.insights.models import parse_insight_query
    except ImportError as exc:
        raise RuntimeError(f"the insight runners are not available: {exc}") from exc

    folder = data_dir or Path(tempfile.mkdtemp(prefix="ae-bench-insights-"))
    settings = Settings(data_dir=folder, log_level="warning", log_json=False, cache_url=cache_url)
    runtime = Runtime.build(settings)
    try:
        data = ensure_data(runtime, events, small_events)
        big = data["contexts"][BIG]
        small = data["contexts"][SMALL.format(n=0)]
        gc.collect()
        load_before = os.getloadavg()[0]
        results: dict[str, Any] = {}
        rows: list[list[str | float]] = []
        unmaterialize(runtime, big)
        cases: list[tuple[str, TenantContext, dict[str, Any] | Correlation]] = [
            (name, big, spec) for name, spec in CASES
        ]
        cases.append(("trends_rollup_small_tenant", small, CASES[0][1]))
        specs = dict(CASES)
        cases += [(f"{name}_materialized", big, specs[name]) for name in MATERIALIZED_CASES]
        cases += [(name, big, case) for name, case in CORRELATION_CASES.items()]
        if only:
            unknown = only - {name for name, _, _ in cases}
            if unknown:
                raise ValueError(f"unknown cases: {', '.join(sorted(unknown))}")
            cases = [case for case in cases if case[0] in only]
        for name, tenant, spec in cases:
            query = spec if isinstance(spec, Correlation) else parse_insight_query(spec)
            if name == f"{MATERIALIZED_CASES[0]}_materialized":
                results["materialize_backfill"] = materialize(runtime, big)
            console.print(f"[bold]{name}[/bold] ...")
            try:
                timing = measure(runtime, tenant, query, repeat)
            except AppError as exc:  # a kind failing (a timeout...) is a finding, not the end of the run
                console.print(f"  [red]{name} failed[/red]: {exc.code}: {exc.message}")
                results[name] = {"error": {"code": exc.code, "message": exc.message}}
                rows.append([name, "error", exc.code, "", "", "", "", "", ""])
                continue
            summary = timing.summary()
            results[name] = summary
            rows.append(
                [
                    name,
                    summary["path"] or "",
                    summary["engine_ms"]["p50"],
                    summary["engine_ms"]["p95"],
                    summary["bare_clickhouse_ms"]["p50"],
                    summary["bare_clickhouse_ms"]["p95"],
                    summary["overhead_p50"] or 0.0,
                    summary["cached_ms"]["p50"],
                    summary["cached_ms"]["p95"],
                ]
            )
        verdict = targets(results)
        load = (round(load_before, 1), round(os.getloadavg()[0], 1))
        verdict["lines"].append(
            f"machine load average (1 min) at start / end: {load[0]} / {load[1]} on {os.cpu_count()} cores; "
            "absolute times scale with it, the engine/bare ratios much less (the two run interleaved)"
        )
        print_table(
            console,
            f"bench insights: {events:,} events in one tenant, {small_events:,} over {SMALL_TENANTS} others; "
            f"cache {runtime.cache.name}",
            ["case", "path", "p50 ms", "p95 ms", "bare p50", "bare p95", "overhead", "cached p50", "cached p95"],
            rows,
        )
        for line in verdict["lines"]:
            console.print(line)
        for name, summary in results.items():
            if "bare_json_ms" in summary:
                col, raw = summary["bare_clickhouse_ms"], summary["bare_json_ms"]
                console.print(
                    f"{name}: the same SQL on the materialized column p50 {col['p50']:.1f} / p95 {col['p95']:.1f} ms, "
                    f"on the JSON properties p50 {raw['p50']:.1f} / p95 {raw['p95']:.1f} ms (alternated, bare)"
                )
            if "bare_raw_ms" in summary:
                rolled, raw = summary["bare_clickhouse_ms"], summary["bare_raw_ms"]
                console.print(
                    f"{name}: from the property rollup p50 {rolled['p50']:.1f} / p95 {rolled['p95']:.1f} ms, "
                    f"the raw path (column) p50 {raw['p50']:.1f} / p95 {raw['p95']:.1f} ms (alternated, bare); "
                    f"same answer: {summary['same_answer_as_raw']}"
                )
        document = {
            "events_big_tenant": events,
            "events_other_tenants": small_events,
            "repeat": repeat,
            "cache": runtime.cache.name,
            "load_average_start_end": load,
            "generation": {k: v for k, v in data.items() if k != "contexts"},
            "cases": results,
            "targets": {**TARGETS_MS, "overhead": TARGET_OVERHEAD},
            "met": verdict["met"],
            "data_dir": str(folder),
        }
        document["file"] = str(write_result("insights", document))
        return document
    finally:
        runtime.close()


def print_table(out: Console, title: str, columns: list[str], rows: list[list[Any]]) -> None:
    table = Table(*columns, title=title)
    for row in rows:
        table.add_row(*[f"{cell:,.2f}" if isinstance(cell, float) else str(cell) for cell in row])
    out.print(table)


def targets(results: dict[str, Any]) -> dict[str, Any]:
    met: dict[str, bool] = {}
    lines = []
    failed = [n for n, r in results.items() if "error" in r and "engine_ms" not in r]
    results = {n: r for n, r in results.items() if "error" not in r and "engine_ms" in r}
    for name in failed:
        met[name] = False
        lines.append(f"{name}: failed {_mark(False)}")
    for name in (
        "funnel_5_steps",
        "paths_5_steps",
        "funnel_correlation",
        "group_funnel_5_steps",
        "retention_12_weeks",
        "trends_rollup",
        "trends_filter_plan_materialized",
    ):
        if name in results:
            p95 = results[name]["engine_ms"]["p95"]
            met[name] = p95 < TARGETS_MS[name]
            lines.append(f"{name}: p95 {p95:.1f} ms (target < {TARGETS_MS[name]:.0f} ms) {_mark(met[name])}")
    cached = max((r["cached_ms"]["p95"] for r in results.values()), default=0.0)
    met["cached"] = cached < TARGETS_MS["cached"]
    lines.append(f"cached: worst p95 {cached:.2f} ms (target < 5 ms) {_mark(met['cached'])}")
    overheads = {n: r["overhead_p50"] for n, r in results.items() if r["overhead_p50"]}
    worst = max(overheads.values()) if overheads else 0.0
    met["overhead"] = worst <= TARGET_OVERHEAD
    lines.append(
        f"engine overhead (engine p50 / bare ClickHouse p50 of the same SQL): worst {worst:.2f}x "
        f"(target <= {TARGET_OVERHEAD}x) {_mark(met['overhead'])}"
    )
    return {"met": met, "lines": lines}


def _mark(ok: bool) -> str:
    return "[green]met[/green]" if ok else "[red]missed[/red]"
