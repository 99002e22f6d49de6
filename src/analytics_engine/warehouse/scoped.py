"""The tenant-bound query helper: every read of tenant data passes through here or `insights/`."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from analytics_engine.warehouse.client import QueryResult, Warehouse

TENANT_PARAM = "{tenant_id:String}"


class TenantScope:
    """A warehouse view that always binds `tenant_id`; SQL without the placeholder is refused."""

    def __init__(self, warehouse: Warehouse, tenant_id: str) -> None:
        self.warehouse = warehouse
        self.tenant_id = tenant_id

    def _bind(self, sql: str, params: Mapping[str, Any] | None) -> dict[str, Any]:
        if TENANT_PARAM not in sql:
            raise ValueError("tenant-scoped SQL must filter on {tenant_id:String}")
        bound = dict(params or {})
        if bound.get("tenant_id", self.tenant_id) != self.tenant_id:
            raise ValueError("a tenant-scoped query cannot bind another tenant")
        bound["tenant_id"] = self.tenant_id
        return bound

    def query(self, sql: str, params: Mapping[str, Any] | None = None, **kwargs: Any) -> QueryResult:
        return self.warehouse.query(sql, self._bind(sql, params), **kwargs)

    def stream_rows(
        self, sql: str, params: Mapping[str, Any] | None = None, **kwargs: Any
    ) -> Iterator[tuple[Any, ...]]:
        return self.warehouse.stream_rows(sql, self._bind(sql, params), **kwargs)

    def table(self, name: str) -> str:
        return self.warehouse.table(name)
