"""`analytics-engine ingest ...`: the NATS JetStream firehose worker and its status."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import typer

from analytics_engine.cli.common import clean_errors, console, fail, out, settings
from analytics_engine.errors import WarehouseError

if TYPE_CHECKING:
    from analytics_engine.streaming.consumer import NatsIngestConsumer

ingest_app = typer.Typer(help="Streaming ingest from NATS JetStream (docs/streaming.md).", no_args_is_help=True)


@ingest_app.command("nats")
@clean_errors
def nats_worker(
    url: Annotated[str | None, typer.Option(help="NATS URL (ANALYTICS_NATS_URL).")] = None,
    stream: Annotated[str | None, typer.Option(help="Stream (ANALYTICS_NATS_STREAM, default EVENTS).")] = None,
    subjects: Annotated[
        str | None, typer.Option(help="Subjects, comma-separated (ANALYTICS_NATS_SUBJECTS, default events.>).")
    ] = None,
    consumer: Annotated[str | None, typer.Option(help="Durable consumer name (ANALYTICS_NATS_CONSUMER).")] = None,
    batch_max_events: Annotated[int | None, typer.Option(min=1, help="Events per insert at most.")] = None,
    batch_max_seconds: Annotated[float | None, typer.Option(min=0.01, help="Longest wait of a batch.")] = None,
    until_idle: Annotated[
        bool, typer.Option(help="Exit once nothing is pending or awaiting acknowledgement (backfills, tests).")
    ] = False,
    metrics_port: Annotated[int | None, typer.Option(help="Serve Prometheus /metrics on this port.")] = None,
) -> None:
    """Run the firehose consumer: validate, batch, insert, then acknowledge. Stop with Ctrl-C or
    SIGTERM (the batch in hand is inserted and acknowledged first). With the embedded warehouse, run
    it inside `serve` instead (ANALYTICS_NATS_INGEST=true) when `serve` is running."""
    from analytics_engine.observability.logging import configure_logging
    from analytics_engine.runtime import Runtime
    from analytics_engine.streaming.service import build_consumer

    config = settings()
    configure_logging(config.log_level, config.log_json)
    try:
        rt = Runtime.build(config)
    except WarehouseError as exc:
        if exc.code == "warehouse_busy":
            fail(
                f"{exc.message} The NATS consumer can run inside `serve` instead: start it with "
                "ANALYTICS_NATS_INGEST=true."
            )
        raise
    if metrics_port:
        from prometheus_client import start_http_server

        start_http_server(metrics_port, addr=config.host)
    worker = build_consumer(
        rt,
        url=url,
        stream=stream,
        subjects=tuple(s.strip() for s in subjects.split(",") if s.strip()) if subjects else None,
        durable=consumer,
        batch_max_events=batch_max_events,
        batch_max_seconds=batch_max_seconds,
    )
    cfg = worker.config
    console.print(
        f"[bold]ingest nats[/]: {cfg.url} stream {cfg.stream} ({', '.join(cfg.subjects)}) consumer {cfg.durable}; "
        f"batches of {cfg.batch_max_events} events or {cfg.batch_max_seconds:g}s"
    )

    import asyncio
    import signal

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, lambda: asyncio.ensure_future(worker.stop()))
        watcher = asyncio.create_task(_report_state(worker))
        try:
            await worker.run(until_idle=until_idle)
        finally:
            watcher.cancel()
            await rt.bus.close()

    try:
        asyncio.run(main())
    finally:
        rt.close()
    status = worker.status
    print(  # plain print: one JSON line, never wrapped by the console
        json.dumps(
            {
                "events": status.events_committed,
                "rejected": status.rejected,
                "batches": status.batches,
                "acked_seq": status.acked_seq,
                "last_error": status.last_error,
            }
        )
    )


async def _report_state(worker: NatsIngestConsumer) -> None:
    """One console line whenever the worker's state or last error changes (NATS down, back...)."""
    import asyncio

    seen: tuple[str, str | None] | None = None
    while True:
        now = (worker.status.state, worker.status.last_error)
        if now != seen:
            if now[0] == "waiting_for_nats":
                console.print(f"[yellow]waiting:[/] {now[1]}")
            elif now[0] == "consuming" and (seen is None or seen[0] != "consuming"):
                console.print("[green]consuming[/]")
            elif now[1] and (seen is None or now[1] != seen[1]):
                console.print(f"[red]error:[/] {now[1]}")
            seen = now
        await asyncio.sleep(0.2)


@ingest_app.command("status")
@clean_errors
def status(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Checkpoints, lag, throughput and last error of every NATS consumer (metadata and NATS only:
    works while `serve` runs)."""
    import asyncio

    from analytics_engine.cli.common import tenant_service
    from analytics_engine.streaming.service import ingest_status

    metadata = tenant_service().metadata
    try:
        report = asyncio.run(ingest_status(metadata, settings().nats_url))
    finally:
        metadata.dispose()
    if as_json:
        out.print_json(report.model_dump_json())
        return
    if report.nats_error:
        console.print(f"[yellow]{report.nats_error}[/]")
    if not report.consumers:
        out.print("no NATS consumer has run against this metadata database yet")
    for c in report.consumers:
        out.print(
            f"{c.stream}/{c.consumer}: acked seq {c.acked_seq}, lag {c.lag if c.lag is not None else '?'}, "
            f"{c.throughput:,.0f} ev/s, {c.events_total:,} events, {c.rejected_total:,} rejected"
            + (f", last error: {c.last_error}" if c.last_error else "")
        )


@ingest_app.command("verify")
@clean_errors
def verify(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Compare every table derived from `events` (duplicate-check ids, rollups, persons,
    pre-aggregations) with `events` itself, per tenant, and count events stored twice; exit 1 on any
    difference. Reads only: batches left in the ingest journal are listed, not replayed (a start of
    `serve` or of a worker replays them)."""
    from analytics_engine.ingest.consistency import check_derived, events_table_exists
    from analytics_engine.ingest.journal import IngestJournal
    from analytics_engine.warehouse.client import Warehouse

    config = settings()
    warehouse = Warehouse(str(config.warehouse_dsn), config.warehouse_database, pool_size=1)
    try:
        if not events_table_exists(warehouse):
            out.print(f"nothing to verify: database {config.warehouse_database!r} has no events table yet")
            return
        mismatches = check_derived(warehouse)
    finally:
        warehouse.close()
    journal = IngestJournal(config.journal_folder).status()
    report = {
        "consistent": not mismatches,
        "journal_batches": journal.in_flight,
        "mismatches": [m.__dict__ for m in mismatches],
    }
    if as_json:
        out.print_json(json.dumps(report))
    else:
        for mismatch in mismatches:
            out.print(mismatch.describe())
        out.print(
            ("consistent" if not mismatches else f"{len(mismatches)} difference(s)")
            + f"; {journal.in_flight} batch(es) in the ingest journal"
        )
    if mismatches:
        raise typer.Exit(1)
