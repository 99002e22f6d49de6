"""Shared buckets of the derived tables replaced without a mutation (an erasure, inside the insert gate).

A mutation (`ALTER TABLE ... DELETE`) rewrites every part holding a matching row and waits its turn in
the background pool, behind the merges the bulk loads and the tiering job left: at 10M events the
rollup deletes held inserts ~20 s. Instead each affected partition is built again beside the table
and swapped in whole:

1. a staging table with the table's structure (`CREATE TABLE ... AS`) receives the partition's rows
   outside the affected buckets (a copy of aggregate states, no merge) and the affected buckets
   computed again (from `events`, read through the sort key: only the buckets' granules);
2. `ALTER TABLE ... REPLACE PARTITION ID ... FROM` the staging table swaps the partition's parts
   atomically (hard links; no view fires);
3. the staging table goes.

The rollups are small (rows per tenant, event and hour or day), so a copy of a partition costs far
less than rewriting the parts of a mutation. Partitions are shared by every tenant: platform work.
An insert landing between the copy and the swap would be lost, so the caller holds this process's
inserts (`EventWriter.exclusive`). A repeat builds the same partitions again (killed anywhere, the
erasure's step runs again; a staging table left behind is dropped by name at the next run).

Two swaps of one partition must not interleave: each copy, taken before the other's swap, would put
back the rows the other replaced. Steps 1-2 hold a lease per (table, partition) in the metadata
database (metadata/leases.py), so that holds across processes sharing one warehouse and one metadata
database (an erasure in `serve`, the tiering job in `analytics-engine lifecycle run`, two workers);
a holder killed mid-swap leaves its leases to expire (`ANALYTICS_SWAP_LEASE_SECONDS`), and the lease
is checked again before each partition is replaced (a holder that lost it stops, its job retries).
Within a process a lock per table comes first, so its own threads queue without polling."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Sequence
from datetime import date
from typing import Any

from analytics_engine.lifecycle.derived import FRESH, ROWS, TRIPLES, UNLIMITED, pairs_condition
from analytics_engine.lifecycle.stages import drop_orphaned_stages
from analytics_engine.warehouse.scoped import PlatformScope

REASON = "derived buckets swapped by partition: a partition holds every tenant's rows"
TRIPLE_SET = f"(SELECT k.1, k.2, k.3 FROM (SELECT arrayJoin({TRIPLES}) AS k))"
STAGE_PREFIX = "derived_stage_"
# One swap of a table at a time in this process (the tiering job swaps several tenants' taxonomy side
# by side), before the leases that keep other processes apart.
_LOCKS: dict[str, threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()


def _lock(table: str) -> threading.Lock:
    with _LOCKS_GUARD:
        return _LOCKS.setdefault(table, threading.Lock())


def _partitions(platform: PlatformScope, table: str, where: str, params: dict[str, Any]) -> list[str]:
    rows = platform.query(f"SELECT DISTINCT _partition_id FROM {table} WHERE {where}", params, settings=UNLIMITED).rows
    return sorted(str(r[0]) for r in rows)


def swap_partitions(
    platform: PlatformScope,
    table: str,
    partitions: Sequence[str],
    keep: str,
    fills: Sequence[str],
    params: dict[str, Any],
) -> None:
    """Partitions `partitions` of `table` become: their rows matching `keep`, plus the rows each of
    `fills` (INSERT ... SELECT statements with `{stage}` for the target) writes into them."""
    if not partitions:
        return
    bound = {**params, "partitions": list(partitions)}
    leases = platform.warehouse.leases
    with _lock(table):
        if leases is None:  # a warehouse built without the metadata database (no other process to meet)
            stage = _stage(platform, table, uuid.uuid4().hex[:16])
            _swap(platform, table, stage, partitions, keep, fills, bound, lambda: None)
            return
        with leases.hold(lease_names(table, partitions)) as held:
            # Named after the holder: `drop_stale_stages` in another process leaves it alone meanwhile.
            stage = _stage(platform, table, held.owner)
            _swap(platform, table, stage, partitions, keep, fills, bound, held.still_held)


def _stage(platform: PlatformScope, table: str, owner: str) -> str:
    return platform.table(f"{STAGE_PREFIX}{table.rsplit('.', 1)[-1].strip('`')}_{owner}")


def lease_names(table: str, partitions: Sequence[str]) -> list[str]:
    """The leases of a swap: one per (table, partition); `table` names its database too."""
    return [f"swap:{table.replace('`', '')}/{partition}" for partition in partitions]


def _swap(
    platform: PlatformScope,
    table: str,
    stage: str,
    partitions: Sequence[str],
    keep: str,
    fills: Sequence[str],
    bound: dict[str, Any],
    still_held: Callable[[], None],
) -> None:
    platform.command(f"CREATE TABLE {stage} AS {table}")
    try:
        platform.command(
            f"INSERT INTO {stage} SELECT * FROM {table} "
            f"WHERE _partition_id IN {{partitions:Array(String)}} AND ({keep}) " + FRESH,
            bound,
        )
        for fill in fills:
            platform.command(fill.replace("{stage}", stage), bound)
        filled = set(_partitions(platform, stage, "1", {}))
        for partition in partitions:
            still_held()  # else another process may be swapping it: our copy would undo its swap
            if partition in filled:
                platform.command(
                    f"ALTER TABLE {table} REPLACE PARTITION ID {{p:String}} FROM {stage}", {"p": partition}
                )
            else:
                # Nothing left in it (REPLACE refuses an empty source): the partition goes whole.
                platform.command(f"ALTER TABLE {table} DROP PARTITION ID {{p:String}}", {"p": partition})
    finally:
        platform.command(f"DROP TABLE IF EXISTS {stage}")


def drop_stale_stages(platform: PlatformScope) -> None:
    """Staging tables a killed run left behind; another process's swap in progress keeps its own
    (lifecycle/stages.py)."""
    drop_orphaned_stages(platform, STAGE_PREFIX)


def replace_day_buckets(platform: PlatformScope, tenant_id: str, days: Sequence[tuple[str, date]]) -> None:
    """The tenant's `metrics_daily` rows of these (event, UTC day) pairs computed again from `events`,
    and its `metrics_monthly` rows of those days from the new hourly rows, partition by partition.
    Run with inserts held."""
    if not days:
        return
    params: dict[str, Any] = {"tenant_id": tenant_id, "days": [(e, d) for e, d in days]}
    mine = "tenant_id = {tenant_id:String}"
    daily, monthly, events = (platform.table(t) for t in ("metrics_daily", "metrics_monthly", "events"))
    months = sorted({f"{d.year:04d}{d.month:02d}" for _, d in days})
    swap_partitions(
        platform,
        daily,
        months,
        f"NOT ({mine} AND {pairs_condition('event', 'toDate(hour)')})",
        [
            "INSERT INTO {stage} SELECT tenant_id, event, toStartOfHour(timestamp) AS hour, count(), "
            f"uniqCombinedState(14)(distinct_id) FROM {events} WHERE {mine} "
            f"AND {pairs_condition('event', 'toDate(timestamp)')} GROUP BY tenant_id, event, hour " + FRESH
        ],
        params,
    )
    # What metrics_monthly_mv would write for these days from the hourly rows (now the new ones).
    years = sorted({f"{d.year:04d}" for _, d in days})
    swap_partitions(
        platform,
        monthly,
        years,
        f"NOT ({mine} AND {pairs_condition('event', 'day')})",
        [
            "INSERT INTO {stage} SELECT tenant_id, event, toDate(hour) AS day, sum(events), "
            f"uniqCombinedMergeState(14)(users) FROM {daily} WHERE {mine} "
            f"AND {pairs_condition('event', 'toDate(hour)')} GROUP BY tenant_id, event, day " + FRESH
        ],
        params,
    )


def replace_taxonomy_rows(
    platform: PlatformScope, tenant_id: str, triples: Sequence[tuple[str, str, str]], rows: Sequence[Sequence[Any]]
) -> None:
    """The tenant's `taxonomy_properties` rows of these (event, key, type) triples replaced by `rows`
    (computed already; a row with no events left is not written). The table has one partition."""
    if not triples:
        return
    table = platform.table("taxonomy_properties")
    params: dict[str, Any] = {
        "tenant_id": tenant_id,
        "keys": [tuple(t) for t in triples],
        "rows": [tuple(r) for r in rows if int(r[3]) > 0],
    }
    partitions = _partitions(platform, table, "1", {}) or ["all"]
    swap_partitions(
        platform,
        table,
        partitions,
        f"NOT (tenant_id = {{tenant_id:String}} AND (event, key, type) IN {TRIPLE_SET})",
        [
            "INSERT INTO {stage} SELECT {tenant_id:String}, r.1, r.2, r.3, r.4, r.5, r.6 "
            f"FROM (SELECT arrayJoin({ROWS}) AS r) " + FRESH
        ],
        params,
    )
