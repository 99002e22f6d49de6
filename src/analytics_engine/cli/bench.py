"""`analytics-engine bench ...`: each benchmark prints its figure, a same-run baseline and the ratio."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

bench_app = typer.Typer(
    help="Benchmarks: figure, same-run baseline, ratio; JSON in benchmarks/results/.", no_args_is_help=True
)


@bench_app.command("ingest")
def ingest(
    events: Annotated[int, typer.Option(min=1000, help="Events to send.")] = 400_000,
    batch: Annotated[int, typer.Option(min=1, help="Events per HTTP request.")] = 2000,
    concurrency: Annotated[int, typer.Option(min=1, help="Concurrent HTTP clients.")] = 32,
    event_ids: Annotated[bool, typer.Option(help="Send client event ids (checked for duplicates).")] = True,
    drop_view: Annotated[
        list[str] | None,
        typer.Option(
            help="Diagnostic: run server and baseline without this materialized view on events (repeatable): "
            "what the view costs ingest. One of event_ids_mv, metrics_daily_mv, metrics_monthly_mv, persons_mv, "
            "person_properties_mv."
        ),
    ] = None,
    materialize: Annotated[
        int,
        typer.Option(
            min=0,
            max=5,
            help="Add this many materialized property columns to events first (plan, country, browser, path: "
            "strings; amount: number), on the server and the baseline: what they cost ingest.",
        ),
    ] = 0,
) -> None:
    """HTTP ingest vs raw JSONEachRow insert of the same rows (target >= 100k ev/s, ratio >= 0.3), with the
    server's CPU per event by thread kind, the events per warehouse insert and the load average."""
    from analytics_engine.bench.ingest import EVENT_VIEWS, run

    unknown = sorted(set(drop_view or []) - set(EVENT_VIEWS))
    if unknown:
        raise typer.BadParameter(f"not a view on events: {', '.join(unknown)}", param_hint="--drop-view")
    run(events, batch, concurrency, event_ids, drop_view or [], materialize)


@bench_app.command("dedup")
def dedup(
    rows: Annotated[int, typer.Option(min=1000, help="Events in the table read with and without FINAL.")] = 5_000_000,
    batches: Annotated[int, typer.Option(min=1, help="Batches inserted through the duplicate check.")] = 50,
    batch_size: Annotated[int, typer.Option(min=1, help="Events per batch.")] = 2000,
) -> None:
    """Reads without FINAL vs with FINAL; insert with the duplicate check vs without."""
    from analytics_engine.bench.dedup import run

    run(rows, batches, batch_size)


@bench_app.command("insights")
def insights(
    events: Annotated[int, typer.Option(min=10_000, help="Events of the one big tenant.")] = 10_000_000,
    other_events: Annotated[
        int | None, typer.Option(min=0, help="Events spread over 20 other tenants (default: as many as --events).")
    ] = None,
    repeat: Annotated[int, typer.Option(min=3, help="Runs per case and path (p95 of 20 is the 19th).")] = 20,
    data_dir: Annotated[
        Path | None, typer.Option(help="Keep the generated data here and reuse it on the next run.")
    ] = None,
    cache_url: Annotated[str | None, typer.Option(help="Cache in Redis (redis://...) instead of in-process.")] = None,
    only: Annotated[
        str | None, typer.Option(help="Comma-separated case names to run (e.g. paths_5_steps,funnel_correlation).")
    ] = None,
) -> None:
    """Insight kinds p50/p95 (rollup, raw, cached) vs bare ClickHouse on the same SQL (overhead <= 1.3x)."""
    from analytics_engine.bench.insights import run

    cases = {name.strip() for name in only.split(",") if name.strip()} if only else None
    run(events, events if other_events is None else other_events, repeat, data_dir, cache_url, only=cases)


@bench_app.command("cohorts")
def cohorts(
    events: Annotated[int, typer.Option(min=10_000, help="Events to generate (default 10M).")] = 10_000_000,
    repeat: Annotated[int, typer.Option(min=1, max=20, help="Runs per measure (median).")] = 3,
    data_dir: Annotated[
        Path | None, typer.Option(help="Data folder; an earlier run's folder reuses its events (no generation).")
    ] = None,
) -> None:
    """Cohort evaluation (3 behavioural criteria, target < 2 s at 10M events) and a funnel filtered by
    the cohort against the unfiltered funnel (ratio)."""
    from analytics_engine.bench.cohorts import run

    run(events, repeat, data_dir)


@bench_app.command("backfill")
def backfill(
    rows: Annotated[int, typer.Option(min=1000, help="Rows of the generated PostgreSQL table.")] = 1_000_000,
    dsn: Annotated[str, typer.Option(help="PostgreSQL to generate the table in.")] = (
        "postgresql://postgres@127.0.0.1:5432/test"
    ),
    chunk_rows: Annotated[int, typer.Option(min=100, help="Rows per chunk.")] = 100_000,
    cursor: Annotated[str, typer.Option(help="Cursor column: updated_at or id.")] = "updated_at",
    keep: Annotated[bool, typer.Option(help="Keep the generated PostgreSQL schema.")] = False,
    repeat: Annotated[int, typer.Option(min=1, max=10, help="Runs of each path; the best counts.")] = 3,
) -> None:
    """`sync backfill` vs ClickHouse's own `INSERT ... SELECT * FROM postgresql(...)` (target ratio >= 0.5)."""
    from analytics_engine.bench.backfill import run

    run(rows, dsn, chunk_rows, cursor, keep, repeat)


@bench_app.command("impact")
def impact(
    participants: Annotated[int, typer.Option(min=100, help="Participants of the big tenant.")] = 20_000,
    volunteers: Annotated[int, typer.Option(min=10, help="Volunteers of the big tenant.")] = 1_000,
    product_events: Annotated[int, typer.Option(min=0, help="Other events in the same tenant.")] = 500_000,
    tenants: Annotated[int, typer.Option(min=1, help="Opted-in tenants in the benchmarks refresh.")] = 10,
    repeat: Annotated[int, typer.Option(min=1, max=50, help="Runs per measure (median).")] = 5,
) -> None:
    """SROI and VIS of one large tenant vs the bare input reads (ratio), and a benchmarks refresh."""
    from analytics_engine.bench.impact import run

    run(participants, volunteers, product_events, tenants, repeat)


@bench_app.command("dashboards")
def dashboards(
    events: Annotated[int, typer.Option(min=10_000, help="Events of one tenant (issue: 10M).")] = 1_000_000,
    days: Annotated[int, typer.Option(min=7, help="Days of history.")] = 180,
    renders: Annotated[int, typer.Option(min=5, help="Renders per measure.")] = 40,
    streams: Annotated[int, typer.Option(min=0, help="Open SSE streams on the dashboard (0: no fan-out).")] = 200,
    rounds: Annotated[int, typer.Option(min=1, help="Events ingested, one per round, for the fan-out.")] = 20,
    data_dir: Annotated[
        Path | None, typer.Option(help="Keep the generated events here and reuse them on the next run.")
    ] = None,
    filter_renders: Annotated[
        int, typer.Option(min=1, help="Uncached renders with a property filter value never asked before.")
    ] = 5,
    fresh_rounds: Annotated[
        int, typer.Option(min=0, help="New events timed until pre-aggregated answers count them (0: skip).")
    ] = 10,
    fresh_rate: Annotated[int, typer.Option(min=1000, help="Events/s ingested meanwhile (issue: 10k).")] = 10_000,
) -> None:
    """8-widget dashboard render (cold, uncached with new ranges and filters, cached) against the same
    renders with pre-aggregations disabled, retention and DAU/WAU/MAU alone, and SSE fan-out
    (--streams 0 skips it)."""
    from analytics_engine.bench.dashboards import run

    run(events, days, renders, streams, rounds, data_dir, filter_renders, fresh_rounds, fresh_rate)


@bench_app.command("exports")
def exports(
    rows: Annotated[int, typer.Option(min=10_000, help="Events exported (issue: 10M).")] = 10_000_000,
    formats: Annotated[str, typer.Option(help="Comma-separated formats measured.")] = "csv,parquet",
    data_dir: Annotated[
        Path | None, typer.Option(help="Keep the generated events here and reuse them on the next run.")
    ] = None,
) -> None:
    """Export worker rows/s and peak RSS vs ClickHouse's own INTO OUTFILE (target ratio >= 0.5, RSS < 500 MB)."""
    from analytics_engine.bench.exports import run

    run(rows, tuple(f.strip() for f in formats.split(",") if f.strip()), data_dir)


@bench_app.command("nats")
def nats_ingest(
    events: Annotated[int, typer.Option(min=1000, help="Events published (one NATS message each).")] = 200_000,
    batch_max_events: Annotated[int, typer.Option(min=1, help="ANALYTICS_NATS_BATCH_MAX_EVENTS of the server.")] = 1000,
    http_batch: Annotated[int, typer.Option(min=1, help="Baseline: events per HTTP request.")] = 1000,
    concurrency: Annotated[int, typer.Option(min=1, help="Baseline: concurrent HTTP clients.")] = 8,
    per_message: Annotated[int, typer.Option(min=1, help="Events per NATS message (>1: the batch form).")] = 1,
) -> None:
    """NATS publish -> consumer inside serve -> queryable, vs HTTP ingest of the same events (target >= 50k ev/s)."""
    from analytics_engine.bench.nats import run

    run(events, batch_max_events, http_batch, concurrency, per_message)


@bench_app.command("crash")
def crash(
    paths: Annotated[
        str, typer.Option(help="Comma-separated: http, nats-worker, nats-serve.")
    ] = "http,nats-worker,nats-serve",
    kills: Annotated[int, typer.Option(min=1, help="SIGKILLs per path, each at a random instant.")] = 10,
    metadata_url: Annotated[
        str | None, typer.Option(help="Metadata database URL (default: SQLite in each run's folder).")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Seed of the random kill instants (repeatable runs).")] = None,
) -> None:
    """Ingest SIGKILLed at random instants while clients retry: every acknowledged event exactly
    once in events and every derived table (exit 1 otherwise). NATS paths need NATS on :4222."""
    from analytics_engine.bench.crash import PATHS, run

    chosen = [p.strip() for p in paths.split(",") if p.strip()]
    unknown = [p for p in chosen if p not in PATHS]
    if unknown:
        raise typer.BadParameter(f"unknown path(s) {', '.join(unknown)}: choose from {', '.join(PATHS)}")
    if not all(report.exact for report in run(chosen, kills, metadata_url, seed)):
        raise typer.Exit(1)


@bench_app.command("detection")
def detection(
    tune_seed: Annotated[int, typer.Option(help="Seed of the series the operating points are chosen on.")] = 1,
    report_seed: Annotated[int, typer.Option(help="Seed of the series the figures are reported on.")] = 2,
    daily: Annotated[int, typer.Option(min=4, help="Daily series (26 weeks, season 7).")] = 220,
    hourly: Annotated[int, typer.Option(min=0, help="Hourly series (6 weeks, season 24).")] = 90,
    forecasts: Annotated[int, typer.Option(min=1, help="Clean 365-day series for the forecast figures.")] = 60,
    workers: Annotated[int, typer.Option(min=1, max=16, help="Processes scoring the series.")] = 2,
) -> None:
    """Detectors on labelled series (event-level F1 and false alerts per series-month against rolling
    z-score, rolling MAD and a seasonal-naive band; target F1 >= 1.3x the best baseline, <= 0.5 false
    alerts a month) and forecasts by rolling origin (MASE <= 0.9 of seasonal naive(7), 95% coverage
    93-97%, a 365-point forecast < 100 ms)."""
    from analytics_engine.bench.detection import run

    run(tune_seed, report_seed, daily, hourly, forecasts, workers)


@bench_app.command("alerts")
def alerts(
    data_dir: Annotated[
        Path, typer.Option(help="Data folder holding the tenant's events (`analytics-engine generate` into it).")
    ],
    rules: Annotated[int, typer.Option(min=1, max=10_000, help="Alert rules to evaluate.")] = 1_000,
    tenant: Annotated[str, typer.Option(help="The tenant's name (what `generate` creates: gen-1).")] = "gen-1",
    sample: Annotated[int, typer.Option(min=1, help="Baseline: rules evaluated one at a time, scaled up.")] = 60,
) -> None:
    """1,000 alert rules evaluated in one job, rules on the same query sharing one fetch (target < 60 s
    at 10M events on 2 cores), against evaluating rules one at a time (ratio)."""
    from analytics_engine.bench.alerts import run

    run(rules, data_dir, tenant, sample)


@bench_app.command("cli")
def cli_startup(
    repeat: Annotated[int, typer.Option(min=1, max=50, help="Runs per command (median).")] = 7,
) -> None:
    """Start-up of the commands that do not touch the warehouse (`--help`, `tenants list`, `keys list`):
    median wall and CPU time of a fresh process vs `python -c 'import typer'` (target < 1 s)."""
    from analytics_engine.bench.cli import run

    run(repeat)


@bench_app.command("sql")
def sql(
    iterations: Annotated[int, typer.Option(min=10, help="Timed runs of the guard and of the baseline.")] = 300,
) -> None:
    """The restricted SQL guard's overhead on a 2 KB query (p50/p95; target under 5 ms) against the
    same-run baseline of sqlglot parsing the same text once (docs/sql.md)."""
    from analytics_engine.bench.sql import run

    run(iterations)


@bench_app.command("lifecycle")
def lifecycle(
    events: Annotated[
        int, typer.Option(min=10_000, help="Events generated when the data folder has none.")
    ] = 10_000_000,
    days: Annotated[int, typer.Option(min=400, help="Days of history generated (more than the hot window).")] = 540,
    data_dir: Annotated[
        Path | None, typer.Option(help="A data folder with generated events (consumed: its old months go cold).")
    ] = None,
    generate_only: Annotated[
        bool, typer.Option(help="Only generate the events into --data-dir (then copy it fresh for each run).")
    ] = False,
) -> None:
    """Erasure of one person end to end (target < 60 s), tiering rows/s vs ClickHouse's own Parquet writer
    (target >= 0.5), an insight over a cold range vs the same range hot, a backfilled month's tiering."""
    from analytics_engine.bench.lifecycle import run

    run(events, days, data_dir, generate_only)


@bench_app.command("soak")
def soak(
    minutes: Annotated[float, typer.Option(min=0.25, help="How long the load runs.")] = 10.0,
    rate: Annotated[int, typer.Option(min=100, help="Events/s offered, HTTP and NATS together.")] = 20_000,
    nats_share: Annotated[float, typer.Option(min=0.0, max=1.0, help="Share of the events sent over NATS.")] = 0.5,
    sse: Annotated[int, typer.Option(min=0, help="SSE clients on the dashboard.")] = 20,
    backfill_rows: Annotated[
        int, typer.Option(min=1000, help="Rows of the PostgreSQL backfill run meanwhile.")
    ] = 200_000,
    alerts: Annotated[int, typer.Option(min=1, help="Alert rules evaluated in turn.")] = 10,
    history: Annotated[int, typer.Option(min=0, help="Events loaded before the soak (what queries read).")] = 100_000,
    nats_batch: Annotated[int, typer.Option(min=100, help="ANALYTICS_NATS_BATCH_MAX_EVENTS of the server.")] = 5000,
    server_env: Annotated[
        list[str] | None,
        typer.Option(
            help="KEY=VALUE given to the server's environment (repeatable), e.g. ANALYTICS_MEMORY_TRACEMALLOC=true "
            "or ANALYTICS_MALLOC_TRIM_SECONDS=0 for a same-run comparison."
        ),
    ] = None,
) -> None:
    """Everything at once (issue 26): HTTP + NATS ingest, dashboard renders, SSE clients, exports, alert
    evaluations and a backfill; p95 of each against its idle p95 in the same run, errors (target 0),
    every acknowledged event stored once, resident memory growth over the last half (target < 10%)."""
    from analytics_engine.bench.soak import run

    pairs = [item.partition("=") for item in server_env or []]
    if any(not key or not sep for key, sep, _ in pairs):
        raise typer.BadParameter("--server-env takes KEY=VALUE")
    run(minutes, rate, nats_share, sse, backfill_rows, alerts, history, nats_batch, {k: v for k, _, v in pairs})


@bench_app.command("explain")
def explain(
    scenarios: Annotated[int, typer.Option(min=10, help="Seeded planted-cause scenarios.")] = 240,
    seed: Annotated[int, typer.Option(help="Seed of the first scenario (the next ones count up).")] = 1,
    latency_events: Annotated[
        int, typer.Option(min=0, help="Also time explain over this many generated events (0: skip; 10M: the target).")
    ] = 0,
    data_dir: Annotated[
        Path | None, typer.Option(help="Data folder for the latency run (its generated events are reused).")
    ] = None,
) -> None:
    """The offline explainer (POST /v1/ai/explain's ranking) on seeded scenarios with a planted cause and
    decoys: top-1 accuracy and top-3 recall vs the same-run baseline ranking segments by absolute change
    (target: top-1 >= 90% and >= 1.3x the baseline; docs/ai.md)."""
    from analytics_engine.bench.explain import latency, run

    run(scenarios, seed)
    if latency_events:
        latency(latency_events, data_dir)


@bench_app.command("ai-eval")
def ai_eval(
    tenant: Annotated[str, typer.Option(help="Tenant whose data the questions are about.")] = "Acme Learning",
    limit: Annotated[int, typer.Option(min=1, help="Questions asked at most.")] = 120,
) -> None:
    """Execution accuracy of /v1/ai/ask (the configured ANALYTICS_AI_URL, else the offline parser) on at
    least 100 generated questions whose expected answers the offline engine computes (docs/ai.md)."""
    from analytics_engine.bench.ai_eval import run

    run(tenant, limit)
