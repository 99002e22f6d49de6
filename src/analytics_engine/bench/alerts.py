"""`bench alerts`: 1,000 alert rules of one tenant evaluated in one `alert_evaluation` job (target
under 60 s on 2 cores at 10M events), against the same-run baseline of evaluating rules one at a
time (each rule its own fetch), measured on a sample and scaled to the same number of rules.

The rules mix every source (daily and hourly trends of every generated event and math, a funnel's
conversion and its trend, retention at period 1 and 2, active users, a registry metric, SLA
signals) and every condition (threshold, relative, anomaly with several detectors, forecast), so
they fall into about 25 groups that share one fetch each. Both measures compute afresh (`refresh`:
no result-cache reads). Data: an existing folder (`analytics-engine generate` into it, then
`--data-dir`); the tenant is `--tenant` (default `gen-1`, what `generate` creates).
"""

from __future__ import annotations

import random
import statistics
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from sqlalchemy import delete, select

from analytics_engine.alerts.lifecycle import register_jobs
from analytics_engine.alerts.models import AlertRule
from analytics_engine.alerts.schemas import AlertCreate
from analytics_engine.alerts.service import JOB_KIND
from analytics_engine.bench.common import print_table, write_result
from analytics_engine.config import Settings
from analytics_engine.runtime import Runtime
from analytics_engine.tenants.service import TenantContext

console = Console()
TARGET_SECONDS = 60.0
NAME_PREFIX = "bench-alert-"

EVENTS = ["pageview", "signup", "activated", "feature_used", "purchase"]


def _trend(event: str, math: str = "total", interval: str = "day") -> dict[str, Any]:
    return {"kind": "trends", "series": [{"event": event, "math": math}], "interval": interval}


def sources(metric_id: str) -> list[tuple[dict[str, Any], bool]]:
    """(source, gives a time series) for every group of the mix."""
    out: list[tuple[dict[str, Any], bool]] = []
    for event in EVENTS:
        for math in ("total", "unique_users"):
            out.append(({"type": "insight", "query": _trend(event, math)}, True))
    out.append(({"type": "insight", "query": _trend("pageview", interval="hour")}, True))
    out.append(({"type": "insight", "query": _trend("signup", interval="hour")}, True))
    funnel = {"kind": "funnels", "steps": [{"event": "signup"}, {"event": "activated"}, {"event": "purchase"}]}
    out.append(({"type": "insight", "query": funnel, "step": 2}, False))
    out.append(({"type": "insight", "query": funnel, "step": 3}, False))
    out.append(({"type": "insight", "query": {**funnel, "interval": "day"}}, True))
    retention = {"kind": "retention", "start_event": {"event": "signup"}, "period": "week", "periods": 4}
    out.append(({"type": "insight", "query": retention, "period": 1}, True))
    out.append(({"type": "insight", "query": retention, "period": 2}, True))
    out.append(({"type": "insight", "query": {"kind": "engagement", "measure": "active_users"}}, True))
    out.append(({"type": "metric", "metric_id": metric_id}, True))
    out.append(({"type": "sla", "signal": "rejected_rate", "interval": "day"}, True))
    out.append(({"type": "sla", "signal": "job_failures", "interval": "day"}, True))
    out.append(({"type": "sla", "signal": "ingest_lag_seconds", "interval": "day"}, True))
    return out


def condition(rng: random.Random, series: bool) -> dict[str, Any]:
    roll = rng.random()
    if not series or roll < 0.55:
        return {
            "type": "threshold",
            "operator": rng.choice(["above", "below"]),
            "value": rng.choice([0.5, 10, 1e3, 1e5]),
        }
    if roll < 0.85:
        return {
            "type": "relative",
            "compare_to": rng.choice(["previous_period", "week_ago"]),
            "direction": rng.choice(["up", "down", "either"]),
            "by": rng.choice([10, 25, 50]),
        }
    if roll < 0.96:
        return {"type": "anomaly", "detector": rng.choice(["seasonal", "level_shift", "auto"]), "sensitivity": 0.5}
    return {"type": "forecast", "level": 95}


def make_rules(runtime: Runtime, tenant: TenantContext, count: int, seed: int = 11) -> list[str]:
    from analytics_engine.metrics.schemas import MetricCreate

    with runtime.metadata.session() as session:
        session.execute(
            delete(AlertRule).where(AlertRule.tenant_id == tenant.tenant_id, AlertRule.name.startswith(NAME_PREFIX))
        )
    existing = [m for m in runtime.metrics.list(tenant.tenant_id) if m.name == "bench-alerts revenue"]
    metric = (
        existing[0]
        if existing
        else runtime.metrics.create(
            tenant.tenant_id,
            MetricCreate(
                name="bench-alerts revenue",
                query={"kind": "trends", "series": [{"event": "purchase", "math": "sum", "math_property": "amount"}]},
            ),
        )
    )
    rng = random.Random(seed)
    mix = sources(metric.id)
    ids = []
    for number in range(count):
        source, series = mix[number % len(mix)]
        body = AlertCreate.model_validate(
            {"name": f"{NAME_PREFIX}{number}", "source": source, "condition": condition(rng, series)}
        )
        ids.append(runtime.alerts.create(tenant, body).id)
    return ids


def warm_up() -> None:
    """Imports and the detectors' first compilation (numba, cached on disk): not part of the figure."""
    from analytics_engine import forecasting

    series = [float(100 + 10 * (i % 7) + (i % 3)) for i in range(220)]
    for season in (7, 24):
        for detector in ("seasonal", "level_shift", "auto"):
            forecasting.judge(series[:-1], series[-1], season=season, detector=detector)
        forecasting.forecast(series, season=season, horizon=1)


def run(rules: int, data_dir: Path, tenant_name: str, sample: int) -> dict[str, Any]:
    settings = Settings(data_dir=data_dir, log_level="warning")
    runtime = Runtime.build(settings)
    try:
        found = runtime.tenants.find_by_name(tenant_name)
        if found is None:
            raise SystemExit(f"no tenant {tenant_name!r} in {data_dir}: run `analytics-engine generate` into it first")
        tenant = TenantContext(found.id, found.name, found.timezone, frozenset({"read", "admin"}), "bench")
        events = (
            runtime.warehouse.for_tenant(tenant)
            .query(f"SELECT count() FROM {runtime.warehouse.table('events')} WHERE tenant_id = {{tenant_id:String}}")
            .rows[0][0]
        )
        console.print(f"tenant {tenant_name}: {events:,} events; creating {rules:,} rules")
        started = time.perf_counter()
        ids = make_rules(runtime, tenant, rules)
        console.print(f"rules created in {time.perf_counter() - started:.1f} s")
        register_jobs(runtime)
        service = runtime.alerts
        warm_up()

        started = time.perf_counter()
        job = runtime.runner.enqueue(JOB_KIND, tenant_id=tenant.tenant_id, params={"rule_ids": ids, "refresh": True})
        finished = runtime.runner.run_now(job.id, wait=True)
        grouped = time.perf_counter() - started
        if finished.state != "succeeded":
            raise SystemExit(f"the evaluation job ended {finished.state}: {finished.error}")
        result = finished.result

        started = time.perf_counter()
        service.evaluate(tenant.tenant_id, ids)
        warm = time.perf_counter() - started

        chosen = random.Random(5).sample(ids, min(sample, len(ids)))
        one_by_one = []
        for rule_id in chosen:
            started = time.perf_counter()
            service.evaluate(tenant.tenant_id, [rule_id], refresh=True)
            one_by_one.append(time.perf_counter() - started)
        baseline = statistics.fmean(one_by_one) * len(ids)
        with runtime.metadata.session() as session:
            states: dict[str, int] = {}
            for (state,) in session.execute(select(AlertRule.state).where(AlertRule.id.in_(ids))):
                states[state] = states.get(state, 0) + 1
    finally:
        runtime.close()
    ratio = baseline / grouped if grouped else 0.0
    print_table(
        f"bench alerts: {len(ids):,} rules, {events:,} events, {result['groups']} groups",
        ["measure", "seconds", "note"],
        [
            ["grouped, one job (figure)", grouped, f"target < {TARGET_SECONDS:.0f} s"],
            ["grouped, warm cache", warm, "result cache allowed"],
            ["one rule at a time (baseline)", baseline, f"mean of {len(chosen)} x {len(ids)}"],
            ["ratio baseline / figure", ratio, ""],
        ],
    )
    console.print(f"states: {states}")
    verdict = "PASS" if grouped < TARGET_SECONDS else "FAIL"
    console.print(
        f"{verdict}: {len(ids):,} rules in {grouped:.1f} s (target {TARGET_SECONDS:.0f} s); "
        f"x{ratio:.1f} against one at a time"
    )
    payload = {
        "rules": len(ids),
        "events": events,
        "groups": result["groups"],
        "grouped_seconds": round(grouped, 3),
        "warm_seconds": round(warm, 3),
        "baseline_seconds": round(baseline, 3),
        "baseline_sample": len(chosen),
        "ratio": round(ratio, 2),
        "target_seconds": TARGET_SECONDS,
        "states": states,
        "job_result": result,
    }
    path = write_result("alerts", payload)
    console.print(f"written {path}")
    return payload
