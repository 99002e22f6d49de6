"""Generated queries (hypothesis) against two tenants' data.

- Well-formed queries over the tenant tables are all accepted, all run, and return only the caller's
  rows (tenant B's mark never appears in tenant A's answer).
- Queries mixing in every kind of forbidden piece (other tables and databases, table functions,
  host and setting functions, clauses) are refused, or if the guard lets them through (a forbidden
  name inside a string literal, say), what comes back holds no other tenant's row, no system table,
  no setting and no file content.
- Any text as a string literal comes back from ClickHouse unchanged (sqlglot writes strings the way
  ClickHouse reads them: no quote or backslash can end a literal early).
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analytics_engine.errors import AppError
from analytics_engine.query.errors import SqlNotAllowed, SqlSyntaxError
from analytics_engine.query.guard import guard
from analytics_engine.query.service import SqlError, check_sql, run_restricted_sql
from tests.query.support import Pair, make_pair

pytestmark = pytest.mark.filterwarnings("ignore")
SLOW = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))

COLUMNS = {
    "events": ["event", "distinct_id", "timestamp", "person_key"],
    "persons": ["distinct_id", "first_seen", "last_seen", "event_count"],
    "cohort_users": ["cohort_id", "version", "distinct_id"],
    "metrics_daily": ["event", "hour", "events", "users"],
    "donations": ["id", "note", "amount"],
}
TEXT_COLUMNS = {"event", "distinct_id", "cohort_id", "note"}
AGGREGATES = ["count()", "uniq({c})", "any({c})", "min({c})", "max({c})", "countIf({c} IS NOT NULL)"]


@pytest.fixture(scope="module")
def pair(runtime: Any) -> Pair:
    return make_pair(runtime)


@st.composite
def well_formed(draw: st.DrawFn) -> str:
    table = draw(st.sampled_from(sorted(COLUMNS)))
    columns = COLUMNS[table]
    picked = draw(st.lists(st.sampled_from(columns), min_size=1, max_size=3, unique=True))
    alias = draw(st.sampled_from(["", " AS t", " t"]))
    prefix = "t." if alias else ""
    text_cols = [c for c in columns if c in TEXT_COLUMNS]
    where = ""
    if text_cols and draw(st.booleans()):
        column = draw(st.sampled_from(text_cols))
        value = draw(st.text(max_size=8)).replace("\\", "\\\\").replace("'", "\\'")
        where = f" WHERE {prefix}{column} != '{value}'"
    shape = draw(st.sampled_from(["plain", "group", "cte", "in", "union", "join"]))
    cols = ", ".join(prefix + c for c in picked)
    if shape == "group":
        agg = draw(st.sampled_from(AGGREGATES)).format(c=prefix + picked[-1])
        return f"SELECT {prefix}{picked[0]}, {agg} FROM {table}{alias}{where} GROUP BY {prefix}{picked[0]}"
    if shape == "cte":
        return f"WITH x AS (SELECT {cols} FROM {table}{alias}{where}) SELECT * FROM x"
    if shape == "in":
        return f"SELECT count() FROM events WHERE distinct_id IN (SELECT distinct_id FROM persons){where and ''}"
    if shape == "union":
        return f"SELECT toString({picked[0]}) AS v FROM {table} UNION ALL SELECT event FROM events"
    if shape == "join":
        kind = draw(st.sampled_from(["LEFT JOIN", "INNER JOIN", "FULL OUTER JOIN", "LEFT ANY JOIN"]))
        on = "e.distinct_id = p.distinct_id"
        return f"SELECT e.distinct_id, p.event_count FROM events AS e {kind} persons AS p ON {on}"
    return f"SELECT {cols} FROM {table}{alias}{where}"


FORBIDDEN_TABLES = [
    "system.one", "system.settings", "system.tables", "rejected_events", "event_ids", "analytics.events",
    "file('/etc/passwd', 'LineAsString')", "url('http://127.0.0.1:1/', 'LineAsString')", "numbers(3)",
    "merge('system', '^one$')", "loop(system.one)", "remote('127.0.0.1', system.one)",
    "fileCluster('default', '/etc/passwd')", "view(SELECT * FROM system.one)", "input('a String')",
    "python('x')", "`system`.`one`", "\"system\".\"one\"", "EVENTS",
]  # fmt: skip
FORBIDDEN_EXPRESSIONS = [
    "getSetting('max_execution_time')", "currentDatabase()", "hostName()", "version()", "file('/etc/passwd')",
    "dictGet('d', 'a', 1)", "joinGet('j', 'v', 1)", "{tenant_id:String}", "1 IN system.one",
    "1 IN fileCluster('default', '/etc/passwd')", "'system.one'", "'/etc/passwd'", "currentUser()",
    "(SELECT name FROM system.users LIMIT 1)", "tenant_id", "events.tenant_id",
]  # fmt: skip
SUFFIXES = ["", " SETTINGS readonly = 0", " FORMAT JSON", "; SELECT 1", " -- x", " /* FROM system.one */", " FINAL"]


@st.composite
def adversarial(draw: st.DrawFn) -> str:
    source = draw(st.sampled_from([*sorted(COLUMNS), *FORBIDDEN_TABLES]))
    expression = draw(st.sampled_from(["*", "count()", *FORBIDDEN_EXPRESSIONS]))
    suffix = draw(st.sampled_from(SUFFIXES))
    shape = draw(st.integers(0, 5))
    if shape == 0:
        return f"SELECT {expression} FROM {source}{suffix}"
    if shape == 1:
        return f"WITH c AS (SELECT * FROM {source}) SELECT {expression} FROM c{suffix}"
    if shape == 2:
        return f"SELECT {expression} FROM events WHERE distinct_id IN (SELECT * FROM {source}){suffix}"
    if shape == 3:
        return f"SELECT toString(event) FROM events UNION ALL SELECT toString({expression}) FROM {source}{suffix}"
    if shape == 4:
        return f"SELECT {expression} FROM events AS e LEFT JOIN {source} AS s ON 1 = 1{suffix}"
    return f"SELECT {expression}{suffix}"


def leaks(pair: Pair, rows: list[list[Any]]) -> list[str]:
    text = repr(rows)
    found = [marker for marker in (pair.mark_b, pair.b.tenant_id, "root:x:0", "/bin/bash") if marker in text]
    return found


@SLOW
@given(sql=well_formed())
def test_well_formed_queries_run_for_the_caller_only(runtime: Any, pair: Pair, sql: str) -> None:
    result = run_restricted_sql(runtime, pair.a, sql, limit=500)
    assert not leaks(pair, result.rows), sql
    assert pair.a.tenant_id not in repr(result.rows)


@SLOW
@given(sql=adversarial())
def test_forbidden_pieces_are_refused_or_harmless(runtime: Any, pair: Pair, sql: str) -> None:
    try:
        checked = check_sql(runtime, pair.a, sql)
    except (SqlNotAllowed, SqlSyntaxError):
        return
    # Accepted: only the tenant tables and literals can be in it. Run it and look at the answer.
    try:
        result = run_restricted_sql(runtime, pair.a, sql, limit=500, guarded=checked)
    except SqlError:
        return  # ClickHouse refused it (a column that is not there): nothing came back
    assert not leaks(pair, result.rows), sql
    names = {c.name for c in result.columns}
    assert "tenant_id" not in names and "name" not in names, sql


@settings(max_examples=300, deadline=None)
@given(sql=adversarial())
def test_accepted_sql_reads_only_filtered_tables(sql: str) -> None:
    from tests.query.test_guard_bypasses import CATALOGUE

    try:
        guarded = guard(sql, CATALOGUE)
    except (SqlNotAllowed, SqlSyntaxError):
        return
    # every qualified table in the output is one of the trusted, tenant-filtered SELECTs
    assert guarded.sql.count('"analytics".') == guarded.sql.count("{tenant_id:String}") - (
        1 if guarded.sql.startswith("WITH {tenant_id:String} AS _tenant") else 0
    )
    assert "system" not in guarded.sql.replace("'system.one'", "")


@SLOW
@given(value=st.text(max_size=40))
def test_string_literals_come_back_unchanged(runtime: Any, pair: Pair, value: str) -> None:
    literal = "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    try:
        result = run_restricted_sql(runtime, pair.a, f"SELECT {literal} AS v")
    except (SqlSyntaxError, SqlNotAllowed):
        return  # e.g. a NUL or other text sqlglot's tokenizer will not read: refused, not mangled
    except AppError as exc:
        raise AssertionError(f"{value!r}: {exc}") from exc
    assert result.rows == [[value]]
