"""The tenant-scoped query policy: the one way tenant data is read or written.

`warehouse.for_tenant(tenant)` returns a `TenantScope` whose `query`, `stream_rows`, `command` and
`insert_json_rows` each

1. bind the tenant: the SQL must contain `{tenant_id:String}` and the parameter is always this
   tenant (inserted rows must all carry it);
2. apply the tenant's per-query limits (`BudgetService.query_settings`) as ClickHouse settings on
   reads; settings the calling code passes explicitly win (trusted code only, e.g. exports lift
   `max_execution_time`), the budget fills in the rest;
3. admit the statement through the tenant's gate (`max_concurrent_queries`,
   `query_seconds_per_day`; refusal is `BudgetExceeded`, a 429). A statement run inside an
   enclosing admission of the same tenant (`scope.admitted()`, e.g. one insight's several
   statements) uses that admission's slot instead of taking another;
4. record its cost in the tenant's daily usage.

Background work of a tenant (scheduled cohort evaluation, impact refresh) takes
`for_tenant(tenant, background=True)`: bound and recorded like the rest, but never refused, so a
busy dashboard cannot fail a job. Cross-tenant platform work takes `warehouse.platform(reason)`
(`PlatformScope`): the named exception a grep finds. tests/warehouse/test_policy_guard.py fails
when code outside `warehouse/` calls the raw client.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from typing import TYPE_CHECKING, Any

import orjson

from analytics_engine.errors import BudgetExceeded
from analytics_engine.observability.latency import QUERY_LATENCY

if TYPE_CHECKING:
    # Type-only: the facade (client.py) builds these scopes, so at run time only it imports us.
    from clickhouse_connect.driver.client import Client

    from analytics_engine.warehouse.client import QueryResult, Warehouse

TENANT_PARAM = "{tenant_id:String}"


def tenant_id_of(tenant: Any) -> str:
    """A tenant id from the id itself or from anything carrying `tenant_id` (TenantContext, rows)."""
    if isinstance(tenant, str):
        return tenant
    tenant_id = getattr(tenant, "tenant_id", None)
    if not isinstance(tenant_id, str) or not tenant_id:
        raise ValueError(f"not a tenant: {tenant!r}")
    return tenant_id


class TenantScope:
    """A warehouse view bound to one tenant, under that tenant's budget (see the module doc)."""

    def __init__(self, warehouse: Warehouse, tenant_id: str, *, background: bool = False) -> None:
        self.warehouse = warehouse
        self.tenant_id = tenant_id
        self.background = background
        self.budgets = warehouse.budgets

    # --- binding -------------------------------------------------------------------------------
    def _bind(self, sql: str, params: Mapping[str, Any] | None) -> dict[str, Any]:
        if TENANT_PARAM not in sql:
            raise ValueError("tenant-scoped SQL must filter on {tenant_id:String}")
        bound = dict(params or {})
        if bound.get("tenant_id", self.tenant_id) != self.tenant_id:
            raise ValueError("a tenant-scoped query cannot bind another tenant")
        bound["tenant_id"] = self.tenant_id
        return bound

    # --- limits, admission, usage --------------------------------------------------------------
    def limit_settings(self, settings: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The tenant's per-query limits, overridden by the caller's explicit `settings`."""
        limits = self.budgets.query_settings(self.tenant_id) if self.budgets is not None else {}
        return {**limits, **(settings or {})}

    def max_concurrent_queries(self) -> int:
        """The tenant's concurrency budget (0: unlimited)."""
        if self.budgets is None:
            return 0
        return int(self.budgets.limits(self.tenant_id).max_concurrent_queries or 0)

    @contextmanager
    def admitted(self, *, wait: float = 0.0) -> Iterator[None]:
        """Hold one of the tenant's query slots for the block (statements inside share it).
        With `wait`, a full concurrency budget is waited out for up to that many seconds before
        the refusal is raised; other refusals (the daily budget) are raised at once."""
        budgets = self.budgets
        if budgets is None or self.background or budgets.holds(self.tenant_id):
            yield
            return
        deadline = time.monotonic() + wait
        delay = 0.01
        with ExitStack() as stack:
            while True:
                try:
                    admission = stack.enter_context(budgets.admit(self.tenant_id))
                    break
                except BudgetExceeded as exc:
                    limit = exc.details.get("limit") if isinstance(exc.details, dict) else None
                    if limit != "max_concurrent_queries" or time.monotonic() + delay > deadline:
                        raise
                    time.sleep(delay)
                    delay = min(delay * 2, 0.2)
            # Each statement inside records its own cost; the block itself is not charged again
            # (a block answered from the cache costs nothing).
            admission.recorded = True
            yield

    def _record(self, result: QueryResult | None, started: float) -> None:
        if self.budgets is None:
            return
        if result is not None:
            self.budgets.record_result(self.tenant_id, result)
        else:
            self.budgets.record(self.tenant_id, time.perf_counter() - started, 0, 0)

    # --- statements ----------------------------------------------------------------------------
    def query(
        self,
        sql: str,
        params: Mapping[str, Any] | None = None,
        *,
        settings: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> QueryResult:
        bound = self._bind(sql, params)
        with self.admitted():
            started = time.perf_counter()
            try:
                result = self.warehouse.query(sql, bound, settings=self.limit_settings(settings), **kwargs)
            except BaseException:
                self._record(None, started)  # a failed statement (timeout, read limit): its wall time
                raise
            self._record(result, started)
        QUERY_LATENCY.record(self.tenant_id, time.perf_counter() - started)  # alerts' query_p95_ms signal
        return result

    def stream_rows(
        self, sql: str, params: Mapping[str, Any] | None = None, *, settings: Mapping[str, Any] | None = None
    ) -> Iterator[tuple[Any, ...]]:
        bound = self._bind(sql, params)
        return self._stream(sql, bound, self.limit_settings(settings))

    def _stream(self, sql: str, bound: dict[str, Any], settings: dict[str, Any]) -> Iterator[tuple[Any, ...]]:
        # The slot is held while the caller reads; usage is the wall time of the whole read.
        with self.admitted():
            started = time.perf_counter()
            try:
                yield from self.warehouse.stream_rows(sql, bound, settings=settings)
            finally:
                self._record(None, started)

    def command(self, sql: str, params: Mapping[str, Any] | None = None) -> Any:
        """A statement without a result set (INSERT ... SELECT, DELETE) on the tenant's rows."""
        bound = self._bind(sql, params)
        with self.admitted():
            started = time.perf_counter()
            try:
                return self.warehouse.command(sql, bound)
            finally:
                self._record(None, started)

    def insert_json_rows(
        self,
        table: str,
        columns: Sequence[str],
        body: bytes,
        settings: Mapping[str, Any] | None = None,
        fmt: str = "JSONEachRow",
    ) -> None:
        """Insert JSONEachRow rows, every one of which must carry this tenant's `tenant_id`."""
        if fmt != "JSONEachRow" or "tenant_id" not in columns:
            raise ValueError("a tenant-scoped insert takes JSONEachRow rows with a tenant_id column")
        for line in body.splitlines():
            if line.strip() and orjson.loads(line).get("tenant_id") != self.tenant_id:
                raise ValueError("a tenant-scoped insert cannot write another tenant's rows")
        with self.admitted():
            started = time.perf_counter()
            try:
                self.warehouse.insert_json_rows(table, columns, body, settings=settings, fmt=fmt)
            finally:
                self._record(None, started)

    @contextmanager
    def bound_connection(
        self, sql: str, params: Mapping[str, Any] | None, settings: Mapping[str, Any] | None = None
    ) -> Iterator[tuple[Client, dict[str, Any], dict[str, Any]]]:
        """A pooled driver client for a read the facade has no method for (exports' raw and
        columnar streams), under the same policy: yields the client, the bound parameters and the
        settings to pass; the slot is held and the wall time recorded for the block."""
        bound = self._bind(sql, params)
        merged = self.limit_settings(settings)
        with self.admitted():
            started = time.perf_counter()
            try:
                with self.warehouse.connection() as client:
                    yield client, bound, merged
            finally:
                self._record(None, started)

    def table(self, name: str) -> str:
        return self.warehouse.table(name)


class PlatformScope:
    """Unscoped access for platform work that is cross-tenant by nature (migrations, the ingest
    writer's mixed-tenant batches, sync's per-source tables, benchmark aggregation, tenant purge,
    benchmarks and data generation). Obtained only through `warehouse.platform(reason)`, so every
    exception is named at its call site; no tenant binding, budget or usage applies."""

    def __init__(self, warehouse: Warehouse, reason: str) -> None:
        if not reason.strip():
            raise ValueError("platform access needs a reason")
        self.warehouse = warehouse
        self.reason = reason

    def query(self, sql: str, params: Mapping[str, Any] | None = None, **kwargs: Any) -> QueryResult:
        return self.warehouse.query(sql, params, **kwargs)

    def stream_rows(
        self, sql: str, params: Mapping[str, Any] | None = None, **kwargs: Any
    ) -> Iterator[tuple[Any, ...]]:
        return self.warehouse.stream_rows(sql, params, **kwargs)

    def command(self, sql: str, params: Mapping[str, Any] | None = None, *, sharded: Iterable[str] = ()) -> Any:
        return self.warehouse.command(sql, params, sharded=sharded)

    def insert_json_rows(
        self,
        table: str,
        columns: Sequence[str],
        body: bytes,
        settings: Mapping[str, Any] | None = None,
        fmt: str = "JSONEachRow",
    ) -> None:
        self.warehouse.insert_json_rows(table, columns, body, settings=settings, fmt=fmt)

    def connection(self) -> Any:
        return self.warehouse.connection()

    def table(self, name: str) -> str:
        return self.warehouse.table(name)

    @property
    def database(self) -> str:
        return self.warehouse.database
