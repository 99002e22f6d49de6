"""The base runner: one `run()` for every kind, holding caching, budgets and timing once.

A kind subclasses `InsightRunner` and writes `to_sql()` (pure: SQL and parameters, no I/O) and
`calculate(executor)` (runs the SQL through the tenant scope and maps rows into `InsightResponse`).
It tunes behaviour through small hooks (`cache_range_end`, `limit_context`), never by overriding
`run()`.
"""

from __future__ import annotations

import contextvars
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

import orjson
import structlog

from analytics_engine.errors import InvalidInput
from analytics_engine.insights.dates import Resolved, resolve_range
from analytics_engine.insights.filters import (
    CohortConditions,
    MaterializedColumns,
    Params,
    cohort_ids,
    filters_sql,
    group_types_named,
    string_expr,
)
from analytics_engine.insights.results import RESULT_VERSION, InsightResponse, Timing
from analytics_engine.warehouse.client import QueryResult
from analytics_engine.warehouse.scoped import TENANT_PARAM, TenantScope

if TYPE_CHECKING:
    from analytics_engine.runtime import Runtime

log = structlog.get_logger(__name__)

Q = TypeVar("Q")
TENANT_PREDICATE = f"tenant_id = {TENANT_PARAM}"
# How per-person stages (funnels, retention, engagement) tell people apart: `events.person_key`, the
# 64-bit hash of distinct_id stored with each event (warehouse migration 0961). Grouping and joining
# millions of events by a number instead of a string halves their CPU (measured on 10M events,
# docs/insights.md); two of a tenant's ids colliding in 64 bits is a chance of about 1e-8 at a million
# people. Lists of people use distinct_id itself.
PERSON_KEY = "person_key"
# The top-level flag comes before any series in the serialised answer, so the first match is it.
_NOT_CACHED, _CACHED = b'"cached":false', b'"cached":true'
# Statements of one insight run side by side at most this many at a time (the warehouse pool holds 4+).
MAX_PARALLEL_STATEMENTS = 4


@dataclass(frozen=True)
class SQL:
    """One statement a runner will run: text with `{name:Type}` placeholders and their values."""

    name: str
    text: str
    params: dict[str, Any]
    # ClickHouse settings the statement needs (e.g. `enable_materialized_cte`), on top of the budget's.
    settings: dict[str, Any] | None = None


class Executor:
    """Runs a runner's statements for one tenant under its budget settings, and keeps the timing."""

    def __init__(self, runtime: Runtime, tenant_id: str) -> None:
        # The warehouse's tenant policy binds the tenant, applies the budget's limits, shares the
        # caller's admission and records each statement's usage.
        self.scope: TenantScope = runtime.warehouse.for_tenant(tenant_id)
        self.tenant_id = tenant_id
        self.timing = Timing()
        self._lock = threading.Lock()

    def run(self, statement: SQL) -> QueryResult:
        result = self.scope.query(statement.text, statement.params, settings=statement.settings)
        with self._lock:
            self.timing.sql_ms += result.elapsed_ms
            self.timing.queries += 1
        return result

    def run_all(self, statements: Sequence[SQL]) -> list[QueryResult]:
        """Several statements at once (a trend's series, its previous period): the warehouse runs
        them side by side on its connection pool, so the answer waits for the slowest, not the sum.
        Results come back in the statements' order."""
        if len(statements) < 2:
            return [self.run(statement) for statement in statements]
        workers = min(len(statements), MAX_PARALLEL_STATEMENTS)
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="insight-sql") as pool:
            # Each thread runs in a copy of the caller's context (request id in the logs).
            futures = [pool.submit(contextvars.copy_context().run, self.run, s) for s in statements]
            return [future.result() for future in futures]


def answer_cache_key(runtime: Runtime, tenant_id: str, payload: dict[str, Any]) -> str:
    """The cache key of an insight answer: what the query is (`payload`), the tenant's data version
    (bumped by the ingest writer after each insert, so new events make the next read recompute) and
    the result format's version. Every kind's answer, the runners' and a saved SQL query's alike."""
    from analytics_engine.cache import cache_key, data_version

    return cache_key(
        tenant_id, "insight", {**payload, "v": RESULT_VERSION}, data_version=data_version(runtime.cache, tenant_id)
    )


class InsightRunner(Generic[Q]):
    kind: ClassVar[str] = ""
    # The typed result this kind answers with (its table and chart spec; see insights/results.py).
    result_class: ClassVar[type[InsightResponse]] = InsightResponse

    def __init__(self, runtime: Runtime, tenant: Any, query: Q, *, now: datetime | None = None) -> None:
        self.runtime = runtime
        self.tenant = tenant
        self.query = query
        self.now = now or datetime.now(UTC)
        self.tz = getattr(query, "timezone", None) or getattr(tenant, "timezone", None) or "UTC"
        try:
            self.range: Resolved = resolve_range(query.date_range, self.tz, self.now)  # type: ignore[attr-defined]
        except ValueError as exc:
            raise InvalidInput(str(exc), code="invalid_query") from None
        self.events = runtime.warehouse.table("events")
        self.cohorts = CohortConditions(events=self.events)
        self.served_by = "raw"
        self.served_from: str | None = None  # the pre-aggregated table that answered, if any
        self.reads_cold = False  # set by `resolve_tiers`: the range reaches the cold tier

    # --- hooks ---------------------------------------------------------------------------------
    def cache_range_end(self) -> datetime:
        """The latest moment the answer depends on (a range ending in the past caches longer)."""
        return self.range.end

    def limit_context(self) -> dict[str, Any]:
        """What else changes the answer besides the query (part of the cache key)."""
        return {}

    def to_sql(self) -> list[SQL]:  # pragma: no cover - every kind implements it
        raise NotImplementedError

    def calculate(self, executor: Executor) -> InsightResponse:  # pragma: no cover
        raise NotImplementedError

    # --- shared helpers for builders -------------------------------------------------------------
    def base_where(self, params: Params, filters: list[Any], *, start: datetime, end: datetime) -> list[str]:
        """The tenant predicate, the time window and the query-wide filters: every kind calls this."""
        from analytics_engine.warehouse.params import utc_text

        where = [
            TENANT_PREDICATE,
            f"timestamp >= {params.add(utc_text(start), 'DateTime64(3)')}",
            f"timestamp < {params.add(utc_text(end), 'DateTime64(3)')}",
        ]
        where += filters_sql([*self.query.all_filters(), *filters], params, self.cohorts)  # type: ignore[attr-defined]
        return where

    # --- who is counted: people, or groups (query.aggregation, docs/groups.md) ----------------------
    def group_text(self) -> str | None:
        """The event's key of the aggregation's group type as text (a materialized column when there
        is one), None when the query counts people."""
        aggregation = getattr(self.query, "aggregation", None)
        if aggregation is None:
            return None
        column = self.cohorts.materialized.column(aggregation.path, "string")
        return f"ifNull({column}, '')" if column else string_expr(aggregation.path)

    def unit_key(self) -> str:
        """What per-person stages group by: `person_key`, or the hash of the group key."""
        text = self.group_text()
        return PERSON_KEY if text is None else f"cityHash64({text})"

    def unit_id(self) -> str:
        """What lists of people give: `distinct_id`, or the group key."""
        return self.group_text() or "distinct_id"

    def new_params(self) -> Params:
        params = Params()
        params.values["tz"] = self.tz
        return params

    def response(self, **fields: Any) -> InsightResponse:
        return self.result_class(
            kind=self.kind,
            timezone=self.tz,
            date_from=self.range.start,
            date_to=self.range.end,
            served_by=self.served_by,
            served_from=self.served_from,
            computed_at=datetime.now(UTC),
            **fields,
        )

    # --- the one entry point -------------------------------------------------------------------
    def needed_cohorts(self) -> set[tuple[str, bool]]:
        query: Any = self.query
        needed = cohort_ids(query.all_filters(), getattr(query, "breakdown", []))
        for part in self.nested_filters():
            needed |= cohort_ids(part, [])
        return needed

    def nested_filters(self) -> list[list[Any]]:
        """Filters inside series, steps or events (kinds override)."""
        return []

    def group_types(self) -> set[str]:
        """Every group type the query names: its aggregation, group property filters and breakdowns."""
        query: Any = self.query
        named = group_types_named(query.all_filters(), getattr(query, "breakdown", []))
        for part in self.nested_filters():
            named |= group_types_named(part, [])
        aggregation = getattr(query, "aggregation", None)
        if aggregation is not None:
            named.add(aggregation.group)
        return named

    def resolve_cohorts(self) -> dict[str, int]:
        """Bind every cohort the query names to its published version (I/O: before `to_sql()`); first
        refuse (422) a group type the tenant has not declared (groups/types.py)."""
        named = self.group_types()
        if named:
            from analytics_engine.groups.types import GroupTypeService

            GroupTypeService(self.runtime).require(self.tenant.tenant_id, named)
        needed = self.needed_cohorts()
        if not needed:
            return {}
        try:
            from analytics_engine.cohorts.filters import cohort_condition
        except ImportError:
            raise InvalidInput("cohorts not available in this build", code="cohorts_not_available") from None
        versions: dict[str, int] = {}
        for cohort_id, negate in sorted(needed):
            sql, params = cohort_condition(self.runtime, self.tenant.tenant_id, cohort_id, negate)
            self.cohorts.resolved[(cohort_id, negate)] = (sql, params)
            for name, value in params.items():
                if name.endswith("_v"):
                    versions[cohort_id] = value
        return versions

    def resolve_materialized(self) -> None:
        """The tenant's ready materialized property columns (I/O: before `to_sql()`); filters and
        breakdowns on those properties read the column (same answers, analytics_engine/materialized)."""
        columns = self.runtime.materialized.ready_columns(self.tenant.tenant_id)
        self.cohorts.materialized = MaterializedColumns(columns)

    def cold_range_start(self) -> datetime:
        """The earliest moment the answer reads (kinds reading before the range override)."""
        query: Any = self.query
        if getattr(query, "compare", False):
            return self.range.start - (self.range.end - self.range.start)
        return self.range.start

    def resolve_tiers(self) -> None:
        """A range reaching before the hot window reads the tenant's cold files too (I/O: before
        `to_sql()`): `events` becomes both tiers, and rollups, pre-aggregations and materialized
        columns (hot only) are set aside so every row is read raw (lifecycle/reads.py)."""
        from analytics_engine.lifecycle.reads import events_source

        source = events_source(self.runtime, self.tenant.tenant_id, self.cold_range_start(), self.range.end)
        if source is None:
            return
        self.events = source
        self.cohorts.events = source
        self.reads_cold = True
        self.cohorts.materialized = MaterializedColumns({})
        if hasattr(self, "allow_rollups"):
            self.allow_rollups = False

    def cache_key(self, versions: dict[str, int]) -> str:
        payload = {
            "runner": type(self).__name__,
            "query": self.query.model_dump(mode="json"),  # type: ignore[attr-defined]
            "tz": self.tz,
            "range": [self.range.start.isoformat(), self.range.end.isoformat()],
            "limits": self.limit_context(),
            "cohorts": versions,
        }
        return answer_cache_key(self.runtime, self.tenant.tenant_id, payload)

    def cache_ttl(self) -> int:
        from analytics_engine.cache import result_ttl

        return result_ttl(self.runtime.settings, self.cache_range_end(), self.now)

    def run(self, *, refresh: bool = False) -> InsightResponse:
        """The answer as a model (cached or computed); see `run_json` for the fast API path."""
        body, cached, computed = self._answer(refresh)
        if computed is not None:
            return computed
        answer = self.result_class.model_validate_json(body)
        answer.cached = cached
        return answer

    def run_json(self, *, refresh: bool = False) -> bytes:
        """The answer as JSON bytes: a cache hit is served without parsing it (the stored bytes with
        `cached` set to true; `timing` stays that of the computation that produced it)."""
        body, cached, _ = self._answer(refresh)
        return body.replace(_NOT_CACHED, _CACHED, 1) if cached else body

    def _answer(self, refresh: bool) -> tuple[bytes, bool, InsightResponse | None]:
        started = time.perf_counter()
        versions = self.resolve_cohorts()
        self.resolve_materialized()
        self.resolve_tiers()
        cache = self.runtime.cache
        key = self.cache_key(versions) if cache is not None else None
        if cache is not None and key is not None and not refresh:
            hit = cache.get(key)
            if hit is not None:
                return hit, True, None
        executor = Executor(self.runtime, self.tenant.tenant_id)
        with executor.scope.admitted():  # one slot for all of the insight's statements
            answer = self.calculate(executor)
        answer.timing = executor.timing
        answer.materialized_properties = sorted(self.cohorts.materialized.used)
        answer.read_cold = self.reads_cold
        answer.timing.total_ms = (time.perf_counter() - started) * 1000
        body = orjson.dumps(answer.model_dump(mode="json"))
        if cache is not None and key is not None:
            cache.set(key, body, ttl_seconds=self.cache_ttl())
        log.info(
            "insight.computed",
            kind=self.kind,
            tenant_id=self.tenant.tenant_id,
            served_by=answer.served_by,
            sql_ms=round(answer.timing.sql_ms, 1),
            queries=answer.timing.queries,
        )
        return body, False, answer
