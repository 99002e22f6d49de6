"""Shared fixtures. One chDB data path per test process (chDB allows one per process); each test
module gets its own warehouse database and metadata file, so tests never see each other's data."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from analytics_engine.api.app import create_app
from analytics_engine.config import Settings
from analytics_engine.runtime import Runtime
from tests.support.clickhouse import server_url, skip_reason
from tests.support.factories import TenantHandle, make_tenant
from tests.support.postgres import postgres_schema_url

ADMIN_KEY = "test-admin-key"


@pytest.fixture(scope="session")
def warehouse_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("warehouse")


def build_settings(folder: Path, warehouse_path: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "data_dir": folder,
        # ANALYTICS_TEST_CLICKHOUSE_URL: the server compatibility suite (tests/support/clickhouse.py).
        "warehouse_dsn": server_url() or f"chdb://{warehouse_path}",
        "warehouse_database": f"t_{uuid.uuid4().hex[:12]}",
        "admin_key": ADMIN_KEY,
        "log_json": False,
        "ingest_batch_max_wait_ms": 2,
        # No background warming of dashboards (a test's first render would race it); tests that
        # exercise it turn it on (tests/dashboards/test_warm.py).
        "dashboard_warm": False,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory, warehouse_path: Path) -> Settings:
    return build_settings(tmp_path_factory.mktemp("data"), warehouse_path)


@pytest.fixture(scope="module")
def runtime(settings: Settings) -> Iterator[Runtime]:
    rt = Runtime.build(settings)
    yield rt
    rt.metadata.dispose()


@pytest.fixture(scope="module")
def client(settings: Settings, runtime: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(settings, runtime), raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def admin_headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {ADMIN_KEY}"}


@pytest.fixture
def new_tenant(client: TestClient, admin_headers: dict[str, str]):  # type: ignore[no-untyped-def]
    """Factory: `new_tenant(timezone=..., scopes=...)` makes a fresh tenant with a key."""

    def make(**kwargs: object) -> TenantHandle:
        return make_tenant(client, admin_headers, f"tenant-{uuid.uuid4().hex[:8]}", **kwargs)  # type: ignore[arg-type]

    return make


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """The URL of a fresh schema on the real PostgreSQL server (skips loudly outside CI, fails in CI)."""
    with postgres_schema_url() as url:
        yield url


def pytest_report_header() -> str:
    """Say at the top of every run which warehouse the tests use."""
    url = server_url()
    if url is None:
        return f"warehouse: embedded chDB. ClickHouse server suite: {skip_reason()}"
    return f"warehouse: ClickHouse server {url.split('@')[-1]} (ANALYTICS_TEST_CLICKHOUSE_URL)"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked `clickhouse_server` skip loudly without ANALYTICS_TEST_CLICKHOUSE_URL, in CI too
    (there is no server there), before any fixture builds a runtime for them."""
    if server_url() is not None:
        return
    skip = pytest.mark.skip(reason=skip_reason())
    for item in items:
        if item.get_closest_marker("clickhouse_server"):
            item.add_marker(skip)
