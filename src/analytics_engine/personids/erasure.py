"""An erased person leaves every person bitmap and loses their id (privacy/eraser.py's derived step).

Run with the process's inserts held (`EventWriter.exclusive`):
1. the people's mapping rows go (tombstones keep their ids from being given again) and the
   allocator forgets the tenant's map;
2. people with events left in `events` (received after the erasure's cut-off) get a new id;
3. every bitmap row an old id can be in is computed again from `events` through the new mapping:
   the (event, UTC day) pairs of the erased events (noted before their removal) and those of the
   people's remaining events (an insert between the removal and this step carried the old id),
   with the any-event rows of those days. Each month partition is rebuilt beside the table and
   swapped in (lifecycle/swap.py: no mutation waiting behind merges).

A repeat (a kill anywhere) does it all again with the same result: the old id of a row is never
read, rows are computed from `events` and the mapping as they are then.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from analytics_engine.lifecycle.swap import swap_partitions
from analytics_engine.personids.hours import (
    EVENTS_OF_DAYS,
    EVENTS_OF_PAIRS,
    ROWS_OF_DAYS,
    TABLE,
    UNLIMITED,
    assign_missing_ids,
    day_params,
    erase_people,
    fill_sql,
)
from analytics_engine.warehouse.client import Warehouse
from analytics_engine.warehouse.scoped import PlatformScope

REASON = "person bitmaps of erased people swapped by partition: a partition holds every tenant's rows"


def remaining_days(warehouse: Warehouse, tenant_id: str, people: Sequence[str]) -> list[tuple[str, date]]:
    """The (event, UTC day) pairs of these people's events still in `events`."""
    scope = warehouse.for_tenant(tenant_id, background=True)
    rows = scope.query(
        f"SELECT DISTINCT event, toDate(timestamp) FROM {scope.table('events')} WHERE tenant_id = {{tenant_id:String}} "
        "AND has({people:Array(String)}, distinct_id)",
        {"people": list(people)},
        settings=UNLIMITED,
    ).rows
    return [(str(r[0]), r[1]) for r in rows]


def replace_days(platform: PlatformScope, tenant_id: str, days: Sequence[tuple[str, date]]) -> None:
    """The tenant's person bitmap rows of these (event, UTC day) pairs and the any-event rows of their
    days computed again from `events`, partition by partition (run with inserts held)."""
    if not days:
        return
    params: dict[str, Any] = {"tenant_id": tenant_id, **day_params(days)}
    table, events, ids = (platform.table(t) for t in (TABLE, "events", "person_ids"))
    months = sorted({f"{d.year:04d}{d.month:02d}" for _, d in days})
    swap_partitions(
        platform,
        table,
        months,
        f"NOT ({ROWS_OF_DAYS})",
        fill_sql("{stage}", events, ids, EVENTS_OF_PAIRS, EVENTS_OF_DAYS),
        params,
    )


def erase_from_bitmaps(
    warehouse: Warehouse, tenant_id: str, people: Sequence[str], days: Sequence[tuple[str, date]]
) -> int:
    """Steps 1-3 above; returns the number of bitmap (event, day) pairs computed again."""
    if not people:
        return 0
    erase_people(warehouse.for_tenant(tenant_id, background=True), people)
    assign_missing_ids(warehouse, tenant_id)
    every = sorted(set(days) | set(remaining_days(warehouse, tenant_id, people)))
    replace_days(warehouse.platform(REASON), tenant_id, every)
    return len(every)
