"""The property rollup `metrics_by_property` (warehouse migration 1820): its view, its backfill and
the SQL every writer of it shares (the view, the backfill, erasure and journal replays).

One row per (tenant, materialized string column, event, UTC hour, is_set, value): the event count and
`uniqCombinedState(14)(distinct_id)`, the sketch of `metrics_daily`. `value` is `ifNull(column, '')`
and `is_set` whether the column is not NULL, so every filter of `insights/filters.py` on the column
that depends on the value alone (`eq`, `neq`, `in`, `is_set`, `is_not_set`) and a breakdown by it
(unset events in the '' bucket) select whole rows.

The view reads the materialized columns of `events` admitted to it (computed at insert, in the same
block; the service admits at most `property_rollup_max_columns`, each under the cardinality gate of
`max_values`: issue 18 bound), so it must name only columns `events` has: it is created again, with
inserts held, whenever one is admitted (before its backfill) or dropped (before the `DROP COLUMN`: a
view naming a missing column would fail every insert). Only string columns (`mp_s_...`) join it:
number columns (amounts, prices) have too many values to pre-aggregate by value.

A column's rows of the events stored before it joined the view are computed per month partition
(`backfill`): with inserts held, the partition is rebuilt beside the table with the column's rows
computed from `events` and swapped in (lifecycle/swap.py), so a repeat (a job run again after a kill)
gives the same rows, and an insert never lands between the copy and the swap. When every partition is
done the column is listed in `metrics_by_property_columns`, and only then does the planner serve it.

Cross-tenant platform work (the table and view hold every tenant's rows), hence `warehouse.platform`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from datetime import date
from typing import TYPE_CHECKING, Any

import structlog

from analytics_engine.lifecycle.derived import FRESH, UNLIMITED, pairs_condition
from analytics_engine.lifecycle.swap import swap_partitions
from analytics_engine.materialized.rollup_sql import (
    COVERED,
    DAYS,
    STRING_COLUMN,
    TABLE,
    VIEW,
    VIEW_COLUMNS_SQL,
    columns_in_view,
    days_insert_sql,
    insert_sql,
    rollup_columns,
    select_sql,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from analytics_engine.warehouse.client import Warehouse
    from analytics_engine.warehouse.scoped import PlatformScope

log = structlog.get_logger(__name__)

REASON = "property rollup: the view over the materialized columns of events and its backfill (all tenants)"


class PropertyRollup:
    """The view and the backfill of `metrics_by_property` (one per process; all tenants)."""

    def __init__(self, warehouse: Warehouse, hold: Callable[[str], AbstractContextManager[Any]] | None = None) -> None:
        self.warehouse = warehouse
        self.scope = warehouse.platform(REASON)
        self.events = warehouse.table("events")
        self.table = warehouse.table(TABLE)
        # Holds this process's inserts into `events` (EventWriter.exclusive) while the view changes
        # or a partition is swapped; None where nothing inserts (tests, CLI tools).
        self.hold = hold or (lambda reason: nullcontext())
        self._covered: tuple[float, frozenset[str]] = (0.0, frozenset())

    # --- the view ------------------------------------------------------------------------------------
    def events_columns(self) -> list[str]:
        sql = "SELECT name FROM system.columns WHERE database = {db:String} AND table = 'events'"
        return rollup_columns(str(r[0]) for r in self.scope.query(sql, {"db": self.warehouse.database}).rows)

    def view_columns(self) -> list[str] | None:
        """The columns the view reads now (None: no view)."""
        rows = self.scope.query(
            "SELECT create_table_query FROM system.tables WHERE database = {db:String} AND name = {v:String}",
            {"db": self.warehouse.database, "v": VIEW},
        ).rows
        return columns_in_view(str(rows[0][0])) if rows else None

    def sync_view(self, columns: Sequence[str] | None = None, *, without: Sequence[str] = ()) -> list[str]:
        """Make the view read `columns` (those `events` has; None: every materialized string column),
        less `without` (a column about to be dropped); nothing when it does already. Inserts are held
        while it changes: an insert between the DROP and the CREATE would leave no rows here. The
        service passes the columns admitted to the rollup (issue 18 bound: cap and cardinality gate)."""
        present = self.events_columns()
        chosen = present if columns is None else [c for c in present if c in set(columns)]
        wanted = [c for c in chosen if c not in without]
        if self.view_columns() == wanted:
            return wanted
        with self.hold("property rollup: the view over the materialized columns changes"):
            self.scope.command(f"DROP VIEW IF EXISTS {self.warehouse.table(VIEW)}")
            # With no column the view stays, reading none (as migration 1822 makes it).
            self.scope.command(
                f"CREATE MATERIALIZED VIEW {self.warehouse.table(VIEW)} TO {self.table} AS "
                + select_sql(self.events, wanted)
            )
        log.info("materialized.rollup_view", columns=wanted)
        return wanted

    def max_values(self, column: str) -> int:
        """The largest number of distinct set values of the column in one (tenant, event, UTC hour) of
        the stored events: about the rollup rows one hour of one event adds per column (issue 18 gate).
        One scan of the column, like the backfill that follows it."""
        if not STRING_COLUMN.match(column):
            raise ValueError(f"not a materialized string column: {column!r}")
        sql = (
            f"SELECT max(n) FROM (SELECT uniqExact(`{column}`) AS n FROM {self.events} "
            "GROUP BY tenant_id, event, toStartOfHour(timestamp))"
        )
        return int(self.scope.query(sql, settings=UNLIMITED).scalar() or 0)

    def grown(self, limit: int, days: int = 7) -> dict[str, int]:
        """The rolled-up columns that now have more than `limit` distinct values in one (tenant, event,
        UTC hour) of the last `days` days, with that largest figure: the gate is measured once, at the
        backfill, so growth later is only reported (start-up log). Reads the rollup itself (small)."""
        sql = (
            f"SELECT property, max(n) FROM (SELECT property, uniqExactIf(value, is_set = 1) AS n FROM {self.table} "
            "WHERE hour >= now() - toIntervalDay({days:UInt32}) GROUP BY tenant_id, property, event, hour) "
            "GROUP BY property HAVING max(n) > {limit:UInt64} ORDER BY property"
        )
        rows = self.scope.query(sql, {"days": days, "limit": limit}, settings=UNLIMITED).rows
        return {str(r[0]): int(r[1]) for r in rows}

    # --- backfill ------------------------------------------------------------------------------------
    def months(self) -> list[str]:
        """The month partitions of `events` (toYYYYMM of the timestamp), oldest first."""
        rows = self.scope.query(
            "SELECT DISTINCT partition FROM system.parts WHERE database = {db:String} AND table = 'events' AND active",
            {"db": self.warehouse.database},
            settings=UNLIMITED,
        ).rows
        return sorted(str(r[0]) for r in rows if str(r[0]).isdigit())

    def backfill(self, column: str, progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
        """The column's rows computed from `events` for every month, each month's partition swapped in
        with inserts held; then the column is listed as covered. Safe to run again."""
        if not STRING_COLUMN.match(column):
            raise ValueError(f"not a materialized string column: {column!r}")
        started = time.monotonic()
        months = self.months()
        held = 0.0
        for done, month in enumerate(months):
            with self.hold("property rollup: backfill of one month of a column"):
                moment = time.monotonic()
                swap_partitions(
                    self.scope,
                    self.table,
                    [month],
                    "property != {column:String}",
                    [insert_sql("{stage}", self.events, [column], "toYYYYMM(timestamp) = {month:UInt32}") + FRESH],
                    {"column": column, "month": int(month)},
                )
                # The day rows of the month from the new hour rows (a swap fires no view).
                swap_partitions(
                    self.scope,
                    self.warehouse.table(DAYS),
                    [month],
                    "property != {column:String}",
                    [
                        days_insert_sql(
                            "{stage}", self.table, "property = {column:String} AND toYYYYMM(hour) = {month:UInt32}"
                        )
                        + FRESH
                    ],
                    {"column": column, "month": int(month)},
                )
                held = max(held, time.monotonic() - moment)
            if progress is not None:
                progress(done + 1, len(months))
        self.scope.command(f"INSERT INTO {self.warehouse.table(COVERED)} VALUES ({{c:String}}, now())", {"c": column})
        self._covered = (0.0, frozenset())
        seconds = round(time.monotonic() - started, 3)
        log.info("materialized.rollup_backfilled", column=column, months=len(months), seconds=seconds)
        return {"months": len(months), "seconds": seconds, "longest_hold_seconds": round(held, 3)}

    def forget(self, column: str) -> None:
        """A column leaving `events`: not served any more, its rows go (the view no longer has it)."""
        self.scope.command(
            f"ALTER TABLE {self.warehouse.table(COVERED)} DELETE WHERE property = {{c:String}} "
            "SETTINGS mutations_sync = 2",
            {"c": column},
        )
        self._covered = (0.0, frozenset())
        for table in (self.table, self.warehouse.table(DAYS)):
            self.scope.command(
                f"DELETE FROM {table} WHERE property = {{c:String}} SETTINGS lightweight_deletes_sync = 2",
                {"c": column},
            )

    def covered(self, ttl_seconds: float = 5.0) -> frozenset[str]:
        """The columns whose rollup rows are complete (kept `ttl_seconds` in this process)."""
        now = time.monotonic()
        if self._covered[0] > now:
            return self._covered[1]
        rows = self.scope.query(f"SELECT DISTINCT property FROM {self.warehouse.table(COVERED)} FINAL").rows
        columns = frozenset(str(r[0]) for r in rows)
        self._covered = (now + ttl_seconds, columns)
        return columns


def replace_day_rows(platform: PlatformScope, tenant_id: str, days: Sequence[tuple[str, date]]) -> None:
    """The tenant's rollup rows of these (event, UTC day) pairs computed again from `events`, partition
    by partition (lifecycle/swap.py; an erasure, beside `replace_day_buckets` of the other rollups).
    Run with inserts held: an insert landing between the copy and the swap would be lost."""
    if not days:
        return
    rows = platform.query(VIEW_COLUMNS_SQL, {"db": platform.database, "v": VIEW}).rows
    columns = columns_in_view(str(rows[0][0])) if rows else []
    mine = "tenant_id = {tenant_id:String}"
    fills = []
    if columns:
        where = f"{mine} AND {pairs_condition('event', 'toDate(timestamp)')}"
        fills.append(insert_sql("{stage}", platform.table("events"), columns, where) + FRESH)
    months = sorted({f"{d.year:04d}{d.month:02d}" for _, d in days})
    params: dict[str, Any] = {"tenant_id": tenant_id, "days": [(e, d) for e, d in days]}
    hours = platform.table(TABLE)
    swap_partitions(
        platform, hours, months, f"NOT ({mine} AND {pairs_condition('event', 'toDate(hour)')})", fills, params
    )
    # The day rows of those days from the new hour rows (what metrics_by_property_days_mv would write).
    day_fill = days_insert_sql("{stage}", hours, f"{mine} AND {pairs_condition('event', 'toDate(hour)')}") + FRESH
    swap_partitions(
        platform,
        platform.table(DAYS),
        months,
        f"NOT ({mine} AND {pairs_condition('event', 'day')})",
        [day_fill],
        params,
    )
