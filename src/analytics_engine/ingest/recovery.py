"""Mending the tables derived from `events` after a batch's insert was cut short (a kill, a failed
insert), once `events` holds exactly what it should of the batch (docs/ingest.md, "Exactly once
across crashes").

Deduplication tokens alone cannot make a derived table exact after a kill: ClickHouse commits the
parts of one insert one table at a time and in no order we control (a view's part may land before
the `events` part; a table may record a part's token a moment before the part becomes visible, and
lose the part). So the replay does not trust what the tokens skipped: it recomputes every derived
row the batch can have touched (its people, its (event, day) pairs, its event ids) from what `events`
now holds, with the same code that mends derived tables after an erasure (lifecycle/derived.py).
A repeat gives the same rows, so a replay killed half-way is simply run again.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, date, datetime

import orjson
import structlog

from analytics_engine.lifecycle.derived import Affected, rebuild
from analytics_engine.warehouse.client import Warehouse

log = structlog.get_logger(__name__)


def affected_by_batch(lines: Iterable[bytes]) -> dict[str, Affected]:
    """Per tenant, the people, (event, UTC day) pairs and ids of a batch's rows (JSONCompactEachRow
    lines in EVENT_COLUMNS order: tenant_id, event, distinct_id, timestamp, event_id, ...)."""
    people: dict[str, set[str]] = defaultdict(set)
    days: dict[str, set[tuple[str, date]]] = defaultdict(set)
    ids: dict[str, set[str]] = defaultdict(set)
    for line in lines:
        if not line.strip():
            continue
        tenant_id, event, distinct_id, timestamp, event_id = orjson.loads(line)[:5]
        people[tenant_id].add(str(distinct_id))
        days[tenant_id].add((str(event), event_day(timestamp)))
        ids[tenant_id].add(str(event_id))
    return {
        tenant_id: Affected(sorted(people[tenant_id]), sorted(days[tenant_id]), sorted(ids[tenant_id]))
        for tenant_id in people
    }


def event_day(timestamp: str | int | float) -> date:
    """The UTC day of a row's timestamp as the writer formats it: epoch seconds (text with
    milliseconds, `epoch_text`) or, from older writers, 'YYYY-MM-DD hh:mm:ss[.fff]' in UTC."""
    try:
        return datetime.fromtimestamp(float(timestamp), UTC).date()
    except ValueError:
        return date.fromisoformat(str(timestamp)[:10])


def rebuild_derived_for_batch(warehouse: Warehouse, lines: Iterable[bytes]) -> int:
    """Recompute the derived rows of the batch's tenants, people, days and ids from `events`;
    returns the number of tenants mended."""
    affected = affected_by_batch(lines)
    for tenant_id, scope_affected in affected.items():
        rebuild(warehouse.for_tenant(tenant_id, background=True), scope_affected)
        log.info(
            "ingest.derived_rebuilt",
            tenant_id=tenant_id,
            people=len(scope_affected.people),
            days=len(scope_affected.days),
            ids=len(scope_affected.ids),
        )
    return len(affected)
