"""`analytics-engine`: serve the API, load demo or generated data, manage tenants, benchmark."""

from __future__ import annotations

import gc
import secrets
from typing import TYPE_CHECKING, Annotated

import typer

from analytics_engine import __version__
from analytics_engine.cli.bench import bench_app
from analytics_engine.cli.common import clean_errors, console, fail, out, runtime, settings
from analytics_engine.cli.exports import export_app
from analytics_engine.cli.lifecycle import lifecycle_app, privacy_app
from analytics_engine.cli.scale import capacity, warehouse_ddl
from analytics_engine.cli.streaming import ingest_app
from analytics_engine.cli.sync import sync_app
from analytics_engine.cli.tenants import keys_app, tenants_app

if TYPE_CHECKING:
    from rich.progress import Progress

    from analytics_engine.runtime import Runtime

app = typer.Typer(
    help="Analytics Engine: multi-tenant analytics on ClickHouse.", no_args_is_help=True, add_completion=False
)
app.add_typer(tenants_app, name="tenants")
app.add_typer(keys_app, name="keys")
app.add_typer(bench_app, name="bench")
app.add_typer(export_app, name="export")
app.add_typer(ingest_app, name="ingest")
app.add_typer(sync_app, name="sync")
app.add_typer(lifecycle_app, name="lifecycle")
app.add_typer(privacy_app, name="privacy")
app.command("warehouse-ddl")(warehouse_ddl)
app.command("capacity")(capacity)


def progress_bar() -> Progress:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeRemainingColumn(),
        console=console,
    )


@app.command("config-docs")
def config_docs() -> None:
    """Print docs/configuration.md (every ANALYTICS_* setting with its default and meaning)."""
    from analytics_engine.cli.config_docs import render

    print(render(), end="")


@app.command()
def version() -> None:
    """Print the version."""
    out.print(__version__)


def _dev_admin_key() -> str:
    path = settings().data_dir / "dev-admin-key"
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = "adm_" + secrets.token_urlsafe(24)
    path.write_text(key)
    return key


@app.command()
@clean_errors
def serve(
    dev: Annotated[bool, typer.Option(help="Development: generate an admin key if none is set.")] = False,
    demo: Annotated[bool, typer.Option(help="Load the demo dataset first if it is not loaded yet.")] = False,
    host: Annotated[str | None, typer.Option(help="Bind address (ANALYTICS_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (ANALYTICS_PORT, default 3008).")] = None,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            help="API processes behind the port, each a whole replica: needs a ClickHouse server, PostgreSQL "
            "metadata, a Redis cache and a NATS bus (docs/runbook.md).",
        ),
    ] = 1,
) -> None:
    """Start the HTTP API (creates or migrates both schemas first)."""
    import uvicorn

    from analytics_engine.api.app import create_app
    from analytics_engine.datagen.demo import demo_loaded, keys_file
    from analytics_engine.observability.logging import configure_logging

    config = settings()
    if workers > 1:
        from analytics_engine.api.workers import shared_state_problems

        problems = shared_state_problems(config)
        if problems:
            fail(f"--workers {workers} needs state shared outside one process; " + "; ".join(problems) + ".")
    if not config.admin_key:
        if not dev:
            fail("Set ANALYTICS_ADMIN_KEY (the platform admin key), or run with --dev for a generated one.")
        config.admin_key = _dev_admin_key()
    configure_logging(config.log_level, config.log_json)
    rt = runtime()
    if demo and not demo_loaded(rt):
        _load_demo_with_progress(rt)
    if dev:
        console.print(f"[bold]admin key:[/] {config.admin_key}")
    if demo_loaded(rt):
        console.print(f"[bold]demo tenant keys:[/] {keys_file(rt)}")
    console.print(f"[bold green]serving[/] on http://{host or config.host}:{port or config.port} (docs at /docs)")
    # Many small short-lived objects per request: collect less often (measured in bench ingest).
    gc.set_threshold(50_000, 50, 100)
    if workers > 1:
        _serve_workers(rt, config.admin_key, host or config.host, port or config.port, workers)
        return
    uvicorn.run(
        create_app(config, rt),
        host=host or config.host,
        port=port or config.port,
        log_level="warning",
        access_log=False,
    )
    rt.close()


def _serve_workers(rt: Runtime, admin_key: str, host: str, port: int, workers: int) -> None:
    """Several replicas behind one port: uvicorn starts `workers` processes, each building its own
    runtime from the environment (this process has migrated both schemas already)."""
    import os

    import uvicorn

    from analytics_engine.api.workers import APP_FACTORY

    rt.close()
    os.environ["ANALYTICS_ADMIN_KEY"] = admin_key  # a --dev key reaches the workers too
    uvicorn.run(APP_FACTORY, factory=True, workers=workers, host=host, port=port, log_level="warning", access_log=False)


def _load_demo_with_progress(rt: Runtime) -> None:
    from analytics_engine.datagen.demo import load_demo

    with progress_bar() as progress:
        task = progress.add_task("demo", total=None, rate="")

        def start(name: str, events: int) -> None:
            progress.reset(task, total=events, description=name, rate="")

        load_demo(rt, on_start=start, on_progress=lambda n: progress.advance(task, n))


@app.command()
@clean_errors
def demo() -> None:
    """Load the demo dataset (3 tenants, 365 days) and print their API keys."""
    from analytics_engine.datagen.demo import keys_file

    rt = runtime()
    try:
        _load_demo_with_progress(rt)
        out.print(keys_file(rt).read_text())
    finally:
        rt.close()


@app.command()
@clean_errors
def generate(
    tenants: Annotated[int, typer.Option(min=1, help="Tenants to fill (created as gen-1, gen-2...).")] = 1,
    events: Annotated[int, typer.Option(min=1, help="Events in all, split evenly.")] = 100_000,
    days: Annotated[int, typer.Option(min=1, help="Days of history.")] = 180,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 7,
) -> None:
    """Generate realistic events straight into the warehouse."""
    import time

    from analytics_engine.datagen.generator import GeneratorSpec, generate_events
    from analytics_engine.datagen.loader import load_events
    from analytics_engine.tenants.schemas import TenantCreate

    rt = runtime()
    started = time.perf_counter()
    total = 0
    try:
        with progress_bar() as progress:
            task = progress.add_task("events", total=events, rate="")
            per_tenant = events // tenants
            for number in range(1, tenants + 1):
                name = f"gen-{number}"
                tenant = rt.tenants.find_by_name(name) or rt.tenants.create(TenantCreate(name=name))
                count = per_tenant + (events - per_tenant * tenants if number == tenants else 0)

                def advance(n: int) -> None:
                    nonlocal total
                    total += n
                    rate = total / max(time.perf_counter() - started, 1e-6)
                    progress.update(task, advance=n, rate=f"{rate:,.0f} ev/s")

                load_events(
                    rt.warehouse,
                    tenant.id,
                    generate_events(GeneratorSpec(events=count, days=days, seed=seed + number)),
                    advance,
                )
    finally:
        rt.close()
    out.print(f"generated {total:,} events for {tenants} tenant(s) in {time.perf_counter() - started:.1f}s")


if __name__ == "__main__":
    app()
