"""Running a tenant's restricted SQL: the one entry point for the API, saved SQL metrics, alerts and AI.

    from analytics_engine.query.service import run_restricted_sql
    result = run_restricted_sql(runtime, tenant, "SELECT event, count() FROM events GROUP BY event", limit=100)
    result.columns, result.rows, result.truncated

The SQL goes through the guard (guard.py), then through the warehouse's tenant scope, which binds
the tenant, admits the query through the tenant's gate (429 over budget), applies the tenant's
per-query limits (time, rows and bytes read) and records the usage. This module adds, as ClickHouse
settings and never as text: `readonly = 1`, the result limit (`limit` + 1 rows, to say `truncated`
honestly), `max_result_rows`, `max_result_bytes` and `max_memory_usage`.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import math
import re
import uuid
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import structlog
from pydantic import BaseModel, Field

from analytics_engine.errors import BadRequest, InvalidInput, WarehouseError
from analytics_engine.query.catalogue import CATALOGUES, Catalogue, DeclaredTenants, build_catalogue
from analytics_engine.query.errors import SqlNotAllowed
from analytics_engine.query.guard import UNKNOWN_TABLE, Guarded, guard
from analytics_engine.sync.registry import SourceRegistry
from analytics_engine.sync.spec import SourceSpec
from analytics_engine.warehouse.scoped import tenant_id_of

if TYPE_CHECKING:
    from analytics_engine.config import Settings
    from analytics_engine.core import Core
    from analytics_engine.warehouse.client import Warehouse
    from analytics_engine.warehouse.scoped import TenantScope

log = structlog.get_logger(__name__)

DEFAULT_LIMIT = 1_000
MAX_LIMIT = 100_000


class SqlColumn(BaseModel):
    name: str
    type: str = Field(description="ClickHouse type, e.g. `String`, `UInt64`, `DateTime64(3, 'UTC')`.")


class SqlResult(BaseModel):
    """A restricted SQL answer: typed columns, rows of JSON values, and what it cost."""

    columns: list[SqlColumn]
    rows: list[list[Any]]
    truncated: bool = Field(description="More rows matched than `limit`; only the first `limit` are here.")
    limit: int
    rows_read: int = 0
    bytes_read: int = 0
    elapsed_ms: float = 0.0
    query_id: str
    tables: list[str] = Field(default_factory=list, description="The tenant tables the query read.")


class SqlExplain(BaseModel):
    plan: list[str] = Field(description="ClickHouse's query plan, one line per step.")
    estimated_rows: int | None = Field(None, description="Rows ClickHouse expects to read (EXPLAIN ESTIMATE).")
    estimate: list[dict[str, Any]] = Field(default_factory=list, description="Parts, rows and marks per table.")
    tables: list[str] = Field(default_factory=list)
    query_id: str


class SqlError(BadRequest):
    """ClickHouse refused a query the guard let through (an unknown column, a type mismatch)."""

    code = "sql_error"


def _warehouse(source: Any) -> Warehouse:
    warehouse = getattr(source, "warehouse", source)
    if not hasattr(warehouse, "for_tenant"):
        raise TypeError(f"not a runtime or warehouse: {source!r}")
    return warehouse  # type: ignore[no-any-return]


def _settings_of(source: Any) -> Settings | None:
    return getattr(source, "settings", None)


def _declared_tenants(source: Any) -> Callable[[], DeclaredTenants] | None:
    """The tenants each sync source names, from the runtime's sync registry (file and metadata DB);
    None with a bare warehouse (then synced tables go to the tenants holding rows in them)."""
    metadata, settings = getattr(source, "metadata", None), _settings_of(source)
    if metadata is None or settings is None:
        return None

    def read() -> DeclaredTenants:
        registry = SourceRegistry(metadata, settings.sync_sources_file)
        try:
            specs = registry.all()
        except InvalidInput:
            # A broken sources file: fall back on the rows (its message names a host path; not here).
            log.warning("sql.catalogue.sync_sources_unreadable")
            specs = registry_api_specs(registry)
        return {spec.name: spec.tenants() for spec, _ in specs}

    return read


def registry_api_specs(registry: SourceRegistry) -> list[tuple[SourceSpec, str]]:
    try:
        return [(spec, "api") for spec in registry.api_specs()]
    except InvalidInput:
        return []


def catalogue_for(source: Core | Warehouse, tenant: Any) -> Catalogue:
    """The tables `tenant`'s SQL may read in this warehouse (refreshed every 30 s): the built-in
    tables and the synced tables that can hold its rows (catalogue.py)."""
    warehouse = _warehouse(source)
    return CATALOGUES.get(warehouse, _declared_tenants(source)).for_tenant(tenant_id_of(tenant))


def check_sql(source: Core | Warehouse, tenant: Any, sql: str) -> Guarded:
    """Guard `sql` for `tenant` without running it."""
    return guard(sql, catalogue_for(source, tenant))


_PRECHECK = build_catalogue("precheck")


def precheck_sql(sql: str) -> None:
    """Guard `sql` without a warehouse (when a SQL query is saved): everything but the synced tables,
    which only the warehouse knows, is checked; raises SqlNotAllowed / SqlSyntaxError."""
    try:
        guard(sql, _PRECHECK)
    except SqlNotAllowed as exc:
        if not exc.reason.startswith(UNKNOWN_TABLE):
            raise


def _limit(limit: int | None, settings: Settings | None) -> int:
    default = settings.sql_default_limit if settings is not None else DEFAULT_LIMIT
    most = settings.sql_max_limit if settings is not None else MAX_LIMIT
    value = default if limit is None else int(limit)
    if value < 1 or value > most:
        raise InvalidInput(f"limit must be between 1 and {most}", code="invalid_limit", details={"max": most})
    return value


def query_settings(limit: int, settings: Settings | None, query_id: str) -> dict[str, Any]:
    """The ClickHouse settings every restricted query runs with (beside the tenant's budget)."""
    out: dict[str, Any] = {
        "readonly": 1,
        "limit": limit + 1,
        "max_result_rows": limit + 1,
        "result_overflow_mode": "throw",
        "log_comment": f"restricted-sql {query_id}",
    }
    if settings is None or settings.sql_max_result_bytes:
        out["max_result_bytes"] = settings.sql_max_result_bytes if settings is not None else 200_000_000
    if settings is None or settings.sql_max_memory_usage:
        out["max_memory_usage"] = settings.sql_max_memory_usage if settings is not None else 2_000_000_000
    return out


def _scope(source: Any, tenant: Any, background: bool = False) -> TenantScope:
    return _warehouse(source).for_tenant(tenant, background=background)


_HOST_PATH = re.compile(r"(?<![\w:])/(?:[\w.@-]+/)+[\w.@-]*")


def _sql_error(exc: WarehouseError, database: str) -> Exception:
    """A warehouse error caused by the query itself becomes a 400 with ClickHouse's reason (cut
    before the rewritten query it may quote, and without our database name)."""
    details = exc.details if isinstance(exc.details, Mapping) else {}
    code = details.get("clickhouse_code")
    if code is None:
        return exc  # the warehouse itself is unreachable: stays a 503
    message = exc.message.removeprefix("Warehouse error: ")
    for cut in (" In scope ", " In query ", " While processing ", " While executing ", ". Actual ", ". Stack trace"):
        message = message.split(cut)[0]
    message = message.replace(f"{database}.", "").replace(database, "")
    message = _HOST_PATH.sub("<path>", message)  # a file of the warehouse is not the tenant's business
    return SqlError(f"ClickHouse refused the query: {message[:400]}", details={"clickhouse_code": code})


def run_restricted_sql(
    source: Core | Warehouse,
    tenant: Any,
    sql: str,
    limit: int | None = None,
    *,
    background: bool = False,
    guarded: Guarded | None = None,
) -> SqlResult:
    """Run a tenant's SQL under the guard and the tenant's budget; at most `limit` rows (default
    1,000, at most 100,000), `truncated` when more matched. `source` is the runtime (or its
    warehouse); `tenant` a TenantContext or tenant id. Raises SqlNotAllowed / SqlSyntaxError (400),
    SqlError (400, ClickHouse refused it), BudgetExceeded (429), QueryTimeout (504).
    `background=True` (scheduled work: alert evaluation) is bound, limited and recorded like the rest
    but never refused by the tenant's gate (warehouse/scoped.py); `guarded` is `check_sql`'s answer
    when the caller checked the text already."""
    settings = _settings_of(source)
    rows_limit = _limit(limit, settings)
    checked = guarded or check_sql(source, tenant, sql)
    query_id = uuid.uuid4().hex
    scope = _scope(source, tenant, background)
    try:
        result = scope.query(checked.sql, {}, settings=query_settings(rows_limit, settings, query_id))
    except WarehouseError as exc:
        raise _sql_error(exc, scope.warehouse.database) from None
    rows = [[plain(value) for value in row] for row in result.rows[:rows_limit]]
    types = result.column_types or ["" for _ in result.columns]
    summary = result.summary or {}
    log.info("sql.ran", tenant_id=scope.tenant_id, query_id=query_id, tables=checked.tables, rows=len(rows))
    return SqlResult(
        columns=[SqlColumn(name=name, type=kind) for name, kind in zip(result.columns, types, strict=True)],
        rows=rows,
        truncated=len(result.rows) > rows_limit,
        limit=rows_limit,
        rows_read=int(_number(summary.get("read_rows"))),
        bytes_read=int(_number(summary.get("read_bytes"))),
        elapsed_ms=round(result.elapsed_ms, 3),
        query_id=query_id,
        tables=list(checked.tables),
    )


def explain_restricted_sql(source: Core | Warehouse, tenant: Any, sql: str) -> SqlExplain:
    """ClickHouse's plan of a guarded query and the rows it expects to read; nothing runs."""
    settings = _settings_of(source)
    checked = check_sql(source, tenant, sql)
    query_id = uuid.uuid4().hex
    scope = _scope(source, tenant)
    options = query_settings(1, settings, query_id)
    for name in ("limit", "max_result_rows"):
        options.pop(name)
    try:
        # The guarded SQL is the guard's own output (never the submitted text): EXPLAIN in front of it.
        plan = scope.query("EXPLAIN PLAN " + checked.sql, {}, settings=options)
        estimate = scope.query("EXPLAIN ESTIMATE " + checked.sql, {}, settings=options)
    except WarehouseError as exc:
        raise _sql_error(exc, scope.warehouse.database) from None
    lines = [str(row[0]) for row in plan.rows]
    parts = [_estimate_row(row) for row in estimate.dicts()]
    return SqlExplain(
        plan=lines,
        estimated_rows=sum(int(_number(p.get("rows"))) for p in parts),
        estimate=parts,
        tables=list(checked.tables),
        query_id=query_id,
    )


def _estimate_row(row: dict[str, Any]) -> dict[str, Any]:
    # The database name is ours, not the tenant's business.
    return {key: plain(value) for key, value in row.items() if key != "database"}


def _number(value: Any) -> float:
    try:
        return float(value or 0)
    except (TypeError, ValueError):
        return 0.0


def plain(value: Any) -> Any:
    """A ClickHouse value as JSON: dates as ISO text, UUIDs and IPs as text, no NaN or infinity."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value) if value.is_finite() else None
    if isinstance(value, uuid.UUID | ipaddress.IPv4Address | ipaddress.IPv6Address):
        return str(value)
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8", "replace")
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [plain(v) for v in value]
    return str(value)
