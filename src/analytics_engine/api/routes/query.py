"""Restricted ad-hoc SQL: `POST /v1/query`, `POST /v1/query/explain`, `GET /v1/query/tables` (docs/sql.md).
Thin: the body is validated here, the guard and the tenant scope do the rest (analytics_engine/query)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field, JsonValue

from analytics_engine.api.deps import ReadTenant, RuntimeDep
from analytics_engine.query.guard import MAX_SQL_CHARS
from analytics_engine.query.service import (
    MAX_LIMIT,
    SqlExplain,
    SqlResult,
    catalogue_for,
    explain_restricted_sql,
    run_restricted_sql,
)

router = APIRouter(prefix="/v1/query", tags=["sql"])

_EXAMPLE_SQL = "SELECT event, count() AS n FROM events GROUP BY event ORDER BY n DESC"
_EXAMPLE: dict[str, JsonValue] = {"sql": _EXAMPLE_SQL, "limit": 100}
_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {
        "description": "`sql_not_allowed` (details: `reason`, `position` {line, column, offset}), "
        "`sql_syntax_error` (details: `position`), or `sql_error` (ClickHouse refused the query: an unknown "
        "column, a type mismatch; details: `clickhouse_code`)."
    },
    422: {"description": '`invalid_input`: the body is not `{"sql": "...", "limit": n}` or `limit` is out of range.'},
    429: {
        "description": "`budget_exceeded`: over the tenant's query budget (concurrency, seconds a day, rows, bytes)."
    },
    504: {"description": "`query_timeout`: the query ran past the tenant's time limit."},
}


class SqlRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [_EXAMPLE]})

    sql: str = Field(min_length=1, max_length=MAX_SQL_CHARS, description="One SELECT (or UNION ...) statement.")
    limit: int | None = Field(
        None, ge=1, le=MAX_LIMIT, description="Rows returned at most (default 1,000); more: `truncated: true`."
    )


class SqlExplainRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"sql": _EXAMPLE_SQL}]})

    sql: str = Field(min_length=1, max_length=MAX_SQL_CHARS)
    limit: int | None = Field(None, ge=1, le=MAX_LIMIT, description="Accepted for symmetry; not used.")


class SqlTableColumn(BaseModel):
    name: str
    type: str
    description: str = ""


class SqlTable(BaseModel):
    name: str
    description: str
    columns: list[SqlTableColumn]


class SqlTables(BaseModel):
    tables: list[SqlTable]


@router.post("", response_model=SqlResult, responses=_ERRORS, summary="Run a read-only SQL query on this tenant's data")
def post_query(body: SqlRequest, tenant: ReadTenant, runtime: RuntimeDep) -> SqlResult:
    """Run one SELECT over the tenant's tables (`events`, `persons`, `person_properties`, `cohort_users`,
    `metrics_daily`, `metrics_monthly` and synced tables; `GET /v1/query/tables` lists them with their
    columns). Every table shows this tenant's rows only and has no tenant column. Table functions,
    system tables, other databases, SETTINGS, FORMAT and INTO are refused, and functions come from an
    allowlist (docs/sql.md). At most `limit` rows come back; `truncated` says when more matched."""
    return run_restricted_sql(runtime, tenant, body.sql, body.limit)


@router.post(
    "/explain",
    response_model=SqlExplain,
    responses=_ERRORS,
    summary="ClickHouse's plan of a SQL query and the rows it expects to read",
)
def post_explain(body: SqlExplainRequest, tenant: ReadTenant, runtime: RuntimeDep) -> SqlExplain:
    """The same guard as `POST /v1/query`, then `EXPLAIN PLAN` and `EXPLAIN ESTIMATE` of the guarded
    query: the plan's lines and the rows ClickHouse expects to read per table. Nothing is read."""
    return explain_restricted_sql(runtime, tenant, body.sql)


@router.get(
    "/tables",
    response_model=SqlTables,
    responses={
        401: {"description": "`unauthorized`: no key or an unknown key."},
        403: {"description": "`forbidden`: the key lacks the read scope."},
    },
    summary="The tables and columns SQL queries can read",
)
def get_tables(tenant: ReadTenant, runtime: RuntimeDep) -> SqlTables:
    """Every table a query may name, with its columns and ClickHouse types."""
    return SqlTables.model_validate({"tables": catalogue_for(runtime, tenant).describe()})
