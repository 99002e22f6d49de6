"""Budgets and usage on the real PostgreSQL metadata database: the migration, overrides, and usage
from two services adding up (one UPDATE per tenant per flush)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from analytics_engine.budgets import BudgetService, BudgetUpdate
from analytics_engine.config import Settings
from analytics_engine.metadata.db import MetadataDB
from analytics_engine.metadata.models import Tenant

pytestmark = pytest.mark.postgres
BASE_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


@pytest.fixture
def metadata(postgres_url: str) -> Iterator[MetadataDB]:
    db = MetadataDB(postgres_url)
    db.migrate()
    yield db
    db.dispose()


def test_budgets_and_usage_on_postgres(metadata: MetadataDB, tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings = Settings(data_dir=tmp_path)
    with metadata.session() as session:
        tenant = Tenant(name="pg-budget")
        session.add(tenant)
        session.flush()
        tenant_id = tenant.id
    one = BudgetService(metadata, settings, flush_seconds=3600)
    two = BudgetService(metadata, settings, flush_seconds=3600)
    assert one.set_budget(tenant_id, BudgetUpdate(max_rows_to_read=5_000_000_000)).limits.max_rows_to_read == (
        5_000_000_000
    )
    one.record(tenant_id, 1.25, 3_000_000_000, 10**11)
    two.record(tenant_id, 0.75, 1, 1)
    one.flush()
    two.flush()
    one.record(tenant_id, 1.0, 1, 1)
    one.flush()
    usage = BudgetService(metadata, settings).usage(tenant_id)
    assert usage.usage.queries == 3 and usage.usage.query_seconds == 3.0
    assert usage.usage.read_rows == 3_000_000_002 and usage.usage.read_bytes == 10**11 + 2
    assert usage.limits.max_rows_to_read == 5_000_000_000
    with metadata.session() as session:  # the budget row goes with the tenant
        session.delete(session.get(Tenant, tenant_id))
    assert BudgetService(metadata, settings).limits(tenant_id).max_rows_to_read == settings.budget_max_rows_to_read
