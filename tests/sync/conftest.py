"""Fixtures of the sync tests: a throw-away PostgreSQL schema per test, and settings without the
background schedule (tests start runs themselves)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest

from analytics_engine.config import Settings
from analytics_engine.runtime import Runtime
from analytics_engine.sync.service import SyncService
from analytics_engine.sync.spec import SourceSpec
from tests.conftest import build_settings
from tests.support.services import POSTGRES, require_service

DSN = "postgresql://postgres@127.0.0.1:5432/test"


@dataclass
class PgSchema:
    name: str
    conn: psycopg.Connection[Any]

    def execute(self, statement: str, params: Any = None) -> None:
        self.conn.execute(statement.replace("{s}", self.name), params)

    def rows(self, statement: str, params: Any = None) -> list[tuple[Any, ...]]:
        return self.conn.execute(statement.replace("{s}", self.name), params).fetchall()

    def table(self, name: str) -> str:
        return f"{self.name}.{name}"


@pytest.fixture
def pg() -> Iterator[PgSchema]:
    require_service("PostgreSQL", POSTGRES)
    name = f"sync_{uuid.uuid4().hex[:10]}"
    conn = psycopg.connect(DSN, autocommit=True)
    conn.execute(f"CREATE SCHEMA {name}")
    try:
        yield PgSchema(name, conn)
    finally:
        conn.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")
        conn.close()


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory, warehouse_path: Path) -> Settings:
    return build_settings(tmp_path_factory.mktemp("data"), warehouse_path, sync_schedule=False, sync_chunk_rows=100)


@pytest.fixture
def service(runtime: Runtime) -> SyncService:
    return runtime.sync


def donations_table(pg: PgSchema, rows: int = 1000, tenants: int = 3) -> str:
    """A donations table with `rows` rows over `tenants` organisations, an updated_at index."""
    pg.execute(
        """CREATE TABLE {s}.donations (
            id bigint PRIMARY KEY, org_id text NOT NULL, user_id text NOT NULL, amount numeric(12,2),
            note text, created_at timestamptz NOT NULL, updated_at timestamptz NOT NULL, deleted_at timestamptz)"""
    )
    pg.execute(
        """INSERT INTO {s}.donations SELECT g, 'org-' || mod(g, %s), 'u-' || mod(g, 97), mod(g, 1000) / 7.0,
            'note ' || g, now() - interval '1 day' + g * interval '1 ms',
            now() - interval '1 hour' + g * interval '1 ms', NULL
           FROM generate_series(1, %s) g""",
        (tenants, rows),
    )
    pg.execute("CREATE INDEX ON {s}.donations (updated_at, id)")
    return pg.table("donations")


def table_source(name: str, table: str, **extra: Any) -> SourceSpec:
    values: dict[str, Any] = {
        "name": name,
        "dsn": DSN,
        "table": table,
        "tenant_column": "org_id",
        "cursor": "updated_at",
        "soft_delete_column": "deleted_at",
        "target": {"kind": "table", "table": name.replace("-", "_")},
    }
    values.update(extra)
    return SourceSpec.model_validate(values)


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}"
