"""Shared helpers of the CLI: settings, runtimes, tenants by name or id, list output, clean error exits.

Nothing heavy is imported at module level (issue 24): `analytics-engine --help` and the commands that
only read the metadata database must answer in well under a second, so the warehouse driver, chDB,
pyarrow, FastAPI and the rest load inside the functions that need them.
`tests/cli/test_import_cost.py` guards it.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, NoReturn, ParamSpec, TypeVar

import typer
from rich.console import Console

from analytics_engine.errors import AppError

if TYPE_CHECKING:
    from analytics_engine.config import Settings
    from analytics_engine.runtime import Runtime
    from analytics_engine.tenants.schemas import TenantPublic
    from analytics_engine.tenants.service import TenantService

console = Console(stderr=True)
out = Console()
P = ParamSpec("P")
R = TypeVar("R")


def fail(message: str, code: int = 1) -> NoReturn:
    console.print(f"[bold red]error:[/] {message}", soft_wrap=True)
    raise typer.Exit(code)


def clean_errors(function: Callable[P, R]) -> Callable[P, R]:
    """Our errors become one red line and a non-zero exit, never a traceback."""

    @functools.wraps(function)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return function(*args, **kwargs)
        except AppError as exc:
            fail(exc.message)
        except KeyboardInterrupt:
            console.print("interrupted")
            sys.exit(130)

    return wrapper


def settings() -> Settings:
    from analytics_engine.config import get_settings

    return get_settings()


def runtime() -> Runtime:
    """The full runtime (opens the warehouse: with chDB, not while `serve` holds it)."""
    from analytics_engine.runtime import Runtime

    return Runtime.build(settings())


def tenant_service() -> TenantService:
    """Metadata only: works while `serve` is running, even on the embedded warehouse."""
    from analytics_engine.metadata.db import MetadataDB
    from analytics_engine.tenants.service import TenantService

    metadata = MetadataDB(str(settings().metadata_url))
    metadata.migrate_if_needed()
    return TenantService(metadata)


def find_tenant(service: TenantService, ref: str) -> TenantPublic:
    """A tenant by id or by name (ids first: a name that looks like another tenant's id never wins)."""
    from analytics_engine.errors import NotFound

    try:
        return service.get(ref)
    except NotFound:
        found = service.find_by_name(ref)
        if found is None:
            raise NotFound(f"No tenant with id or name {ref!r}.") from None
        return found


def print_rows(columns: Sequence[str], rows: Iterable[Sequence[Any]], *, as_json: bool) -> None:
    """A list command's output: JSON (`--json`), a table on a terminal, tab-separated lines otherwise.

    Values are never cut: the table folds a long cell onto the next line instead of an ellipsis, and
    piped output is plain text whatever the width."""
    materialized = [list(row) for row in rows]
    if as_json:
        print(json.dumps([dict(zip(columns, row, strict=True)) for row in materialized], default=str, indent=2))
        return
    shown = [["" if value is None else str(value) for value in row] for row in materialized]
    if not out.is_terminal:
        print("\t".join(columns))
        for row in shown:
            print("\t".join(row))
        return
    from rich.table import Table

    table = Table(*columns)
    for column in table.columns:
        column.overflow = "fold"
    widest_id = max((len(row[0]) for row in shown), default=0)
    table.columns[0].min_width = widest_id
    table.columns[0].no_wrap = True
    for row in shown:
        table.add_row(*row)
    out.print(table)


JsonOption = typer.Option("--json", help="Print JSON (a list of objects) instead of a table.")
