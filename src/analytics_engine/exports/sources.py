"""From an export source to something the writers can stream: a tenant-bound SQL plan for raw
events (streamed in blocks, never held in memory), or result tables for insight, metric and
dashboard sources (already aggregated, small)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from analytics_engine.exports.schemas import EventsSource
from analytics_engine.insights.results import Table as ResultTable
from analytics_engine.properties import property_expr
from analytics_engine.warehouse.params import utc_text


@dataclass
class Column:
    name: str
    sql: str  # as ClickHouse writes it into CSV/JSON text formats
    kind: str = "string"  # string | timestamp | json: how the block path converts it
    block_sql: str | None = None  # cheaper expression for the block path (decoded in Python)


# Built-in columns. On the block path a timestamp travels as epoch milliseconds (an Int64 is far
# cheaper to decode than a datetime object) and an UUID as text.
BUILTIN = {
    "timestamp": Column("timestamp", "timestamp", "timestamp", "toUnixTimestamp64Milli(timestamp)"),
    "received_at": Column("received_at", "received_at", "timestamp", "toUnixTimestamp64Milli(received_at)"),
    "event": Column("event", "toString(event)"),
    "distinct_id": Column("distinct_id", "distinct_id"),
    "event_id": Column("event_id", "toString(event_id)"),
    "properties": Column("properties", "toJSONString(properties)", "json"),
}


@dataclass
class SqlPlan:
    """A SELECT over this tenant's events; `{tenant_id:String}` is bound by the tenant scope."""

    columns: list[Column]
    where: str
    params: dict[str, Any]
    order_by: str = ""
    limit: int | None = None
    # What the SELECT reads instead of `events` when the range reaches the cold tier (both tiers,
    # lifecycle/reads.py); None: the hot table.
    table: str | None = None

    def select(self, table: str, *, block: bool = False, native_json: bool = False) -> str:
        """Filtering, order and limit in an inner query, the column expressions outside it: an
        output alias (`timestamp` as epoch milliseconds) can then never change what WHERE means."""
        parts = []
        for column in self.columns:
            expression = column.sql
            if block and column.block_sql:
                expression = column.block_sql
            if native_json and column.kind == "json":
                expression = "properties"
            parts.append(f"{expression} AS `{column.name}`")
        inner = f"SELECT * FROM {table} WHERE {self.where}"
        if self.order_by:
            inner += f" ORDER BY {self.order_by}"
        if self.limit:
            inner += f" LIMIT {int(self.limit)}"
        return f"SELECT {', '.join(parts)} FROM ({inner})"

    def count_sql(self, table: str) -> str:
        sql = f"SELECT count() FROM {table} WHERE {self.where}"
        if self.limit:
            sql = f"SELECT least(({sql}), {int(self.limit)})"
        return sql

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]


@dataclass
class TablePlan:
    tables: list[ResultTable] = field(default_factory=list)
    # What the tables hold, for the file's name: the dashboard, metric or insight, and the range.
    name: str = ""
    date_from: datetime | None = None
    date_to: datetime | None = None

    @property
    def names(self) -> list[str]:
        return self.tables[0].columns if self.tables else []

    def total_rows(self) -> int:
        return sum(len(t.rows) for t in self.tables)


def events_plan(source: EventsSource, *, default_end: datetime | None) -> SqlPlan:
    columns = []
    for name in source.columns:
        if name in BUILTIN:
            columns.append(BUILTIN[name])
        else:
            path = name.removeprefix("properties.")
            columns.append(Column(name, f"CAST({property_expr(path)} AS Nullable(String))"))
    conditions = ["tenant_id = {tenant_id:String}"]
    params: dict[str, Any] = {}
    if source.events:
        conditions.append("event IN {events:Array(String)}")
        params["events"] = list(source.events)
    if source.start:
        conditions.append("timestamp >= {start:DateTime64(3, 'UTC')}")
        params["start"] = utc_text(source.start)
    end = source.end or default_end
    if end:
        conditions.append("timestamp < {end:DateTime64(3, 'UTC')}")
        params["end"] = utc_text(end)
    for number, condition in enumerate(source.where):
        value = condition.value
        text = ("true" if value else "false") if isinstance(value, bool) else str(value)
        conditions.append(f"CAST({property_expr(condition.property)} AS Nullable(String)) = {{p{number}:String}}")
        params[f"p{number}"] = text
    return SqlPlan(
        columns=columns,
        where=" AND ".join(conditions),
        params=params,
        order_by="timestamp" if source.order_by_time else "",
        limit=source.limit,
    )


def file_name(plan: SqlPlan | TablePlan, extension: str) -> str:
    """A download's name after what it holds and its range, in safe characters:
    `weekly-kpis_2026-11-01_to_2026-11-30.xlsx`, `events_2026-11-01_to_2026-12-07.csv`."""
    if isinstance(plan, TablePlan):
        what, start, end = plan.name or "export", plan.date_from, plan.date_to
    else:
        what = "events"
        start = datetime.fromisoformat(plan.params["start"]) if "start" in plan.params else None
        end = datetime.fromisoformat(plan.params["end"]) if "end" in plan.params else None
    stem = safe_name(what)
    if start and end:
        stem += f"_{start:%Y-%m-%d}_to_{end:%Y-%m-%d}"
    elif end:
        stem += f"_to_{end:%Y-%m-%d}"
    return f"{stem}.{extension}"


def safe_name(text: str, limit: int = 80) -> str:
    """Letters, digits, `.`, `_` and `-` only (accents dropped, the rest a single `-`), never empty."""
    import re
    import unicodedata

    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    cleaned = re.sub(r"[^A-Za-z0-9._]+", "-", ascii_text).strip("-._").lower()
    return cleaned[:limit].rstrip("-._") or "export"


def iter_rows(table: ResultTable) -> Iterator[list[Any]]:
    yield from table.rows
