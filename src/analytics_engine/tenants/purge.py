"""Removing a deleted tenant's data: every warehouse table of ours with a `tenant_id` column (found
from the catalogue, so tables added by later migrations are covered too) and every stored file
under the tenant's prefix (exports, report artifacts)."""

from __future__ import annotations

from typing import Any

from analytics_engine.personids.allocator import forget_tenant
from analytics_engine.warehouse.client import Warehouse

# Table engines that hold rows (views and materialized views hold none of their own).
_ROW_ENGINES = "%MergeTree"


def purge_tenant_data(warehouse: Warehouse, tenant_id: str) -> list[str]:
    """Delete the tenant's rows everywhere; returns the tables touched. Waits for the mutations so a
    caller can rely on the data being gone when this returns."""
    # An admin's erasure of a deleted tenant, through the catalogue: platform work, not a tenant
    # query (the tenant and its budget are gone).
    platform = warehouse.platform("tenant purge (admin)")
    tables = [
        row[0]
        for row in platform.query(
            "SELECT t.name FROM system.tables AS t INNER JOIN system.columns AS c "
            "ON c.database = t.database AND c.table = t.name "
            "WHERE t.database = {db:String} AND c.name = 'tenant_id' AND t.engine LIKE {engines:String} "
            "ORDER BY t.name",
            {"db": warehouse.database, "engines": _ROW_ENGINES},
        ).rows
    ]
    for table in tables:
        platform.command(
            f"ALTER TABLE {warehouse.table(table)} DELETE WHERE tenant_id = {{tenant_id:String}} "
            "SETTINGS mutations_sync = 1",
            {"tenant_id": tenant_id},
        )
    # The person id allocator's map of the tenant (personids/) described rows now gone.
    forget_tenant(warehouse, tenant_id)
    return tables


def purge_tenant_files(storage: Any, tenant_id: str) -> int:
    """Delete every object under the tenant's prefix; returns how many."""
    objects = storage.list(tenant_id)
    for item in objects:
        storage.delete(tenant_id, item.key)
    return len(objects)
