"""The CLI's start-up stays cheap (issue 24): a structural check of what gets imported, not a timing.

`analytics-engine --help` and the metadata-only commands must not load the warehouse driver, chDB,
pyarrow, FastAPI, the report renderer or alembic; each is imported inside the command that needs it.
The measured figures are `analytics-engine bench cli` (docs/benchmarks or the README's CLI section)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from analytics_engine.cli.tenants import SCOPES
from analytics_engine.metadata.db import MetadataDB
from analytics_engine.tenants.schemas import Scope, TenantCreate
from analytics_engine.tenants.service import TenantService

HEAVY = (
    "chdb",
    "clickhouse_connect",
    "pyarrow",
    "fastapi",
    "starlette",
    "uvicorn",
    "matplotlib",
    "fontTools",
    "openpyxl",
    "alembic",
    "httpx",
    "numpy",
    "analytics_engine.runtime",
    "analytics_engine.warehouse",
)

PROBE = """
import json, sys
from analytics_engine.cli.main import app
args = json.loads(sys.argv[1])
if args:
    try:
        app(args, standalone_mode=False)
    except SystemExit:
        pass
print("\\n" + json.dumps(sorted(sys.modules)))
"""


def modules_after(args: list[str], env: dict[str, str] | None = None) -> set[str]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(args)], capture_output=True, text=True, check=True, env=env
    )
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


def heavy(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if any(m == h or m.startswith(h + ".") for h in HEAVY))


def test_importing_the_cli_loads_nothing_heavy():
    modules = modules_after([])
    assert heavy(modules) == []
    assert not {"sqlalchemy", "pydantic", "pydantic_settings"} & modules


@pytest.fixture(scope="module")
def migrated_env(tmp_path_factory):
    """A data folder whose metadata database is migrated and holds tenant `acme`."""
    folder = tmp_path_factory.mktemp("cli-import")
    metadata = MetadataDB(f"sqlite:///{folder / 'meta.db'}")
    metadata.migrate()
    TenantService(metadata).create(TenantCreate(name="acme"))
    metadata.dispose()
    return {**os.environ, "ANALYTICS_DATA_DIR": str(folder)}


@pytest.mark.parametrize("args", [["tenants", "list"], ["tenants", "list", "--json"], ["keys", "list", "acme"]])
def test_metadata_commands_load_no_warehouse_and_no_alembic(args, migrated_env):
    assert heavy(modules_after(args, migrated_env)) == []


def test_scopes_spelled_in_the_cli_are_the_models():
    assert set(SCOPES) == {scope.value for scope in Scope}
