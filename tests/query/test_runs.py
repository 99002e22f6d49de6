"""Everything the guard accepts runs in ClickHouse, for the caller's rows only; and the settings the
service adds hold on their own (read-only: a table function is refused by ClickHouse itself)."""

from __future__ import annotations

from typing import Any

import pytest

from analytics_engine.errors import AppError
from analytics_engine.query.service import query_settings, run_restricted_sql
from tests.query.support import Pair, make_pair
from tests.query.test_guard_bypasses import ACCEPTED


@pytest.fixture(scope="module")
def pair(runtime: Any) -> Pair:
    return make_pair(runtime)


@pytest.mark.parametrize("sql", ACCEPTED)
def test_accepted_queries_run_for_the_caller_only(runtime: Any, pair: Pair, sql: str) -> None:
    result = run_restricted_sql(runtime, pair.a, sql, limit=1000)
    assert pair.mark_b not in repr(result.rows)
    assert pair.a.tenant_id not in repr(result.rows) or "tenant_id" in sql


def test_escaped_quote_stays_a_string(runtime: Any, pair: Pair) -> None:
    sql = "SELECT count() FROM events WHERE event = '\\' UNION ALL SELECT name FROM system.users --'"
    assert run_restricted_sql(runtime, pair.a, sql).rows == [[0]]


def test_readonly_refuses_table_functions_even_past_the_guard(runtime: Any, pair: Pair) -> None:
    scope = runtime.warehouse.for_tenant(pair.a)
    with pytest.raises(AppError):
        scope.query(
            "SELECT * FROM file('/etc/passwd', 'LineAsString') WHERE {tenant_id:String} != ''",
            {},
            settings=query_settings(10, runtime.settings, "test"),
        )


def test_limit_setting_caps_unions_and_subqueries(runtime: Any, pair: Pair) -> None:
    result = run_restricted_sql(
        runtime, pair.a, "SELECT timestamp FROM events UNION ALL SELECT timestamp FROM events", limit=40
    )
    assert len(result.rows) == 40 and result.truncated
    inner = run_restricted_sql(runtime, pair.a, "SELECT count() FROM (SELECT * FROM events)", limit=1)
    assert inner.rows == [[30]] and not inner.truncated


@pytest.mark.parametrize("text", ["{tenant_id:String}", "%(tenant_id)s", "{tenant_id: String}", "$$x$$", "?"])
def test_parameter_syntax_inside_a_literal_stays_text(runtime: Any, pair: Pair, text: str) -> None:
    literal = "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"
    result = run_restricted_sql(runtime, pair.a, f"SELECT {literal} AS v, count() FROM events")
    assert result.rows == [[text, 30]]
