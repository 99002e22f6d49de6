"""`bench cohorts`: evaluation time of a 3-criteria behavioural cohort over N generated events, and a
funnel filtered by that cohort against the same funnel unfiltered (the same-run baseline).

Events are generated inside the warehouse (`INSERT ... SELECT FROM numbers()`), so the persons
materialized views run exactly as they do on ingest. Target: evaluation < 2 s at 10M events.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from analytics_engine.bench.common import print_table, write_result
from analytics_engine.cohorts.compiler import Compiler
from analytics_engine.cohorts.schemas import CohortCreate, EvaluationResult, Group
from analytics_engine.config import Settings
from analytics_engine.runtime import Runtime
from analytics_engine.tenants.schemas import TenantCreate

DAYS = 90
COHORT = {
    "type": "group",
    "operator": "and",
    "criteria": [
        {"type": "event", "event": "purchase", "operator": "at_least", "count": 2, "window": {"last_days": 30}},
        {
            "type": "event",
            "event": "feature_used",
            "operator": "at_least",
            "count": 1,
            "window": {"last_days": 14},
            "properties": [{"key": "feature", "operator": "eq", "value": "reports"}],
        },
        {
            "type": "not_performed",
            "event": "pageview",
            "window": {"last_days": 30},
            "properties": [{"key": "path", "operator": "eq", "value": "/cancel"}],
        },
    ],
}


def generate(runtime: Runtime, tenant_id: str, events: int) -> float:
    """N events over 90 days for N/50 users: 2% signup, 10% purchase, 20% feature_used, rest pageview."""
    users = max(1000, events // 50)
    table = runtime.warehouse.table("events")
    chunk = 2_000_000
    started = time.perf_counter()
    for offset in range(0, events, chunk):
        size = min(chunk, events - offset)
        runtime.warehouse.command(
            f"INSERT INTO {table} (tenant_id, event, distinct_id, timestamp, event_id, received_at, properties) "
            "SELECT {tenant:String}, ev, concat('u', toString(cityHash64(n, 1) % {users:UInt64})), ts, "
            "generateUUIDv4(n), ts, CAST(props AS JSON) FROM ("
            "  SELECT number + {offset:UInt64} AS n, cityHash64(n, 3) % 100 AS r,"
            "    multiIf(r < 2, 'signup', r < 12, 'purchase', r < 32, 'feature_used', 'pageview') AS ev,"
            "    now64(3) - toIntervalMillisecond(cityHash64(n, 2) % {span:UInt64}) AS ts,"
            "    concat('{\"plan\":\"', ['free', 'pro', 'team'][1 + cityHash64(n, 4) % 3],"
            "      '\",\"country\":\"', ['NO', 'SE', 'DE', 'US', 'GB'][1 + cityHash64(n, 5) % 5], '\"',"
            "      multiIf(ev = 'purchase', concat(',\"amount\":', toString(cityHash64(n, 6) % 200)),"
            "              ev = 'feature_used', concat(',\"feature\":\"', ['reports', 'export', 'share', 'search']"
            "                [1 + cityHash64(n, 7) % 4], '\"'),"
            "              ev = 'pageview', concat(',\"path\":\"', ['/', '/pricing', '/docs', '/cancel', '/app']"
            "                [1 + cityHash64(n, 8) % 5], '\"'), ''), '}') AS props"
            "  FROM numbers({size:UInt64}))",
            {
                "tenant": tenant_id,
                "users": users,
                "offset": offset,
                "size": size,
                "span": DAYS * 86_400_000,
            },
        )
    return time.perf_counter() - started


def settle(runtime: Runtime, limit: float = 300.0) -> float:
    """Wait until the background merges of the freshly generated parts are done (steady state),
    so the measures below do not compete with them for the CPU."""
    started = time.perf_counter()
    while time.perf_counter() - started < limit:
        running = runtime.warehouse.query(
            "SELECT count() FROM system.merges WHERE database = {db:String}", {"db": runtime.warehouse.database}
        ).scalar()
        if not running:
            break
        time.sleep(1)
    return time.perf_counter() - started


def timed(fn: Any, repeat: int) -> tuple[float, Any]:
    """Median seconds over `repeat` runs, and the last result."""
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def funnel(runtime: Runtime, tenant: Any, cohort_id: str | None) -> Any:
    from analytics_engine.insights.funnels import FunnelsRunner
    from analytics_engine.insights.models import FunnelsQuery

    query: dict[str, Any] = {
        "kind": "funnels",
        "steps": [{"event": "signup"}, {"event": "feature_used"}, {"event": "purchase"}],
        "conversion_window": {"value": 14, "unit": "day"},
        "date_range": {"date_from": f"-{DAYS}d"},
    }
    if cohort_id:
        query["filters"] = [{"type": "cohort", "cohort_id": cohort_id, "operator": "in"}]
    answer = FunnelsRunner(runtime, tenant, FunnelsQuery(**query)).run(refresh=True)
    return answer


def run(events: int, repeat: int = 3, data_dir: Path | None = None) -> dict[str, Any]:
    folder = data_dir or Path(tempfile.mkdtemp(prefix="ae-bench-cohorts-"))
    runtime = Runtime.build(Settings(data_dir=folder, log_json=False, log_level="warning"))
    try:
        tenant = runtime.tenants.find_by_name("bench-cohorts")
        generate_seconds = 0.0
        if tenant is None:  # a fresh folder; with --data-dir of an earlier run, its events are reused
            tenant = runtime.tenants.create(TenantCreate(name="bench-cohorts"))
            generate_seconds = generate(runtime, tenant.id, events)
        events = int(
            runtime.warehouse.query(
                f"SELECT count() FROM {runtime.warehouse.table('events')} WHERE tenant_id = {{t:String}}",
                {"t": tenant.id},
            ).scalar()
        )
        settle_seconds = settle(runtime)
        load_before = os.getloadavg()[0]
        service = runtime.cohorts
        cohort = service.create(
            tenant.id, CohortCreate(name=f"engaged buyers {time.time_ns()}", definition=Group(**COHORT))
        )

        compiler = Compiler(runtime.warehouse.table, tenant.id, time_now(), lambda _: 0)
        members_sql = compiler.members_sql(Group(**COHORT))
        member_seconds, members = timed(
            lambda: runtime.warehouse.query(f"SELECT count() FROM ({members_sql})", compiler.params).scalar(), repeat
        )
        evaluations: list[EvaluationResult] = []

        def evaluate_once() -> EvaluationResult:
            evaluations.append(service.evaluate(tenant.id, cohort.id, trigger="bench"))
            return evaluations[-1]

        evaluation_seconds, result = timed(evaluate_once, repeat)
        publish_seconds = statistics.median(e.duration_ms for e in evaluations) / 1000
        analysis_seconds = statistics.median(e.analysis_ms for e in evaluations) / 1000

        context = SimpleNamespace(tenant_id=tenant.id, timezone="UTC", tenant_name="bench", scopes=["read"])
        funnel(runtime, context, None)  # warm-up
        baseline_seconds, plain = timed(lambda: funnel(runtime, context, None), repeat)
        filtered_seconds, filtered = timed(lambda: funnel(runtime, context, cohort.id), repeat)
    finally:
        runtime.close()

    result_doc = {
        "events": events,
        "users": max(1000, events // 50),
        "generate_seconds": round(generate_seconds, 2),
        "merges_settled_seconds": round(settle_seconds, 1),
        "cohort_size": result.size,
        "membership_query_seconds": round(member_seconds, 3),
        "evaluation_seconds": round(evaluation_seconds, 3),
        "evaluation_publish_seconds": round(publish_seconds, 3),
        "evaluation_analysis_seconds": round(analysis_seconds, 3),
        "funnel_unfiltered_seconds": round(baseline_seconds, 3),
        "funnel_filtered_seconds": round(filtered_seconds, 3),
        "funnel_ratio_filtered_to_unfiltered": round(filtered_seconds / baseline_seconds, 3),
        "funnel_entered_unfiltered": _entered(plain),
        "funnel_entered_filtered": _entered(filtered),
        "repeat": repeat,
        "load_average_1m": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "targets": {"evaluation_seconds": 2.0},
    }
    assert members == result.size, (members, result.size)
    print_table(
        f"bench cohorts ({events:,} events, cohort of {result.size:,}; load average {load_before:.1f} on "
        f"{os.cpu_count()} CPUs)",
        ["measure", "seconds (median)", "note"],
        [
            ["generate events (with persons MVs)", generate_seconds, ""],
            ["wait for background merges to finish", settle_seconds, "not measured below"],
            ["membership query (3 criteria)", member_seconds, ""],
            ["evaluation, whole job", evaluation_seconds, "target < 2 s"],
            ["  of which: members written, compared, published", publish_seconds, "readers see it here"],
            ["  of which: retention by signup week stored", analysis_seconds, "after the publish"],
            ["funnel, 3 steps, unfiltered (baseline)", baseline_seconds, f"entered {_entered(plain)}"],
            ["funnel, filtered by the cohort", filtered_seconds, f"entered {_entered(filtered)}"],
            ["ratio filtered / unfiltered", filtered_seconds / baseline_seconds, ""],
        ],
    )
    result_doc["file"] = str(write_result("cohorts", result_doc))
    return result_doc


def time_now() -> Any:
    from datetime import UTC, datetime

    return datetime.now(UTC)


def _entered(answer: Any) -> int | None:
    """People who entered the funnel (first step), for the record."""
    if not answer.funnel:
        return None
    entered: int = sum(part.steps[0].count for part in answer.funnel if part.steps)
    return entered
