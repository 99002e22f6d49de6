"""Running restricted SQL through the tenant scope: each tenant sees its own rows only, results are
typed, `limit` cuts honestly, and ClickHouse's own refusals are 400s."""

from __future__ import annotations

from typing import Any

import pytest

from analytics_engine.errors import InvalidInput
from analytics_engine.query.errors import SqlNotAllowed
from analytics_engine.query.service import SqlError, explain_restricted_sql, run_restricted_sql
from tests.query.support import Pair, make_pair


@pytest.fixture(scope="module")
def pair(runtime: Any) -> Pair:
    return make_pair(runtime)


def test_events_of_the_caller_only(runtime: Any, pair: Pair) -> None:
    result = run_restricted_sql(runtime, pair.a, "SELECT event, count() AS n FROM events GROUP BY event ORDER BY event")
    assert [row[0] for row in result.rows] == ["alpha_ev0", "alpha_ev1", "alpha_ev2"]
    assert sum(row[1] for row in result.rows) == 30
    assert [c.name for c in result.columns] == ["event", "n"]
    assert result.columns[1].type == "UInt64"
    assert result.tables == ["events"]
    assert not result.truncated
    other = run_restricted_sql(runtime, pair.b, "SELECT DISTINCT distinct_id FROM events ORDER BY 1")
    assert all(row[0].startswith("bravo_") for row in other.rows)


def test_every_table_is_filtered(runtime: Any, pair: Pair) -> None:
    for sql in (
        "SELECT distinct_id FROM persons",
        "SELECT distinct_id, key, value FROM person_properties",
        "SELECT cohort_id, distinct_id FROM cohort_users",
        "SELECT event FROM metrics_daily",
        "SELECT event FROM metrics_monthly",
        "SELECT note FROM donations",
    ):
        result = run_restricted_sql(runtime, pair.a, sql)
        assert result.rows, sql
        text = repr(result.rows)
        assert "bravo" not in text and "alpha" in text, (sql, text)


def test_tenant_column_is_not_there(runtime: Any, pair: Pair) -> None:
    with pytest.raises(SqlError):
        run_restricted_sql(runtime, pair.a, "SELECT tenant_id FROM events")
    result = run_restricted_sql(runtime, pair.a, "SELECT * FROM events LIMIT 1")
    assert "tenant_id" not in [c.name for c in result.columns]


def test_synced_table_latest_version_without_deleted_rows(runtime: Any, pair: Pair) -> None:
    result = run_restricted_sql(runtime, pair.a, "SELECT id, amount FROM donations ORDER BY id")
    assert result.rows == [[1, 10.0], [2, 25.0]]
    assert [c.name for c in result.columns] == ["id", "amount"]


def test_left_join_keeps_its_meaning(runtime: Any, pair: Pair) -> None:
    sql = (
        "SELECT p.distinct_id, c.cohort_id FROM persons AS p LEFT JOIN cohort_users AS c "
        "ON p.distinct_id = c.distinct_id ORDER BY p.distinct_id"
    )
    result = run_restricted_sql(runtime, pair.a, sql)
    assert len(result.rows) == 5
    assert [row[1] for row in result.rows].count("alpha_cohort") == 1


def test_limit_says_truncated(runtime: Any, pair: Pair) -> None:
    result = run_restricted_sql(runtime, pair.a, "SELECT timestamp FROM events ORDER BY timestamp", limit=7)
    assert len(result.rows) == 7 and result.truncated and result.limit == 7
    exact = run_restricted_sql(runtime, pair.a, "SELECT timestamp FROM events", limit=30)
    assert len(exact.rows) == 30 and not exact.truncated
    with pytest.raises(InvalidInput):
        run_restricted_sql(runtime, pair.a, "SELECT 1", limit=100_001)


def test_values_are_json(runtime: Any, pair: Pair) -> None:
    result = run_restricted_sql(
        runtime, pair.a, "SELECT timestamp, event_id, properties, toDecimal64(1.5, 2) FROM events LIMIT 1"
    )
    stamp, event_id, properties, number = result.rows[0]
    assert isinstance(stamp, str) and "T" in stamp
    assert isinstance(event_id, str) and len(event_id) == 36
    assert properties["plan"] == "alpha_plan"
    assert number == 1.5


def test_query_without_tables_runs(runtime: Any, pair: Pair) -> None:
    assert run_restricted_sql(runtime, pair.a, "SELECT 1 + 1 AS two").rows == [[2]]
    assert run_restricted_sql(runtime, pair.a, "SELECT 1 UNION ALL SELECT 2").rows in ([[1], [2]], [[2], [1]])


def test_clickhouse_refusal_is_a_400(runtime: Any, pair: Pair) -> None:
    with pytest.raises(SqlError) as caught:
        run_restricted_sql(runtime, pair.a, "SELECT no_such_column FROM events")
    assert caught.value.status_code == 400
    assert "tenant" not in caught.value.message


def test_refused_before_running(runtime: Any, pair: Pair) -> None:
    with pytest.raises(SqlNotAllowed):
        run_restricted_sql(runtime, pair.a, "SELECT * FROM system.tables")


def test_explain(runtime: Any, pair: Pair) -> None:
    explained = explain_restricted_sql(runtime, pair.a, "SELECT count() FROM events WHERE event = 'alpha_ev1'")
    assert explained.plan
    assert explained.estimated_rows is not None and explained.estimated_rows >= 0
    assert explained.tables == ["events"]
    assert all("database" not in part for part in explained.estimate)
