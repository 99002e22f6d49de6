"""`analytics-engine bench ...`: each benchmark prints its figure, a same-run baseline and the ratio."""

from __future__ import annotations

from typing import Annotated

import typer

bench_app = typer.Typer(
    help="Benchmarks: figure, same-run baseline, ratio; JSON in benchmarks/results/.", no_args_is_help=True
)


@bench_app.command("ingest")
def ingest(
    events: Annotated[int, typer.Option(min=1000, help="Events to send.")] = 300_000,
    batch: Annotated[int, typer.Option(min=1, help="Events per HTTP request.")] = 1000,
    concurrency: Annotated[int, typer.Option(min=1, help="Concurrent HTTP clients.")] = 8,
    event_ids: Annotated[bool, typer.Option(help="Send client event ids (checked for duplicates).")] = True,
) -> None:
    """HTTP ingest vs raw JSONEachRow insert of the same rows (target >= 100k ev/s, ratio >= 0.3)."""
    from analytics_engine.bench.ingest import run

    run(events, batch, concurrency, event_ids)
