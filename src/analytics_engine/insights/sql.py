"""The `sql` insight kind: a saved restricted SQL query (analytics_engine/query) used like any insight.

    {"kind": "sql", "sql": "SELECT toDate(timestamp) AS day, count() AS events FROM events GROUP BY day",
     "limit": 1000}

Saved as a metric, it goes on dashboards, into exports and reports (and alerts) like the other kinds.
Its answer is a table (`columns`, `rows`, `truncated`); when the result has a time column and numeric
columns it is also a line chart (one line per numeric column over the time column), and a text column
with numeric columns is a bar chart. Those charts are also in `series`, so every chart reader draws
them. The query is fixed: a dashboard's or report's period, filters and breakdowns do not change it
(`accepts` is empty). Answers are cached like other insights until the tenant's data changes.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any, Literal

import orjson
from pydantic import Field, field_validator

from analytics_engine.insights.base import answer_cache_key
from analytics_engine.insights.context import RunContext
from analytics_engine.insights.filters import Strict
from analytics_engine.insights.results import ChartSpec, Point, Series, SeriesResult, Table
from analytics_engine.query.errors import SqlNotAllowed, SqlSyntaxError
from analytics_engine.query.guard import MAX_SQL_CHARS
from analytics_engine.query.service import MAX_LIMIT, SqlColumn, precheck_sql, run_restricted_sql

_TIME_TYPES = ("Date", "DateTime")
_NUMBER_TYPES = ("Int", "UInt", "Float", "Decimal")
MAX_CHART_LINES = 8


class SqlQuery(Strict):
    kind: Literal["sql"] = "sql"
    sql: str = Field(min_length=1, max_length=MAX_SQL_CHARS, description="One SELECT over the tenant tables.")
    limit: int = Field(1_000, ge=1, le=MAX_LIMIT, description="Rows kept at most (`truncated` says more matched).")

    @field_validator("sql")
    @classmethod
    def _allowed(cls, sql: str) -> str:
        # refused SQL is refused when saved (a 422 on `sql`), not at the first dashboard render
        try:
            precheck_sql(sql)
        except (SqlNotAllowed, SqlSyntaxError) as exc:
            raise ValueError(exc.message) from None
        return sql


def _base_type(type_name: str) -> str:
    for wrapper in ("Nullable(", "LowCardinality("):
        while type_name.startswith(wrapper):
            type_name = type_name[len(wrapper) : -1]
    return type_name


def is_time(column: SqlColumn) -> bool:
    return _base_type(column.type).startswith(_TIME_TYPES)


def is_number(column: SqlColumn) -> bool:
    return _base_type(column.type).startswith(_NUMBER_TYPES)


class SqlResult(SeriesResult):
    """A SQL answer: the result table, and a chart when its columns make one."""

    columns: list[SqlColumn] = Field(default_factory=list)
    rows: list[list[Any]] = Field(default_factory=list)
    truncated: bool = False
    sql_limit: int = Field(1_000, description="The `limit` the query ran with.")

    def to_tables(self, title: str) -> list[Table]:
        return [Table(title, [c.name for c in self.columns], [list(row) for row in self.rows])]

    def to_chart(self, max_lines: int = MAX_CHART_LINES) -> ChartSpec:
        if not self.series:
            return ChartSpec("empty")
        return super().to_chart(max_lines)


def chart_series(columns: list[SqlColumn], rows: list[list[Any]]) -> list[Series]:
    """One series per numeric column over the first time column (or the first text column, as bars)."""
    numbers = [i for i, c in enumerate(columns) if is_number(c)]
    axis = next((i for i, c in enumerate(columns) if is_time(c)), None)
    if axis is None:
        axis = next((i for i, c in enumerate(columns) if not is_number(c)), None)
    if axis is None or not numbers:
        return []
    out = []
    for index in numbers[:MAX_CHART_LINES]:
        points = [Point(label=str(row[axis]), value=_float(row[index]), bucket=str(row[axis])) for row in rows]
        out.append(Series(label=columns[index].name, points=points, total=sum(p.value or 0 for p in points)))
    return out


def _float(value: Any) -> float | None:
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None


def _time_range(columns: list[SqlColumn], rows: list[list[Any]], now: datetime) -> tuple[datetime, datetime]:
    axis = next((i for i, c in enumerate(columns) if is_time(c)), None)
    moments = [_moment(row[axis]) for row in rows] if axis is not None else []
    found = [m for m in moments if m is not None]
    return (min(found), max(found)) if found else (now, now)


def _moment(value: Any) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(str(value)) if not isinstance(value, datetime | date) else value
    except ValueError:
        return None
    if not isinstance(parsed, datetime):
        parsed = datetime(parsed.year, parsed.month, parsed.day)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def run_sql(ctx: RunContext, model: SqlQuery) -> SqlResult:
    """Compute (or read from the cache) a saved SQL query's answer for the context's tenant."""
    from analytics_engine.cache import result_ttl

    runtime, tenant = ctx.runtime, ctx.tenant
    tenant_id = tenant if isinstance(tenant, str) else tenant.tenant_id
    cache = runtime.cache
    key = answer_cache_key(runtime, tenant_id, {"kind": "sql", "query": model.model_dump(mode="json")})
    hit = None if ctx.refresh else cache.get(key)
    if hit is not None:
        answer = SqlResult.model_validate_json(hit)
        answer.cached = True
        return answer
    now = datetime.now(UTC)
    result = run_restricted_sql(runtime, tenant, model.sql, model.limit)
    start, end = _time_range(result.columns, result.rows, now)
    answer = SqlResult(
        kind="sql",
        timezone="UTC",
        date_from=start,
        date_to=end,
        computed_at=now,
        columns=result.columns,
        rows=result.rows,
        truncated=result.truncated,
        sql_limit=result.limit,
        series=chart_series(result.columns, result.rows),
    )
    answer.timing.sql_ms = result.elapsed_ms
    answer.timing.queries = 1
    answer.timing.total_ms = (datetime.now(UTC) - now).total_seconds() * 1000
    cache.set(key, orjson.dumps(answer.model_dump(mode="json")), ttl_seconds=result_ttl(runtime.settings, None, now))
    return answer
