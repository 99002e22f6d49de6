"""Shared helpers of the CLI: settings, runtimes, clean error exits."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import NoReturn, ParamSpec, TypeVar

import typer
from rich.console import Console

from analytics_engine.config import Settings, get_settings
from analytics_engine.errors import AppError
from analytics_engine.metadata.db import MetadataDB
from analytics_engine.runtime import Runtime
from analytics_engine.tenants.service import TenantService

console = Console(stderr=True)
out = Console()
P = ParamSpec("P")
R = TypeVar("R")


def fail(message: str, code: int = 1) -> NoReturn:
    console.print(f"[bold red]error:[/] {message}")
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
    return get_settings()


def runtime() -> Runtime:
    """The full runtime (opens the warehouse: with chDB, not while `serve` holds it)."""
    return Runtime.build(settings())


def tenant_service() -> TenantService:
    """Metadata only: works while `serve` is running, even on the embedded warehouse."""
    metadata = MetadataDB(str(settings().metadata_url))
    metadata.migrate()
    return TenantService(metadata)
