"""Per-tenant query budgets: an admission gate before a query, ClickHouse settings on it, and the
accounting after it.

    with runtime.budgets.admit(tenant_id):                    # 429 when over a budget
        result = scope.query(sql, params, settings=runtime.budgets.query_settings(tenant_id))
        runtime.budgets.record_result(tenant_id, result)      # or record(tenant_id, s, rows, bytes)

Hot path cost: admission and accounting touch only in-memory counters under one lock (about a
microsecond). Usage is written to `tenant_query_usage` by a background thread every
`budget_flush_seconds` (one UPDATE per tenant with new usage), and on `close()`; a crash loses at
most that many seconds of accounting. Per-query limits (time, rows, bytes) are ClickHouse's own
settings; concurrency and query-seconds per day are checked here. Concurrency is counted per
process (the embedded warehouse means one serving process).
"""

from __future__ import annotations

import contextvars
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, cast

import structlog
from prometheus_client import Counter
from sqlalchemy import CursorResult, select, update
from sqlalchemy.exc import IntegrityError

from analytics_engine.budgets.models import TenantBudget, TenantUsage
from analytics_engine.budgets.schemas import (
    LIMIT_NAMES,
    BudgetLimits,
    BudgetPublic,
    BudgetUpdate,
    UsageNumbers,
    UsagePublic,
    UsageRemaining,
)
from analytics_engine.budgets.shared import SharedSlots
from analytics_engine.config import Settings
from analytics_engine.errors import BudgetExceeded, NotFound
from analytics_engine.metadata.db import MetadataDB
from analytics_engine.metadata.models import Tenant, utcnow

log = structlog.get_logger(__name__)

BUDGET_REFUSALS = Counter(
    "analytics_budget_refusals_total", "Queries refused by the budget gate, by the limit named.", ["limit"]
)
# How long a tenant's limits are reused before they are read again (a PUT here applies at once).
LIMITS_TTL_SECONDS = 5.0
# A shared slot lapses this long after the query's own time limit (a replica that died holding it).
SHARED_SLOT_MARGIN_SECONDS = 30.0
_COUNTERS = ("queries", "rejected", "query_seconds", "read_rows", "read_bytes")


@dataclass
class _Day:
    """One tenant's usage on one day: `base` as last read from the database plus `pending`, not
    yet written. The total is their sum."""

    base: dict[str, float] = field(default_factory=lambda: dict.fromkeys(_COUNTERS, 0))
    pending: dict[str, float] = field(default_factory=lambda: dict.fromkeys(_COUNTERS, 0))

    def total(self, name: str) -> float:
        return self.base[name] + self.pending[name]

    @property
    def dirty(self) -> bool:
        return any(self.pending.values())


@dataclass
class Admission:
    """A running query let through the gate; `recorded` once its cost was accounted."""

    tenant_id: str
    started: float
    recorded: bool = False


_current: contextvars.ContextVar[Admission | None] = contextvars.ContextVar("budget_admission", default=None)


def next_midnight(moment: datetime) -> datetime:
    return datetime.combine(moment.date() + timedelta(days=1), datetime.min.time(), tzinfo=UTC)


class BudgetService:
    def __init__(
        self,
        metadata: MetadataDB,
        settings: Settings,
        *,
        clock: Callable[[], datetime] = utcnow,
        flush_seconds: float | None = None,
    ) -> None:
        self.metadata = metadata
        self.settings = settings
        self._clock = clock
        self._flush_seconds = flush_seconds if flush_seconds is not None else settings.budget_flush_seconds
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._running: dict[str, int] = {}
        self._days: dict[tuple[str, date], _Day] = {}
        self._limits: dict[str, tuple[float, BudgetLimits]] = {}
        self._stop = threading.Event()
        self._flusher: threading.Thread | None = None
        # Concurrency across replicas: Redis slots when the cache is Redis (budgets/shared.py).
        self.shared: SharedSlots | None = None
        if settings.cache_url and settings.cache_url.startswith(("redis://", "rediss://", "unix://")):
            self.shared = SharedSlots(settings.cache_url)

    # --- limits --------------------------------------------------------------------------------
    def defaults(self) -> BudgetLimits:
        s = self.settings
        return BudgetLimits(
            max_execution_time=s.budget_max_execution_time,
            max_rows_to_read=s.budget_max_rows_to_read,
            max_bytes_to_read=s.budget_max_bytes_to_read,
            max_concurrent_queries=s.budget_max_concurrent_queries,
            query_seconds_per_day=s.budget_query_seconds_per_day,
        )

    def limits(self, tenant_id: str) -> BudgetLimits:
        """The limits in force (cached for a few seconds; the admin's PUT refreshes at once)."""
        cached = self._limits.get(tenant_id)
        now = time.monotonic()
        if cached and cached[0] > now:
            return cached[1]
        with self.metadata.session() as session:
            row = session.get(TenantBudget, tenant_id)
            limits = self._merge(row)
        self._limits[tenant_id] = (now + LIMITS_TTL_SECONDS, limits)
        return limits

    def _merge(self, row: TenantBudget | None) -> BudgetLimits:
        values = self.defaults().model_dump()
        if row is not None:
            for name in LIMIT_NAMES:
                override = getattr(row, name)
                if override is not None:
                    values[name] = override
        return BudgetLimits(**values)

    def get_budget(self, tenant_id: str) -> BudgetPublic:
        with self.metadata.session() as session:
            self._require_tenant(session, tenant_id)
            row = session.get(TenantBudget, tenant_id)
            return self._public(tenant_id, row)

    def set_budget(self, tenant_id: str, body: BudgetUpdate) -> BudgetPublic:
        """Replace the tenant's overrides with `body` (null fields: back to the default)."""
        with self.metadata.session() as session:
            self._require_tenant(session, tenant_id)
            row = session.get(TenantBudget, tenant_id)
            if row is None:
                row = TenantBudget(tenant_id=tenant_id)
                session.add(row)
            for name in LIMIT_NAMES:
                setattr(row, name, getattr(body, name))
            row.updated_at = utcnow()
            session.flush()
            public = self._public(tenant_id, row)
        self._limits.pop(tenant_id, None)
        log.info("budgets.updated", tenant_id=tenant_id, overrides=public.overrides)
        return public

    def _public(self, tenant_id: str, row: TenantBudget | None) -> BudgetPublic:
        overrides = {} if row is None else {n: getattr(row, n) for n in LIMIT_NAMES if getattr(row, n) is not None}
        return BudgetPublic(
            tenant_id=tenant_id,
            limits=self._merge(row),
            overrides=overrides,
            defaults=self.defaults(),
            updated_at=row.updated_at if row is not None else None,
        )

    @staticmethod
    def _require_tenant(session: Any, tenant_id: str) -> None:
        if session.get(Tenant, tenant_id) is None:
            raise NotFound(f"No tenant with id {tenant_id!r}.")

    def query_settings(self, tenant_id: str) -> dict[str, Any]:
        """ClickHouse settings enforcing the per-query limits; pass to `warehouse.query(settings=)`."""
        limits = self.limits(tenant_id)
        return {
            "max_execution_time": limits.max_execution_time,
            "max_rows_to_read": limits.max_rows_to_read,
            "max_bytes_to_read": limits.max_bytes_to_read,
            "read_overflow_mode": "throw",
            "timeout_overflow_mode": "throw",
        }

    # --- the gate ------------------------------------------------------------------------------
    @contextmanager
    def admit(self, tenant_id: str) -> Iterator[Admission]:
        """Let one query of the tenant through, or raise BudgetExceeded (429 with Retry-After).
        A query left without `record()` inside the block is charged its wall time on exit."""
        limits = self.limits(tenant_id)
        now = self._clock()
        day = self._day(tenant_id, now.date())
        with self._lock:
            used = day.total("query_seconds")
            running = self._running.get(tenant_id, 0)
            refusal = None
            if limits.query_seconds_per_day and used >= limits.query_seconds_per_day:
                resets = next_midnight(now)
                refusal = BudgetExceeded(
                    f"This tenant used its {limits.query_seconds_per_day:g} query-seconds for today "
                    f"(budget query_seconds_per_day); it refills at {resets.isoformat()}.",
                    retry_after=max(1, int((resets - now).total_seconds()) + 1),
                    details={
                        "limit": "query_seconds_per_day",
                        "limit_value": limits.query_seconds_per_day,
                        "used": round(used, 3),
                        "resets_at": resets.isoformat(),
                    },
                )
            elif self.shared is None and limits.max_concurrent_queries and running >= limits.max_concurrent_queries:
                refusal = self._concurrency_refusal(limits, running)
            if refusal is not None:
                day.pending["rejected"] += 1
            else:
                self._running[tenant_id] = running + 1
        slot = None
        if refusal is None and self.shared is not None and limits.max_concurrent_queries:
            slot = uuid.uuid4().hex
            lease = float(limits.max_execution_time or self.settings.query_timeout_seconds) + SHARED_SLOT_MARGIN_SECONDS
            taken = self.shared.acquire(tenant_id, slot, int(limits.max_concurrent_queries or 0), lease)
            if taken is None:  # Redis unavailable: this process's own count, as a single process
                slot = None
                if limits.max_concurrent_queries and running >= limits.max_concurrent_queries:
                    refusal = self._concurrency_refusal(limits, running)
            elif not taken[0]:
                slot = None
                refusal = self._concurrency_refusal(limits, taken[1])
            if refusal is not None:
                with self._lock:
                    day.pending["rejected"] += 1
                    self._release_local(tenant_id)
        if refusal is not None:
            self._ensure_flusher()
            BUDGET_REFUSALS.labels(refusal.details["limit"]).inc()
            log.info("budgets.refused", tenant_id=tenant_id, limit=refusal.details["limit"])
            raise refusal
        admission = Admission(tenant_id, time.perf_counter())
        token = _current.set(admission)
        try:
            yield admission
        finally:
            _current.reset(token)
            with self._lock:
                self._release_local(tenant_id)
            if slot is not None and self.shared is not None:
                self.shared.release(tenant_id, slot)
            if not admission.recorded:
                self._add(tenant_id, time.perf_counter() - admission.started, 0, 0)

    def _release_local(self, tenant_id: str) -> None:
        """One running query of the tenant less in this process (call under `_lock`)."""
        left = self._running.get(tenant_id, 1) - 1
        if left > 0:
            self._running[tenant_id] = left
        else:
            self._running.pop(tenant_id, None)

    @staticmethod
    def _concurrency_refusal(limits: BudgetLimits, running: int) -> BudgetExceeded:
        return BudgetExceeded(
            f"This tenant already runs {running} queries at once (budget max_concurrent_queries); retry in a moment.",
            retry_after=1,
            details={
                "limit": "max_concurrent_queries",
                "limit_value": limits.max_concurrent_queries,
                "running": running,
            },
        )

    def holds(self, tenant_id: str) -> bool:
        """Whether the calling context already runs inside an admission of this tenant (its
        statements share that slot rather than taking another)."""
        current = _current.get()
        return current is not None and current.tenant_id == tenant_id

    def running(self, tenant_id: str) -> int:
        """The tenant's running queries: across replicas with Redis, else in this process."""
        if self.shared is not None and (shared := self.shared.running(tenant_id)) is not None:
            return shared
        return self._running.get(tenant_id, 0)

    # --- accounting ----------------------------------------------------------------------------
    def record(self, tenant_id: str, elapsed_seconds: float, read_rows: int, read_bytes: int) -> None:
        """Add one query's cost to today's usage (memory now, the database at the next flush)."""
        current = _current.get()
        if current is not None and current.tenant_id == tenant_id:
            current.recorded = True
        self._add(tenant_id, elapsed_seconds, read_rows, read_bytes)

    def _add(self, tenant_id: str, elapsed_seconds: float, read_rows: int, read_bytes: int) -> None:
        day = self._day(tenant_id, self._clock().date())
        with self._lock:
            pending = day.pending
            pending["queries"] += 1
            pending["query_seconds"] += max(0.0, float(elapsed_seconds))
            pending["read_rows"] += max(0, int(read_rows))
            pending["read_bytes"] += max(0, int(read_bytes))
        self._ensure_flusher()

    def record_result(self, tenant_id: str, result: Any) -> None:
        """`record()` from a warehouse QueryResult: ClickHouse's own elapsed time and read counts
        from the result summary, the measured wall time when the summary lacks them."""
        summary = getattr(result, "summary", None) or {}
        elapsed_ns = _number(summary.get("elapsed_ns"))
        elapsed = elapsed_ns / 1e9 if elapsed_ns else getattr(result, "elapsed_ms", 0.0) / 1000
        self.record(tenant_id, elapsed, int(_number(summary.get("read_rows"))), int(_number(summary.get("read_bytes"))))

    def usage(self, tenant_id: str) -> UsagePublic:
        now = self._clock()
        limits = self.limits(tenant_id)
        day = self._day(tenant_id, now.date())
        with self._lock:
            totals = {name: day.total(name) for name in _COUNTERS}
        running = self.running(tenant_id)
        seconds_left = (
            max(0.0, limits.query_seconds_per_day - totals["query_seconds"]) if limits.query_seconds_per_day else None
        )
        slots_left = max(0, limits.max_concurrent_queries - running) if limits.max_concurrent_queries else None
        return UsagePublic(
            tenant_id=tenant_id,
            day=now.date(),
            resets_at=next_midnight(now),
            usage=UsageNumbers(
                queries=int(totals["queries"]),
                rejected=int(totals["rejected"]),
                query_seconds=round(totals["query_seconds"], 3),
                read_rows=int(totals["read_rows"]),
                read_bytes=int(totals["read_bytes"]),
                running=running,
            ),
            limits=limits,
            remaining=UsageRemaining(
                query_seconds=None if seconds_left is None else round(seconds_left, 3),
                concurrent_queries=slots_left,
            ),
        )

    def _day(self, tenant_id: str, day: date) -> _Day:
        """Today's counters of the tenant, loaded from the database on first use in this process."""
        key = (tenant_id, day)
        found = self._days.get(key)
        if found is not None:
            return found
        loaded = _Day()
        with self.metadata.session() as session:
            row = session.get(TenantUsage, key)
            if row is not None:
                loaded.base = {name: getattr(row, name) or 0 for name in _COUNTERS}
        with self._lock:
            return self._days.setdefault(key, loaded)

    # --- persistence ---------------------------------------------------------------------------
    def flush(self) -> int:
        """Write pending usage; returns how many (tenant, day) rows were written."""
        with self._flush_lock:
            with self._lock:
                batch = {key: dict(day.pending) for key, day in self._days.items() if day.dirty}
                for key in batch:
                    self._days[key].pending = dict.fromkeys(_COUNTERS, 0)
            written = 0
            for (tenant_id, day), delta in batch.items():
                try:
                    totals = self._write(tenant_id, day, delta)
                except Exception as exc:
                    with self._lock:  # keep it for the next flush
                        pending = self._days[(tenant_id, day)].pending
                        for name, value in delta.items():
                            pending[name] += value
                    log.warning("budgets.flush_failed", tenant_id=tenant_id, error=str(exc)[:300])
                    continue
                written += 1
                with self._lock:
                    self._days[(tenant_id, day)].base = totals
            self._forget_old_days()
            return written

    def _write(self, tenant_id: str, day: date, delta: dict[str, float]) -> dict[str, float]:
        """Add `delta` to the row (one UPDATE; an INSERT the first time); returns the new totals,
        which include what other processes wrote."""
        increments = {name: getattr(TenantUsage, name) + value for name, value in delta.items()}
        where = (TenantUsage.tenant_id == tenant_id, TenantUsage.day == day)
        for _attempt in range(2):
            try:
                with self.metadata.session() as session:
                    # An UPDATE statement's result is a CursorResult (it has rowcount); the stub says Result.
                    changed = cast(
                        "CursorResult[Any]",
                        session.execute(update(TenantUsage).where(*where).values(**increments, updated_at=utcnow())),
                    ).rowcount
                    if not changed:
                        session.add(TenantUsage(tenant_id=tenant_id, day=day, updated_at=utcnow(), **delta))
                        session.flush()
                    row = session.execute(select(TenantUsage).where(*where)).scalar_one()
                    return {name: getattr(row, name) for name in _COUNTERS}
            except IntegrityError:
                continue  # another process inserted the row first: update it
        raise RuntimeError("could not write usage")

    def _forget_old_days(self) -> None:
        today = self._clock().date()
        with self._lock:
            for key in [k for k, d in self._days.items() if k[1] < today and not d.dirty]:
                del self._days[key]

    def _ensure_flusher(self) -> None:
        if self._flusher is not None or self._stop.is_set():
            return
        with self._flush_lock:
            if self._flusher is None:
                self._flusher = threading.Thread(target=self._flush_loop, name="budgets-flush", daemon=True)
                self._flusher.start()

    def _flush_loop(self) -> None:
        while not self._stop.wait(self._flush_seconds):
            try:
                self.flush()
            except Exception as exc:  # pragma: no cover - flush() already logs per row
                log.warning("budgets.flush_failed", error=str(exc)[:300])

    def close(self) -> None:
        """Stop the flusher and write what is pending."""
        self._stop.set()
        if self._flusher is not None:
            self._flusher.join(timeout=5)
        self.flush()
        if self.shared is not None:
            self.shared.close()


def _number(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0
