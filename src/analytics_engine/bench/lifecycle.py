"""`bench lifecycle`: on a generated tenant with more history than the hot window (default 10M
events over 540 days; 13 months hot, the rest goes cold):

1. tiering throughput: the rows of the months older than the hot window written by ClickHouse's own
   Parquet writer (`INSERT INTO FUNCTION file(...) SELECT ...`, the baseline), then moved by the
   tiering job (export, read-back check, drop; target: at least 0.5 of the baseline's rows/s); the
   whole job, with the recomputation of the months' people that follows, is reported too;
2. an insight over the cold range while it is hot, and again once it is cold (same numbers);
3. the erasure of one person (the one with the most events) end to end, including the physical
   removal, the derived tables and the cold files (target < 60 s).

The data folder is consumed (its old months end up cold): pass a fresh copy, or none (generated)."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from analytics_engine.runtime import Runtime
    from analytics_engine.tenants.service import TenantContext

TENANT = "gen-1"
# The phases of the tiering job that move the data (the rest recomputes the derived tables).
# (Since this session the files and the notes run side by side, one phase: `export_verify_and_note`.)
MOVE_PHASES = ("export_verify_and_note", "export_and_verify", "note_people", "drop")
REASON = "bench lifecycle: the baseline writer and the figures of the bench tenant"
# Generated events arrive within this many seconds of their timestamp (see `run`).
ARRIVAL_LAG = 600


def _insight_queries(date_from: str, date_to: str) -> dict[str, dict[str, Any]]:
    window = {"date_from": date_from, "date_to": date_to}
    return {
        "trends (events + unique users per week)": {
            "kind": "trends",
            "series": [{"event": None}, {"event": None, "math": "unique_users"}],
            "interval": "week",
            "date_range": window,
        },
        "funnel (2 steps)": {
            "kind": "funnels",
            "steps": [{"event": "signup"}, {"event": "purchase"}],
            "date_range": window,
        },
    }


def _run_insights(runtime: Runtime, tenant: TenantContext, queries: dict[str, dict[str, Any]]) -> dict[str, Any]:
    from analytics_engine.insights import run_insight
    from analytics_engine.insights.registry import parse_query

    out: dict[str, Any] = {}
    for name, query in queries.items():
        model = parse_query(query)
        run_insight(runtime, tenant, model, refresh=True)  # warm
        best, answer = float("inf"), None
        for _ in range(3):
            started = time.perf_counter()
            answer = run_insight(runtime, tenant, model, refresh=True)
            best = min(best, time.perf_counter() - started)
        assert answer is not None
        dumped = answer.model_dump(mode="json")
        out[name] = {
            "seconds": best,
            "read_cold": answer.read_cold,
            "served_by": answer.served_by,
            "numbers": {k: dumped.get(k) for k in ("series", "totals", "funnel")},
        }
    return out


def _erase_top_person(runtime: Runtime, tenant_id: str) -> tuple[float, dict[str, Any]]:
    """Erase the person with the most hot events, end to end; (seconds, per store rows before/after)."""
    from analytics_engine.privacy.schemas import ErasureCreate

    platform = runtime.warehouse.platform(REASON)
    person = str(
        platform.query(
            f"SELECT distinct_id FROM {runtime.warehouse.table('events')} WHERE tenant_id = {{t:String}} "
            "GROUP BY distinct_id ORDER BY count() DESC LIMIT 1",
            {"t": tenant_id},
            settings={"max_execution_time": 0},
        ).scalar()
    )
    started = time.perf_counter()
    accepted = runtime.privacy.request(tenant_id, ErasureCreate(distinct_id=person), wait=True)
    seconds = time.perf_counter() - started
    erasure = runtime.privacy.get(tenant_id, accepted.id)
    if erasure.receipt is None:
        raise RuntimeError(f"erasure {erasure.status}: {erasure.error}")
    stores: dict[str, Any] = {s.store: [s.rows_before, s.rows_after] for s in erasure.receipt.stores}
    from analytics_engine.privacy.models import ErasureRequest

    with runtime.metadata.session() as session:
        row = session.get(ErasureRequest, accepted.id)
        stores["steps_seconds"] = dict(((row.progress or {}) if row is not None else {}).get("seconds", {}))
    # How long the erasure held this process's inserts (its derived recompute).
    stores["insert_gate_held_seconds"] = (getattr(runtime.writer, "exclusive_seconds", None) or [None])[-1]
    return seconds, stores


def _tier_backfilled_month(runtime: Runtime, tenant_id: str, limit: int) -> dict[str, Any] | None:
    """The oldest hot month (`limit`) moved by the job run as of a month later, against ClickHouse's
    writer for the same rows. How many of its rows arrived within the duplicate check's days says
    whether this is the backfill case (the generator stamps that month as loaded at generation)."""
    from analytics_engine.lifecycle.cold import COLD_COLUMNS, work_dir
    from analytics_engine.lifecycle.tiering import ID_DAYS, Tiering
    from analytics_engine.lifecycle.window import month_start

    platform = runtime.warehouse.platform(REASON)
    events_table = runtime.warehouse.table("events")
    found = platform.query(
        f"SELECT count(), countIf(received_at >= now() - toIntervalDay({{d:UInt32}})) FROM {events_table} "
        "WHERE tenant_id = {t:String} AND toYYYYMM(timestamp) = {m:UInt32}",
        {"t": tenant_id, "m": limit, "d": ID_DAYS},
        settings={"max_execution_time": 0},
    ).rows[0]
    rows, recent = int(found[0]), int(found[1])
    if not rows:
        return None
    target = work_dir(runtime) / "baseline-backfill.parquet"
    started = time.perf_counter()
    platform.command(
        f"INSERT INTO FUNCTION file({{target:String}}, 'Parquet') SELECT {', '.join(COLD_COLUMNS)} "
        f"FROM {events_table} WHERE tenant_id = {{t:String}} AND toYYYYMM(timestamp) = {{m:UInt32}} "
        "SETTINGS engine_file_truncate_on_insert = 1",
        {"target": str(target.resolve()), "t": tenant_id, "m": limit},
    )
    baseline_seconds = time.perf_counter() - started
    target.unlink(missing_ok=True)
    tiering = Tiering(runtime, now=month_start(Tiering(runtime).now, -1))
    started = time.perf_counter()
    outcome = tiering.run()
    seconds = time.perf_counter() - started
    return {
        "month": limit,
        "rows": rows,
        "recent_arrivals": recent,
        "rows_moved": outcome.rows_moved,
        "baseline_seconds": baseline_seconds,
        "baseline_rows_per_second": rows / baseline_seconds,
        "whole_job_seconds": seconds,
        "whole_job_rows_per_second": outcome.rows_moved / seconds,
        "whole_job_ratio": outcome.rows_moved / seconds / (rows / baseline_seconds),
        "phases": outcome.phases,
    }


def run(events: int, days: int, data_dir: Path | None, generate_only: bool = False) -> None:
    from rich.console import Console

    from analytics_engine.bench.common import print_table, write_result
    from analytics_engine.bench.insights import tenant_context
    from analytics_engine.config import Settings
    from analytics_engine.datagen.sql_generator import SqlGeneratorSpec, generate_in_warehouse
    from analytics_engine.lifecycle.cold import COLD_COLUMNS, work_dir
    from analytics_engine.lifecycle.tiering import Tiering
    from analytics_engine.lifecycle.window import cold_partition_limit
    from analytics_engine.runtime import Runtime

    console = Console()
    folder = data_dir or Path(tempfile.mkdtemp(prefix="bench-lifecycle-"))
    runtime = Runtime.build(Settings(data_dir=folder, log_json=False, log_level="warning"))
    try:
        tenant = tenant_context(runtime, TENANT)
        platform = runtime.warehouse.platform(REASON)
        events_table = runtime.warehouse.table("events")
        stored = int(
            platform.query(
                f"SELECT count() FROM {events_table} WHERE tenant_id = {{t:String}}", {"t": tenant.tenant_id}
            ).scalar()
        )
        if stored == 0:
            console.print(f"generating {events:,} events over {days} days in {folder} ...")
            generated = time.perf_counter()
            # Live traffic: each event arrives within minutes of its timestamp, so a month leaving
            # the hot tier arrived a year ago (nothing of it left in the duplicate check's 7 days);
            # except the oldest hot month, loaded at generation (a backfill): the separate case
            # measured last, once it is due.
            first_hot = cold_partition_limit(Tiering(runtime).now, runtime.settings.hot_retention_months)
            spec = SqlGeneratorSpec(
                tenant.tenant_id, events, days=days, seed=8, arrival_lag_seconds=ARRIVAL_LAG, backfilled_month=first_hot
            )
            generate_in_warehouse(runtime.warehouse, spec)
            stored = events
            console.print(f"generated in {time.perf_counter() - generated:.0f} s")
        if generate_only:
            console.print(f"{stored:,} events in {folder}; copy the folder for each run (a run consumes it)")
            return
        limit = cold_partition_limit(Tiering(runtime).now, runtime.settings.hot_retention_months)
        bounds = platform.query(
            f"SELECT count(), min(timestamp), max(timestamp) FROM {events_table} "
            "WHERE tenant_id = {t:String} AND toYYYYMM(timestamp) < {limit:UInt32}",
            {"t": tenant.tenant_id, "limit": limit},
        ).rows[0]
        cold_rows = int(bounds[0])
        if cold_rows == 0:
            # Tiered by an earlier run of this bench: measure the erasure alone (on hot and cold data).
            console.print("no month left to tier (an earlier run moved them): measuring the erasure only")
            seconds, stores = _erase_top_person(runtime, tenant.tenant_id)
            console.print(f"erasure of one person: {seconds:.1f} s (target < 60 s); {stores}")
            write_result("lifecycle-erasure", {"events": stored, "erasure": {"seconds": seconds, "stores": stores}})
            return
        date_from, date_to = bounds[1].date().isoformat(), bounds[2].date().isoformat()
        console.print(f"{stored:,} events; {cold_rows:,} in months before {limit} go cold ({date_from} .. {date_to})")

        # 1. Baseline: ClickHouse writes the same rows to Parquet itself.
        target = work_dir(runtime) / "baseline.parquet"
        started = time.perf_counter()
        platform.command(
            f"INSERT INTO FUNCTION file({{target:String}}, 'Parquet') SELECT {', '.join(COLD_COLUMNS)} "
            f"FROM {events_table} WHERE tenant_id = {{t:String}} AND toYYYYMM(timestamp) < {{limit:UInt32}} "
            "SETTINGS engine_file_truncate_on_insert = 1",
            {"target": str(target.resolve()), "t": tenant.tenant_id, "limit": limit},
        )
        baseline_seconds = time.perf_counter() - started
        target.unlink(missing_ok=True)

        # 2. Insights over the cold range while it is hot.
        queries = _insight_queries(date_from, date_to)
        hot = _run_insights(runtime, tenant, queries)

        # 1. The tiering job.
        started = time.perf_counter()
        outcome = Tiering(runtime).run()
        tiering_seconds = time.perf_counter() - started
        move_seconds = sum(outcome.phases.get(k, 0.0) for k in MOVE_PHASES)

        cold = _run_insights(runtime, tenant, queries)

        # 3. Erasure of the most active person.
        erasure_seconds, stores = _erase_top_person(runtime, tenant.tenant_id)

        # 4. A backfilled month (its rows arrived within the duplicate check's 7 days) leaving the
        # hot tier: one month later, the oldest hot month is due; reported apart from the steady state.
        backfill = _tier_backfilled_month(runtime, tenant.tenant_id, limit)

        baseline_rate = cold_rows / baseline_seconds
        move_rate = outcome.rows_moved / move_seconds if move_seconds else 0.0
        results = {
            "events": stored,
            "cold_rows": cold_rows,
            "tiering": {
                "baseline_clickhouse_parquet_seconds": baseline_seconds,
                "baseline_rows_per_second": baseline_rate,
                "move_seconds": move_seconds,
                "move_rows_per_second": move_rate,
                "ratio": move_rate / baseline_rate,
                "target_ratio": 0.5,
                "whole_job_seconds": tiering_seconds,
                "whole_job_rows_per_second": outcome.rows_moved / tiering_seconds,
                "whole_job_ratio": outcome.rows_moved / tiering_seconds / baseline_rate,
                "phases": outcome.phases,
                "months": outcome.months,
            },
            "insights": {
                name: {
                    "hot_seconds": hot[name]["seconds"],
                    "cold_seconds": cold[name]["seconds"],
                    "ratio_cold_to_hot": cold[name]["seconds"] / hot[name]["seconds"],
                    "hot_served_by": hot[name]["served_by"],
                    "read_cold": cold[name]["read_cold"],
                    "same_numbers": hot[name]["numbers"] == cold[name]["numbers"],
                }
                for name in queries
            },
            "erasure": {"seconds": erasure_seconds, "target_seconds": 60, "stores": stores},
            "backfilled_month": backfill,
        }
        print_table(
            "bench lifecycle",
            ["measure", "figure", "baseline", "ratio / target"],
            [
                [
                    "tiering rows/s (export+check+drop)",
                    move_rate,
                    baseline_rate,
                    f"{move_rate / baseline_rate:.2f} (>= 0.5)",
                ],
                [
                    "tiering whole job rows/s (with derived recompute)",
                    outcome.rows_moved / tiering_seconds,
                    baseline_rate,
                    f"{outcome.rows_moved / tiering_seconds / baseline_rate:.2f}",
                ],
                *[
                    [
                        f"{name} s, cold vs hot",
                        cold[name]["seconds"],
                        hot[name]["seconds"],
                        f"{cold[name]['seconds'] / hot[name]['seconds']:.2f}x, same numbers: "
                        f"{hot[name]['numbers'] == cold[name]['numbers']}",
                    ]
                    for name in queries
                ],
                ["erasure of one person s", erasure_seconds, 60.0, f"events {stores.get('events')}"],
                *(
                    [
                        [
                            f"backfilled month {backfill['month']} ({backfill['recent_arrivals']:,} of "
                            f"{backfill['rows']:,} rows arrived within 8 days): whole job rows/s",
                            backfill["whole_job_rows_per_second"],
                            backfill["baseline_rows_per_second"],
                            f"{backfill['whole_job_ratio']:.2f}",
                        ]
                    ]
                    if backfill
                    else []
                ),
            ],
        )
        console.print(f"results: {write_result('lifecycle', results)}")
    finally:
        runtime.close()
