"""`Warehouse`: the one way the service talks to ClickHouse.

The DSN picks the engine (`chdb:///path` embedded in-process, or `http(s)://host:8123`); everything
above this module is the same for both. Queries are parameterized (`{name:Type}`) and per-query
settings travel in the SQL's own SETTINGS clause, which costs nothing on either engine (the chDB
backend would otherwise run a snapshot/SET/restore round for each query).
"""

from __future__ import annotations

import contextlib
import os
import queue
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

import clickhouse_connect
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import ClickHouseError, DatabaseError, OperationalError

from analytics_engine.errors import BudgetExceeded, InvalidInput, QueryTimeout, WarehouseError

if TYPE_CHECKING:
    from analytics_engine.budgets.service import BudgetService
    from analytics_engine.metadata.leases import Leases
    from analytics_engine.warehouse.scoped import PlatformScope, TenantScope

_SETTING_NAME_CHARS = set("abcdefghijklmnopqrstuvwxyz_0123456789")
# ClickHouse error codes that mean "the query hit a limit we set", not "the warehouse is broken".
_TIMEOUT_CODES = {159, 394}  # TIMEOUT_EXCEEDED, QUERY_WAS_CANCELLED
_LIMIT_CODES = {158, 307, 396}  # TOO_MANY_ROWS, TOO_MANY_BYTES, TOO_MANY_ROWS_OR_BYTES


@dataclass
class QueryResult:
    columns: list[str]
    rows: list[tuple[Any, ...]]
    truncated: bool = False
    elapsed_ms: float = 0.0
    summary: dict[str, Any] = field(default_factory=dict)
    # ClickHouse type names of the columns (`String`, `Nullable(Float64)`), in `columns` order.
    column_types: list[str] = field(default_factory=list)

    def dicts(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]

    def scalar(self) -> Any:
        return self.rows[0][0] if self.rows else None


def render_settings(settings: Mapping[str, Any] | None) -> str:
    """A SETTINGS clause from trusted names and numeric or short string values."""
    if not settings:
        return ""
    parts = []
    for name, value in settings.items():
        if not set(name) <= _SETTING_NAME_CHARS:
            raise ValueError(f"not a setting name: {name!r}")
        if isinstance(value, bool):
            value = int(value)
        if isinstance(value, int | float):
            parts.append(f"{name} = {value}")
        else:
            escaped = str(value).replace("\\", "\\\\").replace("'", "\\'")
            parts.append(f"{name} = '{escaped}'")
    return " SETTINGS " + ", ".join(parts)


def _error_code(exc: Exception) -> int | None:
    text = str(exc)
    marker = "Code: "
    start = text.find(marker)
    if start < 0:
        return None
    digits = ""
    for char in text[start + len(marker) :]:
        if not char.isdigit():
            break
        digits += char
    return int(digits) if digits else None


def _read_limit(text: str) -> str | None:
    """Which per-query read budget (max_rows_to_read / max_bytes_to_read) a limit error names."""
    if "Limit for result" in text:
        return None  # max_result_rows: a result size cap, not a read budget
    if "'max_rows_to_read'" in text:
        return "max_rows_to_read"
    if "'max_bytes_to_read'" in text or "max bytes:" in text:
        return "max_bytes_to_read"
    if "to read exceeded" in text and "max rows:" in text:
        return "max_rows_to_read"
    return None


def translate_error(exc: Exception) -> Exception:
    """Turn a driver exception into one of ours; the message keeps ClickHouse's first line only."""
    code = _error_code(exc)
    first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if code in _TIMEOUT_CODES:
        details: dict[str, Any] = {"clickhouse_code": code}
        if code == 159:
            details["limit"] = "max_execution_time"
        return QueryTimeout("The query ran past its time limit.", details=details)
    if code in _LIMIT_CODES and (limit := _read_limit(str(exc))):
        return BudgetExceeded(
            f"The query would read more data than this tenant's budget allows ({limit}); narrow the date "
            "range or filters, or ask the platform admin to raise the budget.",
            retry_after=60,
            details={"limit": limit, "clickhouse_code": code},
        )
    if code in _LIMIT_CODES:
        return InvalidInput(
            "The query would read more data than its budget allows.",
            code="query_too_large",
            details={"clickhouse_code": code},
        )
    return WarehouseError(f"Warehouse error: {first_line[:500]}", details={"clickhouse_code": code})


_STDERR_LOCK = threading.Lock()


@contextlib.contextmanager
def _engine_stderr() -> Iterator[None]:
    """Hold what the embedded engine writes to file descriptor 2 while it starts (chDB prints a raw
    `Code: 76. DB::Exception: Cannot lock file ...` there before raising; issue 24). On success the
    text is passed on to stderr unchanged; on failure it becomes a note of the exception, whose
    translation into our error is what the user sees."""
    with _STDERR_LOCK, tempfile.TemporaryFile() as held:
        sys.stderr.flush()
        saved = os.dup(2)
        os.dup2(held.fileno(), 2)

        def release() -> str:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            held.seek(0)
            return held.read().decode(errors="replace").strip()

        try:
            yield
        except BaseException as exc:
            if text := release():
                exc.add_note(text)
            raise
        if text := release():
            print(text, file=sys.stderr)


class Warehouse:
    """A small pool of clickhouse-connect clients on one DSN and one database."""

    def __init__(
        self,
        dsn: str,
        database: str,
        *,
        pool_size: int = 4,
        query_timeout: float = 30.0,
        cluster: str | None = None,
        engine_options: Mapping[str, Any] | None = None,
    ) -> None:
        self.dsn = dsn
        # Server settings of the embedded engine (its cache caps), given when it starts: the first
        # handle in the process starts it; every handle passes the same ones.
        self.engine_options = dict(engine_options or {})
        self.database = database
        # A ClickHouse cluster name (ANALYTICS_CLICKHOUSE_CLUSTER): migrations take their cluster form
        # (warehouse/cluster.py); tables keep their names (Distributed tables in front of *_local).
        self.cluster = cluster
        self.query_timeout = query_timeout
        self.embedded = dsn.startswith("chdb:")
        if cluster and self.embedded:
            raise ValueError("ANALYTICS_CLICKHOUSE_CLUSTER needs a ClickHouse server DSN, not the embedded chDB.")
        self._pool: queue.LifoQueue[Client] = queue.LifoQueue()
        self._pool_size = pool_size
        self._created = 0
        self._lock = threading.Lock()
        self._closed = False
        # The tenants' BudgetService, attached by the runtime; `for_tenant` scopes apply it. A bare
        # Warehouse (CLI tools, unit tests) has none, and its scopes only bind the tenant.
        self.budgets: BudgetService | None = None
        # Leases shared by every process on the same metadata database (metadata/leases.py): the
        # swaps of derived partitions hold one per (table, partition). Set by `Core.parts`.
        self.leases: Leases | None = None

    # --- connections ---------------------------------------------------------------------------
    def _new_client(self) -> Client:
        if self.embedded:
            with _engine_stderr():
                return clickhouse_connect.get_client(dsn=self.dsn, chdb_options=self.engine_options or None)
        return clickhouse_connect.get_client(dsn=self.dsn, connect_timeout=5, send_receive_timeout=300)

    @contextlib.contextmanager
    def connection(self) -> Iterator[Client]:
        try:
            client = self._pool.get_nowait()
        except queue.Empty:
            with self._lock:
                grow = self._created < self._pool_size
                if grow:
                    self._created += 1
            if grow:
                try:
                    client = self._new_client()
                except Exception as exc:
                    with self._lock:
                        self._created -= 1
                    raise self._connect_error(exc) from exc
            else:
                client = self._pool.get()
        try:
            yield client
        finally:
            self._pool.put(client)

    def _connect_error(self, exc: Exception) -> WarehouseError:
        if self.embedded and ("EmbeddedServer" in str(exc) or "Unable to open the chdb engine" in str(exc)):
            return WarehouseError(
                f"The embedded warehouse at {self.dsn.removeprefix('chdb://')} is in use by another process "
                "(is `analytics-engine serve` running on the same data folder?). Stop it, or work through "
                "the HTTP API.",
                code="warehouse_busy",
                details={"engine": " ".join(getattr(exc, "__notes__", []))[:500]},
            )
        return WarehouseError(f"Cannot connect to the warehouse: {str(exc).splitlines()[0][:300]}")

    def close(self) -> None:
        self._closed = True
        while True:
            try:
                client = self._pool.get_nowait()
            except queue.Empty:
                break
            with contextlib.suppress(Exception):
                client.close()
        self._created = 0

    # --- the policy: every caller outside this package starts here -----------------------------
    def for_tenant(self, tenant: Any, *, background: bool = False) -> TenantScope:
        """The tenant-scoped policy (binding, limits, admission, usage): see `scoped.py`."""
        from analytics_engine.warehouse.scoped import TenantScope, tenant_id_of

        return TenantScope(self, tenant_id_of(tenant), background=background)

    def platform(self, reason: str) -> PlatformScope:
        """Unscoped access for cross-tenant platform work; `reason` names the exception."""
        from analytics_engine.warehouse.scoped import PlatformScope

        return PlatformScope(self, reason)

    # --- statements (raw: only `scoped.py`, migrations and this class call them) --------------
    def query(
        self,
        sql: str,
        params: Mapping[str, Any] | None = None,
        *,
        settings: Mapping[str, Any] | None = None,
        max_rows: int | None = None,
        timeout: float | None = None,
    ) -> QueryResult:
        """Run a SELECT; with `max_rows`, fetch one row more to report truncation honestly."""
        merged = {"max_execution_time": timeout or self.query_timeout, **(settings or {})}
        text = sql
        if max_rows is not None:
            text = f"SELECT * FROM ({sql}) LIMIT {int(max_rows) + 1}"
        text += render_settings(merged)
        started = time.perf_counter()
        try:
            with self.connection() as client:
                result = client.query(text, parameters=dict(params or {}))
        except (ClickHouseError, DatabaseError, OperationalError) as exc:
            raise translate_error(exc) from exc
        # clickhouse_connect's rows are tuples; its `Matrix` type only says Sequence[Sequence[Any]].
        rows = cast(list[tuple[Any, ...]], list(result.result_rows))
        truncated = max_rows is not None and len(rows) > max_rows
        if truncated:
            rows = rows[:max_rows]
        return QueryResult(
            columns=list(result.column_names),
            rows=rows,
            truncated=truncated,
            elapsed_ms=(time.perf_counter() - started) * 1000,
            summary=dict(result.summary or {}),
            column_types=[getattr(t, "name", str(t)) for t in result.column_types],
        )

    def command(self, sql: str, params: Mapping[str, Any] | None = None, *, sharded: Iterable[str] = ()) -> Any:
        """Run DDL or a statement without a result set. On a cluster, mutations and drops of our
        tables go to their shard-local tables ON CLUSTER (warehouse/cluster.py `cluster_command`):
        the migrations' tables, and `sharded`, tables the service created with `cluster.table_ddl`
        (sync targets). An `INSERT ... SELECT` returns once the shards hold its rows."""
        statements = [sql]
        settings: dict[str, Any] | None = None
        if self.cluster:
            from analytics_engine.warehouse.cluster import cluster_command, cluster_tables

            statements = cluster_command(sql, self.database, self.cluster, cluster_tables() | frozenset(sharded))
            settings = {"distributed_foreground_insert": 1}
        try:
            with self.connection() as client:
                result = None
                for statement in statements:
                    result = client.command(statement, parameters=dict(params or {}), settings=settings)
                return result
        except (ClickHouseError, DatabaseError, OperationalError) as exc:
            raise translate_error(exc) from exc

    def insert_json_rows(
        self,
        table: str,
        columns: Sequence[str],
        body: bytes,
        settings: Mapping[str, Any] | None = None,
        fmt: str = "JSONEachRow",
    ) -> None:
        """Insert a ready body of JSON rows (JSONEachRow, or `fmt`) in one block (our batching decides
        the block size). On a cluster the insert returns once the shards hold the rows
        (`distributed_foreground_insert`), its deduplication token travelling with it."""
        if self.cluster:
            settings = {**(settings or {}), "distributed_foreground_insert": 1}
        try:
            with self.connection() as client:
                client.raw_insert(
                    table,
                    column_names=list(columns),
                    insert_block=body,
                    fmt=fmt,
                    settings=dict(settings) if settings is not None else None,
                )
        except (ClickHouseError, DatabaseError, OperationalError) as exc:
            raise translate_error(exc) from exc

    def stream_rows(
        self, sql: str, params: Mapping[str, Any] | None = None, *, settings: Mapping[str, Any] | None = None
    ) -> Iterator[tuple[Any, ...]]:
        """Yield rows block by block without holding the result in memory."""
        text = sql + render_settings(settings)
        try:
            with (
                self.connection() as client,
                client.query_rows_stream(text, parameters=dict(params or {})) as rows,
            ):
                yield from rows
        except (ClickHouseError, DatabaseError, OperationalError) as exc:
            raise translate_error(exc) from exc

    def ping(self) -> bool:
        try:
            return bool(self.query("SELECT 1").scalar() == 1)
        except Exception:
            return False

    def table(self, name: str) -> str:
        """The qualified name of one of our tables (names are ours, never user input)."""
        return f"`{self.database}`.`{name}`"
