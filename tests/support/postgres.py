"""A throw-away PostgreSQL schema for metadata tests on the real server (127.0.0.1:5432, db `test`)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine, text

from tests.support.services import POSTGRES, require_service

BASE_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


@contextmanager
def postgres_schema_url() -> Iterator[str]:
    """A fresh schema; the search_path option keeps Alembic and our tables inside it. Dropped after."""
    require_service("PostgreSQL", POSTGRES)
    schema = f"ae_{uuid.uuid4().hex[:10]}"
    engine = create_engine(BASE_URL)
    with engine.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{BASE_URL}?options=-csearch_path%3D{schema}"
    finally:
        with engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()
