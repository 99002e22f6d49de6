"""Recomputing the tables derived from `events` after rows left `events` (an erasure, a sync delete,
a month moved to the cold tier) or after an insert was cut short (a journal replay, ingest/recovery.py).

The derived tables (docs/architecture.md, "How tables derived from events are fed") are aggregates
that cannot subtract: a unique-users sketch or a `min(first_seen)` does not give back the person
removed. So the affected buckets are deleted and computed again from what `events` now holds:

- per person (`persons`, `person_properties`, `person_weeks`): every row of the affected people;
- per (event, UTC day) (`metrics_daily`, whose view refills `metrics_monthly`, and the property
  rollup `metrics_by_property`, whose view refills `metrics_by_property_days`): every row of the
  affected pairs (the day-level rows of those days are deleted too and come back through the views);
  likewise the person bitmaps (`person_hours`) of those pairs and the any-event rows of those days;
- per (event name, property key, type) (`taxonomy_properties`): the rows of the keys the removed events
  carried (an erasure, a sync delete: `Affected.keys` and what those events contributed,
  `Affected.removed`, noted before the removal). An erasure computes the rows from the table less
  that contribution (`taxonomy_after_removal`, first/last seen re-read only when they were the
  removed events') and saves them before the derived step inserts them; otherwise each key is
  computed again from its subcolumn of the name's events. Every row of the affected names when the
  keys are unknown (a journal replay, progress saved by an older version);
- per event id (`event_ids`, the duplicate check): the affected ids (a journal replay only).

Deletes are mutations run to the end (`mutations_sync = 2`): the rows are gone from the parts, not
masked. A repeat is harmless: deleting the buckets again and filling them from `events` gives the same
rows, so a run killed anywhere is simply run again. `ingest verify` (ingest/consistency.py) checks
the result."""

from __future__ import annotations

import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from analytics_engine.materialized.rollup_sql import DAYS as PROPERTY_ROLLUP_DAYS
from analytics_engine.materialized.rollup_sql import TABLE as PROPERTY_ROLLUP
from analytics_engine.materialized.rollup_sql import VIEW as PROPERTY_ROLLUP_VIEW
from analytics_engine.materialized.rollup_sql import VIEW_COLUMNS_SQL, columns_in_view
from analytics_engine.materialized.rollup_sql import insert_sql as property_rollup_insert
from analytics_engine.personids import hours as person_hours
from analytics_engine.warehouse.scoped import PlatformScope, TenantScope

MUTATION = "SETTINGS mutations_sync = 2"
# A recomputed block may equal one inserted before (a repeat after a kill): the tables' insert
# deduplication (their window of block hashes) would drop it right after its rows were deleted.
FRESH = "SETTINGS insert_deduplicate = 0"
# Reads of erasure and tiering are trusted background work of any size: no per-query time budget.
UNLIMITED = {"max_execution_time": 0}


@dataclass
class Affected:
    """What a removal or a replayed batch touches: people (distinct ids), (event, UTC day) pairs,
    event ids (only a replay names ids: a removal deletes its ids from `event_ids` itself) and the
    taxonomy's (event, property path, type) triples of the removed events (None: not known, the
    taxonomy rows of every affected event name are computed again)."""

    people: list[str] = field(default_factory=list)
    days: list[tuple[str, date]] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)
    keys: list[tuple[str, str, str]] | None = None
    # Per key triple, what the removed events contributed: [event, key, type, events, first, last].
    removed: list[list[Any]] | None = None
    # The taxonomy rows of the key triples once the removed events are gone, when computed (the
    # erasure's `taxonomy` step, from the table's rows minus `removed`): inserted as they are.
    taxonomy: list[list[Any]] | None = None

    def as_json(self) -> dict[str, Any]:
        value: dict[str, Any] = {
            "people": self.people,
            "days": [[event, day.isoformat()] for event, day in self.days],
            "ids": self.ids,
        }
        if self.keys is not None:
            value["keys"] = [list(k) for k in self.keys]
        if self.removed is not None:
            value["removed"] = self.removed
        if self.taxonomy is not None:
            value["taxonomy"] = self.taxonomy
        return value

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> Affected:
        # Progress saved before the keys existed has none: the whole names are recomputed.
        keys = value.get("keys")
        return cls(
            list(value.get("people", [])),
            [(e, date.fromisoformat(d)) for e, d in value.get("days", [])],
            list(value.get("ids", [])),
            None if keys is None else [(str(e), str(k), str(t)) for e, k, t in keys],
            value.get("removed"),
            value.get("taxonomy"),
        )


def affected_by(scope: TenantScope, where: str, params: dict[str, Any]) -> Affected:
    """The people and (event, day) pairs of this tenant's events matching `where` (SQL over `events`)."""
    events = scope.table("events")
    people = scope.query(
        f"SELECT DISTINCT distinct_id FROM {events} WHERE tenant_id = {{tenant_id:String}} AND ({where})",
        params,
        settings=UNLIMITED,
    ).rows
    days = scope.query(
        f"SELECT DISTINCT event, toDate(timestamp) FROM {events} WHERE tenant_id = {{tenant_id:String}} AND ({where})",
        params,
        settings=UNLIMITED,
    ).rows
    keys = scope.query(
        "SELECT event, kv.1 AS key, kv.2 AS type, count(), toString(min(timestamp)), toString(max(timestamp)) "
        f"FROM {events} ARRAY JOIN JSONAllPathsWithTypes(properties) AS kv "
        f"WHERE tenant_id = {{tenant_id:String}} AND ({where}) GROUP BY event, key, type ORDER BY event, key, type",
        params,
        settings=UNLIMITED,
    ).rows
    return Affected(
        sorted(str(r[0]) for r in people),
        sorted((str(r[0]), r[1]) for r in days),
        keys=[(str(r[0]), str(r[1]), str(r[2])) for r in keys],
        removed=[[str(r[0]), str(r[1]), str(r[2]), int(r[3]), str(r[4]), str(r[5])] for r in keys],
    )


def rebuild(scope: TenantScope, affected: Affected) -> None:
    """Recompute every derived row of the affected people, days and ids from `events`: one round of
    deletes (all tables side by side), then the inserts."""
    people_sql, people = "SELECT arrayJoin({people:Array(String)})", {"people": affected.people}
    deletes = people_deletes(scope, people_sql, people) if affected.people else []
    run_together(
        scope,
        deletes
        + day_deletes(scope, affected.days, affected.keys, affected.taxonomy is not None)
        + id_deletes(scope, affected.ids),
    )
    if affected.people:
        rebuild_people(scope, people_sql, people, deleted=True)
    rebuild_days(scope, affected.days, deleted=True, keys=affected.keys, values=affected.taxonomy)
    rebuild_ids(scope, affected.ids)


IDS = "{ids:Array(UUID)}"


def id_deletes(scope: TenantScope, ids: Sequence[str]) -> list[tuple[str, dict[str, Any]]]:
    if not ids:
        return []
    return [
        (
            f"ALTER TABLE {scope.table('event_ids')} DELETE WHERE tenant_id = {{tenant_id:String}} "
            f"AND event_id IN {IDS} {MUTATION}",
            {"ids": list(ids)},
        )
    ]


def rebuild_ids(scope: TenantScope, ids: Sequence[str]) -> None:
    """The duplicate check's rows of these ids, from `events` (the caller deleted them): an id the
    table held for an event `events` lacks would drop that event's retry as a duplicate."""
    if not ids:
        return
    # The SELECT of event_ids_mv (migration 0002), restricted to these ids.
    scope.command(
        f"INSERT INTO {scope.table('event_ids')} SELECT tenant_id, toUInt64(bitShiftRight(toUInt128(event_id), 64)), "
        f"event_id, toDateTime(received_at) FROM {scope.table('events')} "
        f"WHERE tenant_id = {{tenant_id:String}} AND event_id IN {IDS} " + FRESH,
        {"ids": list(ids)},
    )


def run_together(scope: TenantScope, statements: Sequence[tuple[str, dict[str, Any]]]) -> None:
    """Mutations of different tables side by side: each waits for its own rewrite, so a round costs
    the slowest one rather than the sum (the warehouse's background pool runs them in parallel)."""
    if len(statements) < 2:
        for sql, params in statements:
            scope.command(sql, params)
        return
    with ThreadPoolExecutor(max_workers=min(8, len(statements)), thread_name_prefix="mutation") as pool:
        for future in [pool.submit(scope.command, sql, params) for sql, params in statements]:
            future.result()


def people_deletes(
    scope: TenantScope, people_sql: str, params: dict[str, Any], *, weeks: bool = True
) -> list[tuple[str, dict[str, Any]]]:
    """The mutations removing every per-person row of the people `people_sql` selects (without
    `weeks`, not those of person_weeks: the tiering job drops whole week partitions instead)."""
    tenant = "tenant_id = {tenant_id:String}"
    mine = f"{tenant} AND distinct_id IN ({people_sql})"
    deletes = [
        (f"ALTER TABLE {scope.table('persons')} DELETE WHERE {mine} {MUTATION}", params),
        (f"ALTER TABLE {scope.table('person_properties')} DELETE WHERE {mine} {MUTATION}", params),
    ]
    if weeks:
        deletes.append(
            (
                f"ALTER TABLE {scope.table('person_weeks')} DELETE WHERE {tenant} "
                f"AND person_key IN (SELECT cityHash64(*) FROM ({people_sql})) {MUTATION}",
                params,
            )
        )
    return deletes


def rebuild_people(
    scope: TenantScope, people_sql: str, params: dict[str, Any], *, deleted: bool = False, weeks: bool = True
) -> None:
    """Delete and recompute the per-person rows of the people `people_sql` selects (one column of
    distinct ids of this tenant; a list bound as an array, or a staging table). With `deleted`, the
    caller ran `people_deletes` already; without `weeks`, person_weeks is left alone."""
    events = scope.table("events")
    tenant = "tenant_id = {tenant_id:String}"
    mine = f"{tenant} AND distinct_id IN ({people_sql})"
    if not deleted:
        run_together(scope, people_deletes(scope, people_sql, params, weeks=weeks))
    scope.command(
        f"INSERT INTO {scope.table('persons')} SELECT tenant_id, distinct_id, min(timestamp), max(timestamp), count() "
        f"FROM {events} WHERE {mine} GROUP BY tenant_id, distinct_id " + FRESH,
        params,
    )
    scope.command(
        f"INSERT INTO {scope.table('person_properties')} SELECT tenant_id, distinct_id, kv.1 AS key, "
        f"argMaxState(kv.2, timestamp) FROM {events} "
        "ARRAY JOIN JSONExtractKeysAndValuesRaw(toJSONString(properties)) AS kv "
        f"WHERE {mine} GROUP BY tenant_id, distinct_id, key " + FRESH,
        params,
    )
    if weeks:
        # The SELECT of person_weeks_mv (migration 0620), restricted to these people.
        scope.command(person_weeks_insert(scope.table("person_weeks"), events, mine), params)


def rebuild_persons(scope: TenantScope, people_sql: str, params: dict[str, Any] | None = None) -> None:
    """Delete and recompute the `persons` rows of the people `people_sql` selects, from `events`.

    The delete is submitted first and the refill inserted while it runs: a mutation applies only to
    the parts that existed when it was submitted (its version), so the refill's new part is never
    touched by it. The call returns once the delete is done, so the rows are as before (old ones
    gone, new ones in), and the round costs the longer of the two instead of their sum. A kill
    anywhere: the mutation, saved with the table, finishes after the restart, and the step run again
    deletes and refills the same people."""
    mine = f"tenant_id = {{tenant_id:String}} AND distinct_id IN ({people_sql})"
    persons = scope.table("persons")
    platform = scope.warehouse.platform(MUTATION_WAIT_REASON)
    scope.command(f"ALTER TABLE {persons} DELETE WHERE {mine} SETTINGS mutations_sync = 0", params or {})
    pending = _unfinished_mutations(platform, "persons")
    scope.command(
        f"INSERT INTO {persons} SELECT tenant_id, distinct_id, min(timestamp), max(timestamp), count() "
        f"FROM {scope.table('events')} WHERE {mine} GROUP BY tenant_id, distinct_id " + FRESH,
        params or {},
    )
    _wait_for_mutations(platform, "persons", pending)


MUTATION_WAIT_REASON = "derived rows: waiting for a table's mutations (system.mutations is server-wide)"


def _unfinished_mutations(platform: PlatformScope, table: str) -> set[str]:
    rows = platform.query(
        "SELECT mutation_id FROM system.mutations WHERE database = {db:String} AND table = {t:String} AND NOT is_done",
        {"db": platform.database, "t": table},
        settings=UNLIMITED,
    ).rows
    return {str(r[0]) for r in rows}


def _wait_for_mutations(platform: PlatformScope, table: str, mutations: set[str]) -> None:
    """Return once these mutations of `table` are done (what `mutations_sync = 2` waits for)."""
    while mutations:
        rows = platform.query(
            "SELECT mutation_id, latest_fail_reason FROM system.mutations WHERE database = {db:String} "
            "AND table = {t:String} AND NOT is_done AND mutation_id IN {ids:Array(String)}",
            {"db": platform.database, "t": table, "ids": sorted(mutations)},
            settings=UNLIMITED,
        ).rows
        failing = [str(r[1]) for r in rows if r[1]]
        if failing:
            raise RuntimeError(f"mutation of {table} failing: {failing[0]}")
        mutations = {str(r[0]) for r in rows}
        if mutations:
            time.sleep(0.02)


def person_weeks_insert(target: str, events: str, where: str) -> str:
    """The SELECT of person_weeks_mv (migration 0620) over the events matching `where`, into `target`."""
    return (
        f"INSERT INTO {target} "
        "WITH toUInt8(intDiv(toUnixTimestamp(timestamp) - toUnixTimestamp(toDateTime(toMonday(timestamp), 'UTC')), "
        "3600)) AS hw "
        "SELECT tenant_id, name AS event, toMonday(timestamp) AS week, cityHash64(distinct_id) AS person_key, "
        "groupBitOr(bitShiftLeft(toUInt64(hw < 64), hw % 64)) AS h0, "
        "groupBitOr(bitShiftLeft(toUInt64(hw >= 64 AND hw < 128), hw % 64)) AS h1, "
        "groupBitOr(bitShiftLeft(toUInt64(hw >= 128), hw % 64)) AS h2, "
        f"min(timestamp) AS first_ts, count() AS events FROM {events} ARRAY JOIN [event, ''] AS name "
        f"WHERE {where} GROUP BY tenant_id, event, week, person_key " + FRESH
    )


PAIRS = "{days:Array(Tuple(String, Date))}"
NAMES = "{names:Array(String)}"
# The (event, UTC day) pairs as a set the sort key's index can use (`has(array, tuple)` cannot: it
# read every granule of the tenant, 15.8 s at 10M events for one person's 105 buckets).
PAIR_SET = f"(SELECT p.1, p.2 FROM (SELECT arrayJoin({PAIRS}) AS p))"


def pairs_condition(event: str, day: str) -> str:
    """SQL: (event, day) is one of the bound pairs `{days:...}`, read through the sort key."""
    return f"({event}, {day}) IN {PAIR_SET}"


def day_deletes(
    scope: TenantScope,
    days: Sequence[tuple[str, date]],
    keys: Sequence[tuple[str, str, str]] | None = None,
    computed: bool = False,
) -> list[tuple[str, dict[str, Any]]]:
    """The mutations removing the rollup rows of these (event, day) pairs and the taxonomy rows of
    their names (of only these (event, key, type) triples when `keys` is given)."""
    if not days:
        return []
    params: dict[str, Any] = {"days": [(event, day) for event, day in days]}
    tenant = "tenant_id = {tenant_id:String}"
    return [
        (
            f"ALTER TABLE {scope.table('metrics_daily')} DELETE WHERE {tenant} "
            f"AND has({PAIRS}, (event, toDate(hour))) {MUTATION}",
            params,
        ),
        (
            f"ALTER TABLE {scope.table('metrics_monthly')} DELETE WHERE {tenant} AND has({PAIRS}, (event, day)) "
            + MUTATION,
            params,
        ),
        (
            f"ALTER TABLE {scope.table(PROPERTY_ROLLUP)} DELETE WHERE {tenant} "
            f"AND {pairs_condition('event', 'toDate(hour)')} {MUTATION}",
            params,
        ),
        # Its day rows come back through metrics_by_property_days_mv from the hour rows' refill.
        (
            f"ALTER TABLE {scope.table(PROPERTY_ROLLUP_DAYS)} DELETE WHERE {tenant} "
            f"AND {pairs_condition('event', 'day')} {MUTATION}",
            params,
        ),
        *taxonomy_deletes(scope, days, keys, computed),
        # The person bitmaps of those days (and their any-event rows): personids/hours.py.
        (person_hours.day_delete(scope)[0], person_hours.day_params(days)),
    ]


def taxonomy_plan(
    days: Sequence[tuple[str, date]], keys: Sequence[tuple[str, str, str]] | None, computed: bool = False
) -> tuple[list[str], dict[str, list[tuple[str, str]]]]:
    """Which taxonomy rows to compute again: the event names refilled whole (every path, the keys not
    known or too many for one statement of subcolumns), and per other name its (key, type) pairs
    (all of them when their rows were `computed` already)."""
    names = event_names(days)
    if keys is None:
        return names, {}
    by_name: dict[str, set[tuple[str, str]]] = {}
    for event, key, type_ in keys:
        by_name.setdefault(event, set()).add((key, type_))
    whole = [] if computed else [name for name in sorted(by_name) if len(by_name[name]) > MAX_KEYS]
    return whole, {name: sorted(pairs) for name, pairs in sorted(by_name.items()) if name not in whole}


# Above this many (path, type) pairs of one event name a refill of the whole name (one pass over all
# paths) is cheaper than a statement reading that many subcolumns.
MAX_KEYS = 64
TRIPLES = "{keys:Array(Tuple(String, String, String))}"


def taxonomy_deletes(
    scope: TenantScope,
    days: Sequence[tuple[str, date]],
    keys: Sequence[tuple[str, str, str]] | None,
    computed: bool = False,
) -> list[tuple[str, dict[str, Any]]]:
    whole, pairs = taxonomy_plan(days, keys, computed)
    table, tenant = scope.table("taxonomy_properties"), "tenant_id = {tenant_id:String}"
    conditions: list[str] = []
    params: dict[str, Any] = {}
    if whole:
        conditions.append(f"has({NAMES}, event)")
        params["names"] = whole
    if pairs:
        conditions.append(f"has({TRIPLES}, (event, key, type))")
        params["keys"] = [(event, key, type_) for event, kts in pairs.items() for key, type_ in kts]
    if not conditions:
        return []
    return [(f"ALTER TABLE {table} DELETE WHERE {tenant} AND ({' OR '.join(conditions)}) {MUTATION}", params)]


def event_names(days: Sequence[tuple[str, date]]) -> list[str]:
    return sorted({event for event, _ in days})


def refill_taxonomy(scope: TenantScope) -> None:
    """Every taxonomy row of the tenant computed again from its hot events (after months left them)."""
    scope.command(
        f"ALTER TABLE {scope.table('taxonomy_properties')} DELETE WHERE tenant_id = {{tenant_id:String}} " + MUTATION,
        {},
    )
    rebuild_taxonomy(scope, None)


def rebuild_taxonomy(scope: TenantScope, names: Sequence[str] | None) -> None:
    """Refill the taxonomy's property keys (migration 1700) of these event names (None: every name)
    from what `events` holds now; the caller deleted their rows. Per event name, not per day: a key's
    count and first/last seen span all the name's events."""
    which = "" if names is None else f"AND has({NAMES}, event)"
    # The SELECT of taxonomy_properties_mv (migration 1700), restricted to these names.
    scope.command(
        f"INSERT INTO {scope.table('taxonomy_properties')} SELECT tenant_id, event, kv.1 AS key, kv.2 AS type, "
        f"count(), min(timestamp), max(timestamp) FROM {scope.table('events')} "
        f"ARRAY JOIN JSONAllPathsWithTypes(properties) AS kv WHERE tenant_id = {{tenant_id:String}} {which} "
        "GROUP BY tenant_id, event, key, type " + FRESH,
        {} if names is None else {"names": list(names)},
    )


def rebuild_taxonomy_keys(scope: TenantScope, by_name: dict[str, list[tuple[str, str]]]) -> None:
    """Refill the taxonomy rows of these (key, type) pairs per event name (the caller deleted them)
    from the names' events in one pass reading only those paths' subcolumns
    (`getSubcolumn(properties, {k:String})`, the key a bound string: an `Identifier` parameter is
    mangled by the client's escaping of quotes and backticks): per (event, key, type), the events of
    the name whose path holds that type (`dynamicType`; 'None' where the event lacks the path, which
    JSONAllPathsWithTypes would not list), their count and first and last timestamp, as
    taxonomy_properties_mv computes them. One aggregate row: no ARRAY JOIN of every path, no GROUP BY."""
    triples = [(event, key, type_) for event, pairs in by_name.items() for key, type_ in pairs]
    if not triples:
        return
    params: dict[str, Any] = {"names": sorted(by_name)}
    figures = []
    for i, (event, key, type_) in enumerate(triples):
        params[f"e{i}"], params[f"k{i}"], params[f"t{i}"] = event, key, type_
        holds = f"event = {{e{i}:String}} AND dynamicType(getSubcolumn(properties, {{k{i}:String}})) = {{t{i}:String}}"
        figures.append(
            f"({{e{i}:String}}, {{k{i}:String}}, {{t{i}:String}}, countIf({holds}), minIf(timestamp, {holds}), "
            f"maxIf(timestamp, {holds}))"
        )
    scope.command(
        f"INSERT INTO {scope.table('taxonomy_properties')} SELECT {{tenant_id:String}}, "
        "r.1, r.2, r.3, r.4, r.5, r.6 FROM ("
        f"SELECT [{', '.join(figures)}] AS found FROM {scope.table('events')} "
        f"WHERE tenant_id = {{tenant_id:String}} AND has({NAMES}, event)"
        ") ARRAY JOIN found AS r WHERE r.4 > 0 " + FRESH,
        params,
    )


def rebuild_days(
    scope: TenantScope,
    days: Sequence[tuple[str, date]],
    *,
    deleted: bool = False,
    keys: Sequence[tuple[str, str, str]] | None = None,
    values: Sequence[Sequence[Any]] | None = None,
) -> None:
    """Recompute the rollup rows of these (event, day) pairs and the taxonomy rows of their names
    (of only the (event, key, type) triples `keys` when given; `values`: those rows computed
    already, `taxonomy_after_removal`, inserted as they are)."""
    if not days:
        return
    params = {"days": [(event, day) for event, day in days]}
    tenant = "tenant_id = {tenant_id:String}"
    if not deleted:
        run_together(scope, day_deletes(scope, days, keys, values is not None))
    # The view metrics_monthly_mv refills the monthly rows of these days from this insert.
    scope.command(
        f"INSERT INTO {scope.table('metrics_daily')} SELECT tenant_id, event, toStartOfHour(timestamp) AS hour, "
        f"count(), uniqCombinedState(14)(distinct_id) FROM {scope.table('events')} "
        f"WHERE {tenant} AND {pairs_condition('event', 'toDate(timestamp)')} GROUP BY tenant_id, event, hour " + FRESH,
        params,
    )
    person_hours.refill_days(scope, days)
    columns = property_rollup_columns(scope)
    if columns:  # the rows metrics_by_property_mv writes for these days' events
        where = f"{tenant} AND {pairs_condition('event', 'toDate(timestamp)')}"
        scope.command(
            property_rollup_insert(scope.table(PROPERTY_ROLLUP), scope.table("events"), columns, where) + FRESH,
            params,
        )
    if values is not None and keys is not None:
        insert_taxonomy_values(scope, values)
        return
    whole, by_name = taxonomy_plan(days, keys)
    if whole:
        rebuild_taxonomy(scope, whole)
    rebuild_taxonomy_keys(scope, by_name)


def property_rollup_columns(scope: TenantScope) -> list[str]:
    """The materialized columns the property rollup's view reads now (none: no view)."""
    rows = (
        scope.warehouse.platform("derived rows: the columns the property rollup's view reads")
        .query(VIEW_COLUMNS_SQL, {"db": scope.warehouse.database, "v": PROPERTY_ROLLUP_VIEW})
        .rows
    )
    return columns_in_view(str(rows[0][0])) if rows else []


ROWS = "{rows:Array(Tuple(String, String, String, UInt64, DateTime64(3, 'UTC'), DateTime64(3, 'UTC')))}"


def insert_taxonomy_values(scope: TenantScope, values: Sequence[Sequence[Any]]) -> None:
    rows = [tuple(v) for v in values if int(v[3]) > 0]
    if rows:
        scope.command(
            f"INSERT INTO {scope.table('taxonomy_properties')} SELECT {{tenant_id:String}}, r.1, r.2, r.3, r.4, r.5, "
            f"r.6 FROM (SELECT arrayJoin({ROWS}) AS r) " + FRESH,
            {"rows": rows},
        )


def taxonomy_figures(
    scope: TenantScope, triples: Sequence[tuple[str, str, str]]
) -> dict[tuple[str, str, str], tuple[int, str, str]]:
    """The taxonomy table's figures now for these (event, key, type) triples: count, first and last
    seen (as text). A triple without rows is absent. Erasure and tiering subtract from these."""
    return {
        (str(r[0]), str(r[1]), str(r[2])): (int(r[3]), str(r[4]), str(r[5]))
        for r in scope.query(
            f"SELECT event, key, type, sum(events), toString(min(first_seen)), toString(max(last_seen)) "
            f"FROM {scope.table('taxonomy_properties')} "
            f"WHERE tenant_id = {{tenant_id:String}} AND has({TRIPLES}, (event, key, type)) GROUP BY event, key, type",
            {"keys": list(triples)},
            settings=UNLIMITED,
        ).rows
    }


def taxonomy_after_removal(scope: TenantScope, removed: Sequence[Sequence[Any]]) -> list[list[Any]] | None:
    """The taxonomy rows of the removed events' key triples once they are gone from `events` (call
    it after their removal, before the taxonomy's rows change): the table's count less theirs; the
    first (last) sighting kept unless it was theirs, else the earliest (latest) remaining event of
    the name holding the path with that type, read in the table's order and stopping at the first
    found. None when the table disagrees with what was removed (a count below theirs, a row
    missing): the caller recomputes those keys from the events instead."""
    if not removed:
        return []
    triples = [(str(r[0]), str(r[1]), str(r[2])) for r in removed]
    current = taxonomy_figures(scope, triples)
    rows: list[list[Any]] = []
    for (event, key, type_), (_, _, _, count, first, last) in zip(triples, removed, strict=True):
        if (event, key, type_) not in current:
            return None
        total, seen_first, seen_last = current[(event, key, type_)]
        left = total - int(count)
        if left < 0:
            return None
        if left == 0:
            rows.append([event, key, type_, 0, seen_first, seen_last])
            continue
        edges = [
            _edge(scope, event, key, type_, "ASC") if str(first) <= seen_first else seen_first,
            _edge(scope, event, key, type_, "DESC") if str(last) >= seen_last else seen_last,
        ]
        if edges[0] is None or edges[1] is None:
            return None
        rows.append([event, key, type_, left, edges[0], edges[1]])
    return rows


def _edge(scope: TenantScope, event: str, key: str, type_: str, order: str) -> str | None:
    """The earliest (ASC) or latest (DESC) timestamp of the name's events holding the path with that
    type: `events` is sorted by (tenant_id, event, day), so the read stops at the first day found."""
    direction = "DESC" if order == "DESC" else "ASC"
    found = scope.query(
        f"SELECT toString(timestamp) FROM {scope.table('events')} WHERE tenant_id = {{tenant_id:String}} "
        "AND event = {event:String} AND dynamicType(getSubcolumn(properties, {key:String})) = {type:String} "
        f"ORDER BY tenant_id {direction}, event {direction}, toDate(timestamp) {direction}, timestamp {direction} "
        "LIMIT 1",
        {"event": event, "key": key, "type": type_},
        settings=UNLIMITED,
    ).rows
    return str(found[0][0]) if found else None
