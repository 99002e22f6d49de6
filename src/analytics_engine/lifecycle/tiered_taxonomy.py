"""The taxonomy's rows once months left the hot tier, by subtraction instead of a refill.

`taxonomy_properties` holds per (event, property path, type) a count and the first and last
sighting, over the hot events. A refill from every hot event of the tenant (a scan of every event's
JSON paths) cost 24 s of the tiering job at 10M events. Instead, before the months leave `events`,
the tiering job notes what their rows contribute to each row (`lifecycle_taxonomy_YYYYMM`: count,
first and last timestamp); once they are gone a row becomes:

- count: the table's count less the months' (no row when nothing is left);
- last seen: unchanged (the months are older than every hot event, so a row with hot events left
  was last seen in the hot tier);
- first seen: the earliest hot event of the name holding the path with that type, searched in
  growing windows from the start of the hot tier (a week, the rest of its first month, then month
  by month) and only for the rows not found yet: nearly every path shows up in the first week.

The search reads `events` outside the insert gate; the table is read and its rows replaced inside it
(ingest/writer.py `exclusive`), so no insert lands between the reading and the replacing. When the
table disagrees with the months' figures (a count below theirs, a row missing: a run cut short
after its delete, or data the months do not explain) the tenant's taxonomy is refilled from its hot
events instead: slow, and exact."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from analytics_engine.lifecycle.derived import (
    TRIPLES,
    UNLIMITED,
    refill_taxonomy,
    taxonomy_figures,
)
from analytics_engine.lifecycle.swap import REASON as SWAP_REASON
from analytics_engine.lifecycle.swap import replace_taxonomy_rows
from analytics_engine.lifecycle.window import month_start
from analytics_engine.warehouse.scoped import TenantScope

Triple = tuple[str, str, str]
Contribution = tuple[int, str, str]  # events, first seen, last seen (text, UTC)


def contributions(scope: TenantScope, stagings: Sequence[str]) -> dict[Triple, Contribution]:
    """What the noted months' rows contributed to each of the tenant's taxonomy rows."""
    union = " UNION ALL ".join(
        f"SELECT event, key, type, events, first_seen, last_seen FROM {t} WHERE tenant_id = {{tenant_id:String}}"
        for t in stagings
    )
    rows = scope.query(
        f"SELECT event, key, type, sum(events), toString(min(first_seen)), toString(max(last_seen)) FROM ({union}) "
        "GROUP BY event, key, type",
        {},
        settings=UNLIMITED,
    ).rows
    return {(str(r[0]), str(r[1]), str(r[2])): (int(r[3]), str(r[4]), str(r[5])) for r in rows}


def windows(boundary: datetime, last: datetime) -> list[tuple[datetime, datetime]]:
    """[start, end) ranges from `boundary` (the hot tier's first instant) to past `last`: a week,
    the rest of that month, then whole months."""
    week = boundary + timedelta(days=7)
    out = [(boundary, week)]
    start, end = week, month_start(boundary, -1)
    while start <= last:
        out.append((start, end))
        start, end = end, month_start(end, -1)
    return out


def first_hot_sightings(scope: TenantScope, triples: Sequence[Triple], boundary: datetime) -> dict[Triple, str]:
    """The earliest hot timestamp of each triple's event holding the path with that type. The first
    window (the hot tier's first week) is searched before anything else: nearly every path shows up
    there, and only when some are still missing is the tenant's last event read to bound the rest
    (a scan of every hot row's timestamp, 0.1-0.3 s at 10M events, skipped in the common case)."""
    if not triples:
        return {}
    events = scope.table("events")
    found: dict[Triple, str] = {}
    wanted = set(triples)

    def search(start: datetime, end: datetime) -> None:
        names = sorted({event for event, _, _ in wanted})
        # Grouped by each row's whole set of paths first (a handful per name), then spread over them.
        rows = scope.query(
            "SELECT event, kv.1 AS key, kv.2 AS type, toString(min(first)) FROM (SELECT event, "
            f"JSONAllPathsWithTypes(properties) AS paths, min(timestamp) AS first FROM {events} "
            "WHERE tenant_id = {tenant_id:String} AND has({names:Array(String)}, event) "
            "AND timestamp >= {start:DateTime64(3, 'UTC')} AND timestamp < {end:DateTime64(3, 'UTC')} "
            "GROUP BY event, paths) ARRAY JOIN paths AS kv "
            f"WHERE has({TRIPLES}, (event, key, type)) GROUP BY event, key, type",
            {"names": names, "start": start, "end": end, "keys": sorted(wanted)},
            settings=UNLIMITED,
        ).rows
        for event, key, type_, first in rows:
            triple = (str(event), str(key), str(type_))
            found[triple] = str(first)
            wanted.discard(triple)

    search(*windows(boundary, boundary)[0])  # the first week
    if not wanted:
        return found
    last = scope.query(
        f"SELECT max(timestamp) FROM {events} WHERE tenant_id = {{tenant_id:String}}", {}, settings=UNLIMITED
    ).scalar()
    if last is None:
        return found
    last_seen = last if last.tzinfo else last.replace(tzinfo=UTC)
    for start, end in windows(boundary, last_seen)[1:]:
        if not wanted:
            break
        search(start, end)
    return found


def after_tiering(
    scope: TenantScope, removed: dict[Triple, Contribution], firsts: dict[Triple, str]
) -> list[list[Any]] | None:
    """The rows of the removed triples once the months are gone: the table's now (read it with
    inserts held) less the months'. None when the table disagrees."""
    triples = sorted(removed)
    current = taxonomy_figures(scope, triples)
    rows: list[list[Any]] = []
    for triple in triples:
        count, _, cold_last = removed[triple]
        if triple not in current:
            return None
        total, _, last = current[triple]
        left = total - count
        if left < 0 or (left > 0 and (triple not in firsts or last <= cold_last)):
            return None
        if left > 0:
            rows.append([*triple, left, firsts[triple], last])
    return rows


def replace_rows(scope: TenantScope, triples: Sequence[Triple], rows: Sequence[Sequence[Any]] | None) -> None:
    """Replace the taxonomy rows of these triples by `rows` (None: refill the tenant's whole
    taxonomy from its hot events). Run with inserts held."""
    if rows is None:
        refill_taxonomy(scope)
        return
    # The table's one partition rebuilt beside it and swapped in (lifecycle/swap.py): no mutation
    # waiting behind the background merges while inserts are held.
    replace_taxonomy_rows(scope.warehouse.platform(SWAP_REASON), scope.tenant_id, triples, rows)
