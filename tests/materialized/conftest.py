"""Settings of the materialized-property tests: small caps, and no wait before a dropped column goes
(`materialized_refresh_seconds=0`, so a process's list of ready columns is always read afresh)."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from analytics_engine.config import Settings
from analytics_engine.runtime import Runtime
from analytics_engine.tenants.schemas import TenantCreate
from analytics_engine.tenants.service import TenantContext
from tests.conftest import build_settings

MAX_PER_TENANT = 4
MAX_COLUMNS = 10


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory, warehouse_path: Path) -> Settings:
    return build_settings(
        tmp_path_factory.mktemp("data"),
        warehouse_path,
        materialized_refresh_seconds=0,
        materialized_max_per_tenant=MAX_PER_TENANT,
        materialized_max_columns=MAX_COLUMNS,
        # The module's tests share a warehouse and each materializes its own columns: the rollup's
        # column cap (tested with its own settings in test_property_rollup_bound.py) must not run out.
        property_rollup_max_columns=MAX_COLUMNS,
    )


def real_tenant(runtime: Runtime, timezone: str = "UTC") -> TenantContext:
    """A tenant row in the metadata (materialized properties link to it) and its context."""
    public = runtime.tenants.create(TenantCreate(name=f"mp-{uuid.uuid4().hex[:10]}", timezone=timezone))
    return TenantContext(public.id, public.name, timezone, frozenset({"read", "admin"}), "key")
