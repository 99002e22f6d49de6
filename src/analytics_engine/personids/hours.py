"""The per-UTC-hour person bitmaps (`person_hours`, migration 1800) computed again from `events`.

The view `person_hours_mv` ORs each inserted row's `person_id` into its (tenant, event, hour) row and
its (tenant, '', hour) row. Recomputations (a journal replay, an erasure, a sync delete, the data
generator's bulk rows) do not trust the ids on the event rows (rows written by SQL carry 0): they
join `events` with `person_ids` on `person_key`, the mapping the allocator stores before any event
carries an id.

A bitmap cannot give back one person, so a row losing a person is deleted and computed again from
what `events` holds (per (event, UTC day) and the any-event rows of those days). OR is idempotent,
so a repeat of a fill changes nothing once the rows were deleted.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from analytics_engine.personids.allocator import forget_tenant
from analytics_engine.warehouse.client import Warehouse
from analytics_engine.warehouse.scoped import TenantScope

TABLE = "person_hours"
# Trusted background work of any size; a recomputed block may equal an earlier one (no deduplication).
FRESH = "SETTINGS insert_deduplicate = 0, max_execution_time = 0"
UNLIMITED = {"max_execution_time": 0}
PAIRS = "{hour_days:Array(Tuple(String, Date))}"
DAYS = "{any_days:Array(Date)}"


def ids_join(person_ids: str) -> str:
    """SQL joining `events AS e` with the tenant's ids (`i.person_id`); `{tenant_id:String}` bound."""
    return (
        f"INNER JOIN (SELECT person_key, min(person_id) AS person_id FROM {person_ids} "
        "WHERE tenant_id = {tenant_id:String} AND distinct_id != '' GROUP BY person_key) AS i "
        "ON i.person_key = e.person_key"
    )


def fill_sql(target: str, events: str, person_ids: str, per_event: str, any_event: str) -> list[str]:
    """INSERT statements writing into `target` the rows of the tenant's events matching `per_event`
    (per-event rows) and `any_event` (the '' rows): the SELECT of person_hours_mv over the ids table."""

    def select(name: str, cond: str) -> str:
        return (
            f"INSERT INTO {target} SELECT e.tenant_id, {name} AS event, toStartOfHour(e.timestamp) AS hour, "
            f"groupBitmapState(i.person_id) FROM {events} AS e {ids_join(person_ids)} "
            f"WHERE e.tenant_id = {{tenant_id:String}} AND ({cond}) GROUP BY e.tenant_id, event, hour " + FRESH
        )

    statements = []
    if per_event:
        statements.append(select("e.event", per_event))
    if any_event:
        statements.append(select("''", any_event))
    return statements


def day_params(days: Sequence[tuple[str, date]]) -> dict[str, Any]:
    return {
        "hour_days": [(event, day) for event, day in days],
        "any_days": sorted({day for _, day in days}),
    }


# The rows of the affected (event, UTC day) pairs and the any-event rows of those days.
ROWS_OF_DAYS = (
    f"tenant_id = {{tenant_id:String}} AND ((event, toDate(hour)) IN (SELECT p.1, p.2 FROM "
    f"(SELECT arrayJoin({PAIRS}) AS p)) OR (event = '' AND toDate(hour) IN (SELECT arrayJoin({DAYS}))))"
)
EVENTS_OF_PAIRS = f"(e.event, toDate(e.timestamp)) IN (SELECT p.1, p.2 FROM (SELECT arrayJoin({PAIRS}) AS p))"
EVENTS_OF_DAYS = f"toDate(e.timestamp) IN (SELECT arrayJoin({DAYS}))"


def day_delete(scope: TenantScope) -> tuple[str, dict[str, Any]]:
    """The mutation removing the rows a `refill_days` computes again (the caller binds `day_params`)."""
    return (f"ALTER TABLE {scope.table(TABLE)} DELETE WHERE {ROWS_OF_DAYS} SETTINGS mutations_sync = 2", {})


def refill_days(scope: TenantScope, days: Sequence[tuple[str, date]]) -> None:
    """Write the rows of these (event, UTC day) pairs and the any-event rows of their days from
    `events` (the caller deleted them)."""
    if not days:
        return
    params = day_params(days)
    for sql in fill_sql(
        scope.table(TABLE), scope.table("events"), scope.table("person_ids"), EVENTS_OF_PAIRS, EVENTS_OF_DAYS
    ):
        scope.command(sql, params)


def rebuild_days(scope: TenantScope, days: Sequence[tuple[str, date]]) -> None:
    """Delete and compute again the rows of these (event, UTC day) pairs (and those days' any-event rows)."""
    if not days:
        return
    sql, _ = day_delete(scope)
    scope.command(sql, day_params(days))
    refill_days(scope, days)


def assign_missing_ids(warehouse: Warehouse, tenant_id: str) -> int:
    """Give an id to every person of the tenant with events but no id (rows written by SQL: the data
    generator, a restore), after the largest id ever given, in order of first event; returns how many.
    The allocator's map of the tenant is dropped (read again at its next batch). Run it where no
    insert of the tenant races it (the generator, a migration-like step, inserts held)."""
    scope = warehouse.for_tenant(tenant_id, background=True)
    ids, events = scope.table("person_ids"), scope.table("events")
    count = f"SELECT count() FROM {ids} WHERE tenant_id = {{tenant_id:String}}"
    largest = int(
        scope.query(
            f"SELECT max(person_id) FROM {ids} WHERE tenant_id = {{tenant_id:String}}", settings=UNLIMITED
        ).scalar()
        or 0
    )
    before = int(scope.query(count, settings=UNLIMITED).scalar() or 0)
    scope.command(
        f"INSERT INTO {ids} (tenant_id, distinct_id, person_id) SELECT {{tenant_id:String}}, distinct_id, "
        f"toUInt32({{largest:UInt32}} + row_number() OVER (ORDER BY first, distinct_id)) FROM ("
        f"SELECT distinct_id, min(timestamp) AS first FROM {events} WHERE tenant_id = {{tenant_id:String}} "
        f"AND person_key NOT IN (SELECT person_key FROM {ids} WHERE tenant_id = {{tenant_id:String}} "
        "AND distinct_id != '') GROUP BY distinct_id) " + FRESH,
        {"largest": largest},
    )
    forget_tenant(warehouse, tenant_id)
    after = int(scope.query(count, settings=UNLIMITED).scalar() or 0)
    return after - before


def rebuild_tenant(warehouse: Warehouse, tenant_id: str) -> None:
    """Ids for the tenant's people without one, then every `person_hours` row of the tenant from
    `events` (the rows written meanwhile by the view are ORed in again: harmless). For bulk loads
    that bypassed the writer (datagen/sql_generator.py)."""
    assign_missing_ids(warehouse, tenant_id)
    scope = warehouse.for_tenant(tenant_id, background=True)
    for sql in fill_sql(scope.table(TABLE), scope.table("events"), scope.table("person_ids"), "1", "1"):
        scope.command(sql, {})


def erase_people(scope: TenantScope, people: Sequence[str]) -> None:
    """The erased people's ids: tombstones keep the numbers from being given again, then their
    mapping rows go, and the process's allocator forgets the tenant's map. People with events left
    (kept after an erasure's cut-off) get a new id from `assign_missing_ids`; the caller then
    computes again every bitmap row those people's ids were in."""
    if not people:
        return
    ids = scope.table("person_ids")
    params = {"people": list(people)}
    scope.command(
        f"INSERT INTO {ids} (tenant_id, distinct_id, person_key, person_id) SELECT tenant_id, '', 0, person_id "
        f"FROM {ids} WHERE tenant_id = {{tenant_id:String}} AND has({{people:Array(String)}}, distinct_id) " + FRESH,
        params,
    )
    scope.command(
        f"ALTER TABLE {ids} DELETE WHERE tenant_id = {{tenant_id:String}} "
        "AND has({people:Array(String)}, distinct_id) SETTINGS mutations_sync = 2",
        params,
    )
