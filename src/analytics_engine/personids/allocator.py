"""Dense person ids: per tenant, every person (distinct_id) gets exactly one UInt32 id, 1, 2, 3, ...
(0 means "no id"), never shared and never given again. The per-hour person bitmaps
(`person_hours`, migration 1800) are fast only on dense ids (docs/insights.md, "Person bitmaps").

Design (why this and not another, docs/insights.md):
- The mapping lives in the warehouse table `person_ids (tenant_id, distinct_id, person_key,
  person_id)`. A new person's row is written BEFORE the events of the batch that introduced them,
  so every event row that carries an id has its mapping stored: a crash replay of a journaled batch
  loads the map and gets the same ids (the journal keeps the lines without ids).
- The process keeps each tenant's map in memory (loaded lazily at the tenant's first batch) with
  the largest id ever given (tombstones of erased people keep theirs), so a batch costs a dict
  look-up per event; only people new to the tenant reach the warehouse, one small insert per batch.
- Allocation is serialized per tenant by a lock held from "which keys are new" to "their rows are
  stored", and the map learns the ids only once stored: a concurrent batch of the same person
  waits, then finds the stored id.

Known limit: the lock is per process. Several service processes writing one tenant into one
ClickHouse server could give one person two ids (each process allocates from its own map). Such a
deployment must keep `ANALYTICS_PERSON_BITMAPS` off (the planner then never reads the bitmaps);
`ingest verify` reports people with more than one id. Coordinating processes (a per-tenant row lock
in PostgreSQL held while new keys are checked against `person_ids`) is not built yet.
"""

from __future__ import annotations

import threading
import weakref
from collections import defaultdict
from collections.abc import Iterable

import orjson
import structlog

from analytics_engine.warehouse.client import Warehouse

log = structlog.get_logger(__name__)

REASON = "person id allocator: the ingest writer's mixed-tenant batches"
TOMBSTONE = ""  # distinct_id of a row that only keeps an erased person's id from being given again
MAX_ID = 2**32 - 1


class TenantIds:
    """One tenant's map, its largest id, and the lock that serializes its allocation."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.ids: dict[str, int] = {}
        self.largest = 0
        self.loaded = False


class PersonIds:
    """The allocator of one process for one warehouse database (`allocator_for`)."""

    def __init__(self, warehouse: Warehouse) -> None:
        self.warehouse = warehouse
        self._tenants: dict[str, TenantIds] = {}
        self._guard = threading.Lock()

    def _tenant(self, tenant_id: str) -> TenantIds:
        with self._guard:
            found = self._tenants.get(tenant_id)
            if found is None:
                found = self._tenants[tenant_id] = TenantIds()
            return found

    def _load(self, tenant_id: str, state: TenantIds) -> None:
        """The tenant's stored map (the smallest id of a person stored twice: rows of two processes,
        the known limit) and the largest id ever stored, tombstones included."""
        platform = self.warehouse.platform(REASON)
        table = self.warehouse.table("person_ids")
        rows = platform.query(
            f"SELECT distinct_id, min(person_id) FROM {table} WHERE tenant_id = {{tenant_id:String}} "
            f"AND distinct_id != '' GROUP BY distinct_id",
            {"tenant_id": tenant_id},
            settings={"max_execution_time": 0},
        ).rows
        largest = platform.query(
            f"SELECT max(person_id) FROM {table} WHERE tenant_id = {{tenant_id:String}}",
            {"tenant_id": tenant_id},
            settings={"max_execution_time": 0},
        ).scalar()
        state.ids = {str(r[0]): int(r[1]) for r in rows}
        state.largest = max(state.largest, int(largest or 0))
        state.loaded = True

    def ids_for(self, tenant_id: str, distinct_ids: Iterable[str]) -> dict[str, int]:
        """The id of each person, new ones given and stored first."""
        state = self._tenant(tenant_id)
        wanted = set(distinct_ids)
        known = state.ids
        if state.loaded and all(d in known for d in wanted):
            return {d: known[d] for d in wanted}
        with state.lock:
            if not state.loaded:
                self._load(tenant_id, state)
            new = sorted(d for d in wanted if d not in state.ids)
            if new:
                first = state.largest + 1
                if first + len(new) - 1 > MAX_ID:
                    raise OverflowError(f"tenant {tenant_id}: person ids exhausted")
                given = {d: first + i for i, d in enumerate(new)}
                try:
                    self._store(tenant_id, given)
                except BaseException:
                    # The rows may have landed though the call failed (an answer lost after the insert):
                    # the next batch reads the table again, so a person never gets a second id.
                    state.loaded = False
                    raise
                # Learned only once stored: a batch reading the map never uses an id without its row.
                state.largest = first + len(new) - 1
                state.ids = {**state.ids, **given}
            return {d: state.ids[d] for d in wanted}

    def _store(self, tenant_id: str, given: dict[str, int]) -> None:
        body = b"\n".join(orjson.dumps([tenant_id, d, i]) for d, i in given.items())
        self.warehouse.platform(REASON).insert_json_rows(
            self.warehouse.table("person_ids"),
            ("tenant_id", "distinct_id", "person_id"),
            body,
            settings={"insert_deduplicate": 0},
            fmt="JSONCompactEachRow",
        )

    def forget(self, tenant_id: str) -> None:
        """Drop the tenant's map (read again at its next batch): after an erasure or a backfill
        changed `person_ids` behind the allocator. The largest id is kept (never given again)."""
        state = self._tenant(tenant_id)
        with state.lock:
            state.ids = {}
            state.loaded = False

    def forget_all(self) -> None:
        with self._guard:
            tenants = list(self._tenants)
        for tenant_id in tenants:
            self.forget(tenant_id)

    def with_ids(self, body: bytes) -> bytes:
        """The batch's lines (JSONCompactEachRow, EVENT_COLUMNS order: tenant_id, event, distinct_id,
        ...) each with its person's id appended as one more value (`PERSON_ID_COLUMN`).

        Only (tenant, distinct id) is kept of each parsed line: holding a batch's parsed rows (a list
        and a properties dict per event) made the cyclic GC walk them again and again, which doubled
        this function's CPU (docs/benchmarks.md, "Ingest budget of the person bitmaps")."""
        lines = [line.rstrip() for line in body.split(b"\n") if line.strip()]
        keys = [(row[0], row[2]) for row in map(orjson.loads, lines)]
        people: dict[str, set[str]] = defaultdict(set)
        for tenant_id, distinct_id in keys:
            people[tenant_id].add(distinct_id)
        # One rendered `,<id>]` per person of the batch, put in place of each line's closing bracket.
        suffixes = {
            tenant_id: {d: b"," + str(i).encode() + b"]" for d, i in self.ids_for(tenant_id, found).items()}
            for tenant_id, found in people.items()
        }
        return b"\n".join(
            line[:-1] + suffixes[tenant][person] for line, (tenant, person) in zip(lines, keys, strict=True)
        )


PERSON_ID_COLUMN = "person_id"
# One allocator per warehouse client: a process has one client per database (core.py), and a test's
# fresh database comes with a fresh client, so no map outlives the database it describes.
_ALLOCATORS: weakref.WeakKeyDictionary[Warehouse, PersonIds] = weakref.WeakKeyDictionary()
_ALLOCATORS_GUARD = threading.Lock()


def allocator_for(warehouse: Warehouse) -> PersonIds:
    """The process's allocator for this warehouse client (every writer through it shares it)."""
    with _ALLOCATORS_GUARD:
        found = _ALLOCATORS.get(warehouse)
        if found is None:
            found = _ALLOCATORS[warehouse] = PersonIds(warehouse)
        return found


def forget_tenant(warehouse: Warehouse, tenant_id: str) -> None:
    """The allocator of this warehouse client drops the tenant's map (read again when needed)."""
    allocator_for(warehouse).forget(tenant_id)
