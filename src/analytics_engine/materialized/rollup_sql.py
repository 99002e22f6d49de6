"""The SQL of the property rollup `metrics_by_property` (warehouse migration 1820) that every writer of
it shares: its view, the backfill (materialized/rollup.py), the rebuild of derived rows after a journal
replay or a removal (lifecycle/derived.py) and the erasure's partition swap. Pure: no I/O."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

TABLE = "metrics_by_property"
DAYS = "metrics_by_property_days"  # fed from TABLE by metrics_by_property_days_mv (migration 1821)
VIEW = "metrics_by_property_mv"
COVERED = "metrics_by_property_columns"
EMPTY_PAIRS = "CAST([], 'Array(Tuple(String, String, UInt8))')"
STRING_COLUMN = re.compile(r"^mp_s_[a-z0-9_]{1,80}$")


def rollup_columns(columns: Iterable[str]) -> list[str]:
    """The columns of `events` the view reads: the materialized string columns, in a stable order."""
    return sorted(c for c in columns if STRING_COLUMN.match(c))


def pairs_sql(columns: Sequence[str]) -> str:
    """One (column name, value, is_set) tuple per column: what the view's ARRAY JOIN spreads."""
    for column in columns:
        if not STRING_COLUMN.match(column):
            raise ValueError(f"not a materialized string column: {column!r}")
    if not columns:  # the view with no column (migration 1822): it writes nothing
        return EMPTY_PAIRS
    items = ", ".join(f"('{c}', ifNull(`{c}`, ''), toUInt8(`{c}` IS NOT NULL))" for c in columns)
    return f"[{items}]"


def select_sql(events: str, columns: Sequence[str], where: str = "") -> str:
    """The view's SELECT over `events` (the rows matching `where`, when given) for these columns."""
    condition = f"WHERE {where} " if where else ""
    return (
        "SELECT tenant_id, event, toStartOfHour(timestamp) AS hour, p.1 AS property, p.2 AS value, p.3 AS is_set, "
        f"count() AS events, uniqCombinedState(14)(distinct_id) AS users FROM {events} "
        f"ARRAY JOIN {pairs_sql(columns)} AS p {condition}"
        "GROUP BY tenant_id, event, hour, property, value, is_set"
    )


def insert_sql(target: str, events: str, columns: Sequence[str], where: str = "") -> str:
    """INSERT of the view's rows for the events matching `where` into `target` (the caller adds SETTINGS)."""
    return (
        f"INSERT INTO {target} (tenant_id, event, hour, property, value, is_set, events, users) "
        f"{select_sql(events, columns, where)} "
    )


def days_insert_sql(target: str, hours: str, where: str) -> str:
    """What metrics_by_property_days_mv writes for the hour rows matching `where`, into `target` (for a
    partition swap, where no view fires; the caller adds SETTINGS)."""
    return (
        f"INSERT INTO {target} SELECT tenant_id, property, event, toDate(hour) AS day, is_set, value, sum(events), "
        f"uniqCombinedMergeState(14)(users) FROM {hours} WHERE {where} "
        "GROUP BY tenant_id, property, event, day, is_set, value "
    )


VIEW_COLUMNS_SQL = "SELECT create_table_query FROM system.tables WHERE database = {db:String} AND name = {v:String}"


def columns_in_view(create_query: str) -> list[str]:
    """The columns a CREATE statement of the view reads (its ARRAY JOIN tuples name them)."""
    return sorted(set(re.findall(r"\('(mp_s_[a-z0-9_]+)'", create_query)))
