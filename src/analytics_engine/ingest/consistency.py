"""Are the tables derived from `events` equal to what `events` itself says?

Every table fed from `events` (the duplicate-check ids, the rollups, persons and their properties,
and any pre-aggregation added later) registers one `DerivedCheck`: the same figure computed per
tenant from the derived table and from `events`. `check_derived` compares them and also counts
events stored twice. Operators run it as `analytics-engine ingest verify`; the crash tests run it
after every kill (docs/ingest.md, "Exactly once across crashes").

`events` may hold a duplicate until a background merge of its ReplacingMergeTree removes it; the
check counts rows as stored (no FINAL), so such a duplicate is reported, not hidden.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from analytics_engine.warehouse.client import Warehouse

VERIFY_REASON = "ingest verify: compares every derived table with events, for all tenants"


# `events` is read month partition by month partition for a figure that adds up over months (a
# count, or a distinct count of something that lives in one month: event ids, person-hours): each
# statement reads one partition. A distinct count of people does not add up over months and is read
# whole (WHOLE): cutting it by a hash of the person made every part read the whole JSON column again
# (8 parts: 140 s against 34 s at 10M events). Verify's statements run without the per-query time
# limit (an operator's read of everything; at 10M events the limit stopped it half-way).
MONTH, WHOLE = "month", "whole"
VERIFY_SETTINGS = {"max_execution_time": 0}


@dataclass(frozen=True)
class DerivedCheck:
    """`derived` and `raw` each select (tenant_id, figure) grouped by tenant; `{t}` is the
    derived table's qualified name, `{events}` that of `events` and `{slice}` in `raw` the condition
    of one slice (`sliced`: MONTH, or WHOLE: always true); the figures of the slices are added up. The derived
    side reads a pre-aggregated table and is not cut."""

    table: str
    figure: str
    derived: str
    raw: str
    sliced: str = MONTH


DERIVED_CHECKS: tuple[DerivedCheck, ...] = (
    DerivedCheck(
        "event_ids",
        "distinct ids",
        "SELECT tenant_id, uniqExact(event_id) FROM {t} GROUP BY tenant_id",
        # event_ids keeps 7 days of ids by arrival; a check right after ingest sees them all.
        "SELECT tenant_id, uniqExact(event_id) FROM {events} "
        "WHERE received_at >= now() - INTERVAL 7 DAY AND {slice} GROUP BY tenant_id",
    ),
    DerivedCheck(
        "metrics_daily",
        "events",
        "SELECT tenant_id, sum(events) FROM {t} GROUP BY tenant_id",
        "SELECT tenant_id, count() FROM {events} WHERE {slice} GROUP BY tenant_id",
    ),
    DerivedCheck(
        "metrics_monthly",
        "events",
        "SELECT tenant_id, sum(events) FROM {t} GROUP BY tenant_id",
        "SELECT tenant_id, count() FROM {events} WHERE {slice} GROUP BY tenant_id",
    ),
    DerivedCheck(
        "persons",
        "events",
        "SELECT tenant_id, sum(event_count) FROM {t} GROUP BY tenant_id",
        "SELECT tenant_id, count() FROM {events} WHERE {slice} GROUP BY tenant_id",
    ),
    DerivedCheck(
        "persons",
        "persons",
        "SELECT tenant_id, uniqExact(distinct_id) FROM {t} GROUP BY tenant_id",
        "SELECT tenant_id, uniqExact(distinct_id) FROM {events} WHERE {slice} GROUP BY tenant_id",
        WHOLE,
    ),
    DerivedCheck(
        "person_properties",
        "(person, key) pairs",
        "SELECT tenant_id, uniqExact(distinct_id, key) FROM {t} GROUP BY tenant_id",
        # The slice picks the rows before their JSON is read (a WHERE after the ARRAY JOIN would
        # extract every row's keys in each slice).
        "SELECT tenant_id, uniqExact(distinct_id, kv.1) FROM (SELECT tenant_id, distinct_id, properties "
        "FROM {events} WHERE {slice}) ARRAY JOIN JSONExtractKeysAndValuesRaw(toJSONString(properties)) AS kv "
        "GROUP BY tenant_id",
        WHOLE,
    ),
    # The pre-aggregation of retention and engagement (migration 0620): per-event rows and the
    # any-event rows (event = '') each count every event once, and their hour masks (merged per row
    # key first: unmerged parts hold a key more than once) hold every active person-hour.
    DerivedCheck(
        "person_weeks",
        "events",
        "SELECT tenant_id, sum(events) FROM {t} WHERE event != '' GROUP BY tenant_id",
        "SELECT tenant_id, count() FROM {events} WHERE {slice} GROUP BY tenant_id",
    ),
    DerivedCheck(
        "person_weeks",
        "events (any-event rows)",
        "SELECT tenant_id, sum(events) FROM {t} WHERE event = '' GROUP BY tenant_id",
        "SELECT tenant_id, count() FROM {events} WHERE {slice} GROUP BY tenant_id",
    ),
    DerivedCheck(
        "person_weeks",
        "(event, hour, person) triples",
        "SELECT tenant_id, sum(bitCount(m0) + bitCount(m1) + bitCount(m2)) FROM (SELECT tenant_id, "
        "groupBitOr(h0) AS m0, groupBitOr(h1) AS m1, groupBitOr(h2) AS m2 FROM {t} WHERE event != '' "
        "GROUP BY tenant_id, event, week, person_key) GROUP BY tenant_id",
        "SELECT tenant_id, uniqExact(event, toStartOfHour(timestamp), cityHash64(distinct_id)) FROM {events} "
        "WHERE {slice} GROUP BY tenant_id",
    ),
    DerivedCheck(
        "person_weeks",
        "first event time (sum of seconds per person and event)",
        "SELECT tenant_id, sum(toUnixTimestamp(t)) FROM (SELECT tenant_id, min(first_ts) AS t FROM {t} "
        "WHERE event != '' GROUP BY tenant_id, event, person_key) GROUP BY tenant_id",
        "SELECT tenant_id, sum(toUnixTimestamp(t)) FROM (SELECT tenant_id, min(timestamp) AS t FROM {events} "
        "WHERE {slice} GROUP BY tenant_id, event, cityHash64(distinct_id)) GROUP BY tenant_id",
        WHOLE,
    ),
    # The person bitmaps (migration 1800): per (event, UTC hour) and per hour (any-event rows), the
    # people in the merged bitmap are the distinct people of those events; every person of `events`
    # has exactly one id, and no id is shared (personids/).
    DerivedCheck(
        "person_hours",
        "(event, hour, person) triples",
        "SELECT tenant_id, sum(bitmapCardinality(s)) FROM (SELECT tenant_id, groupBitmapMergeState(people) AS s "
        "FROM {t} WHERE event != '' GROUP BY tenant_id, event, hour) GROUP BY tenant_id",
        "SELECT tenant_id, uniqExact(event, toStartOfHour(timestamp), person_key) FROM {events} "
        "WHERE {slice} GROUP BY tenant_id",
    ),
    DerivedCheck(
        "person_hours",
        "(hour, person) pairs (any-event rows)",
        "SELECT tenant_id, sum(bitmapCardinality(s)) FROM (SELECT tenant_id, groupBitmapMergeState(people) AS s "
        "FROM {t} WHERE event = '' GROUP BY tenant_id, hour) GROUP BY tenant_id",
        "SELECT tenant_id, uniqExact(toStartOfHour(timestamp), person_key) FROM {events} "
        "WHERE {slice} GROUP BY tenant_id",
    ),
    DerivedCheck(
        "person_ids",
        "ids of the people with events (one each)",
        "SELECT tenant_id, count() FROM (SELECT DISTINCT tenant_id, distinct_id, person_id FROM {t} "
        "WHERE distinct_id != '' AND (tenant_id, distinct_id) IN (SELECT tenant_id, distinct_id FROM {events})) "
        "GROUP BY tenant_id",
        "SELECT tenant_id, uniqExact(distinct_id) FROM {events} WHERE {slice} GROUP BY tenant_id",
        WHOLE,
    ),
    DerivedCheck(
        "person_ids",
        "distinct ids (none shared by two people)",
        "SELECT tenant_id, uniqExact(person_id) FROM {t} WHERE distinct_id != '' GROUP BY tenant_id",
        "SELECT tenant_id, uniqExact(distinct_id) FROM {t} WHERE distinct_id != '' AND {slice} GROUP BY tenant_id",
        WHOLE,
    ),
    # The property rollup (migration 1820): every event has one row per column the view reads (unset
    # values too), so each tenant's count is its events times the columns in the table. A column
    # whose backfill runs meanwhile has part of its rows: run verify when no backfill runs.
    DerivedCheck(
        "metrics_by_property",
        "events x materialized string columns",
        "SELECT tenant_id, sum(events) FROM {t} GROUP BY tenant_id",
        "SELECT tenant_id, count() * (SELECT uniqExact(property) FROM {t}) FROM {events} WHERE {slice} "
        "GROUP BY tenant_id",
    ),
    DerivedCheck(
        "metrics_by_property_days",
        "events x materialized string columns",
        "SELECT tenant_id, sum(events) FROM {t} GROUP BY tenant_id",
        "SELECT tenant_id, count() * (SELECT uniqExact(property) FROM {t}) FROM {events} WHERE {slice} "
        "GROUP BY tenant_id",
    ),
    # The taxonomy's property keys (migration 1700): one count per (event, JSON path) of each event.
    DerivedCheck(
        "taxonomy_properties",
        "(event, property) occurrences",
        "SELECT tenant_id, sum(events) FROM {t} GROUP BY tenant_id",
        "SELECT tenant_id, count() FROM (SELECT tenant_id, properties FROM {events} WHERE {slice}) "
        "ARRAY JOIN JSONAllPaths(properties) AS k GROUP BY tenant_id",
    ),
)


@dataclass(frozen=True)
class Mismatch:
    tenant_id: str
    table: str
    figure: str
    derived: int
    raw: int

    def describe(self) -> str:
        return f"{self.tenant_id}: {self.table} {self.figure} = {self.derived}, events say {self.raw}"


def check_derived(warehouse: Warehouse) -> list[Mismatch]:
    """Every disagreement between a derived table and `events`, and every event stored twice.
    `events` is read by month partition where the figure adds up over months."""
    scope = warehouse.platform(VERIFY_REASON)
    events = warehouse.table("events")
    slices = {MONTH: month_slices(warehouse), WHOLE: ["1"]}
    found: list[Mismatch] = []
    for check in DERIVED_CHECKS:
        derived = _per_tenant(
            scope.query(
                check.derived.format(t=warehouse.table(check.table), events=events), settings=VERIFY_SETTINGS
            ).rows
        )
        raw: dict[str, int] = {}
        for condition in slices[check.sliced]:
            sql = check.raw.format(t=warehouse.table(check.table), events=events, slice=condition)
            for tenant, value in _per_tenant(scope.query(sql, settings=VERIFY_SETTINGS).rows).items():
                raw[tenant] = raw.get(tenant, 0) + value
        for tenant in sorted(derived.keys() | raw.keys()):
            if derived.get(tenant, 0) != raw.get(tenant, 0):
                found.append(Mismatch(tenant, check.table, check.figure, derived.get(tenant, 0), raw.get(tenant, 0)))
    # A repeated event has the same timestamp: the rows of one id are in one month.
    extra: dict[str, int] = {}
    distinct: dict[str, int] = {}
    for condition in slices[MONTH]:
        for tenant, more, ids in scope.query(
            f"SELECT tenant_id, count() - uniqExact(event_id), uniqExact(event_id) FROM {events} "
            f"WHERE {condition} GROUP BY tenant_id",
            settings=VERIFY_SETTINGS,
        ).rows:
            extra[str(tenant)] = extra.get(str(tenant), 0) + int(more)
            distinct[str(tenant)] = distinct.get(str(tenant), 0) + int(ids)
    for tenant in sorted(extra):
        if extra[tenant]:
            found.append(Mismatch(tenant, "events", "rows", distinct[tenant] + extra[tenant], distinct[tenant]))
    return found


def month_slices(warehouse: Warehouse) -> list[str]:
    """One condition per month from the oldest partition of `events` to the newest (each reads its
    partition only), and one for the rows before or after them (a partition made meanwhile), so
    that no row is left out."""
    oldest, newest = (
        warehouse.platform(VERIFY_REASON)
        .query(
            "SELECT min(toUInt32OrZero(partition)), max(toUInt32OrZero(partition)) FROM system.parts "
            "WHERE database = {db:String} AND table = 'events' AND active AND toUInt32OrZero(partition) > 0",
            {"db": warehouse.database},
        )
        .rows[0]
    )
    if not oldest:
        return ["1"]
    months, month = [], int(oldest)
    while month <= int(newest):
        months.append(month)
        month = month + 1 if month % 100 < 12 else (month // 100 + 1) * 100 + 1
    outside = f"(toYYYYMM(timestamp) < {months[0]} OR toYYYYMM(timestamp) > {months[-1]})"
    return [f"toYYYYMM(timestamp) = {m}" for m in months] + [outside]


def events_table_exists(warehouse: Warehouse) -> bool:
    """False before the first migration (nothing to compare yet)."""
    found = warehouse.platform(VERIFY_REASON).query(
        "SELECT count() FROM system.tables WHERE database = {db:String} AND name = 'events'",
        {"db": warehouse.database},
    )
    return bool(found.scalar())


def derived_tables(warehouse: Warehouse) -> dict[str, str]:
    """{materialized view: its target table} for every view that reads `events`, directly or through
    another view's target (the monthly rollup reads the hourly one)."""
    rows = (
        warehouse.platform(VERIFY_REASON)
        .query(
            "SELECT name, create_table_query FROM system.tables "
            "WHERE database = {db:String} AND engine = 'MaterializedView'",
            {"db": warehouse.database},
        )
        .rows
    )
    views: dict[str, str] = {}
    for name, create in rows:
        target = str(create).split(" TO ", 1)[1].split()[0].split(".")[-1].strip("`")
        views[str(name)] = target
    return views


def _per_tenant(rows: list[tuple[Any, ...]]) -> dict[str, int]:
    return {str(tenant): int(value) for tenant, value in rows}
