"""The `sql` insight kind: parsed and checked by the registry, computed for the caller's rows only,
cached until the tenant's data changes, and a typed result with a table and a chart spec."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from analytics_engine.errors import InvalidInput
from analytics_engine.exports.integrations import Section
from analytics_engine.insights import registry
from analytics_engine.insights.context import Overrides, RunContext
from analytics_engine.insights.sql import SqlResult, chart_series
from analytics_engine.query.service import SqlColumn
from analytics_engine.reports.render import headline
from tests.query.support import Pair, make_pair

pytestmark = pytest.mark.filterwarnings("ignore")
DAILY = (
    "SELECT toDate(timestamp) AS day, count() AS events, uniq(distinct_id) AS users "
    "FROM events GROUP BY day ORDER BY day"
)


@pytest.fixture(scope="module")
def pair(runtime: Any) -> Pair:
    return make_pair(runtime)


def test_registered_and_validated() -> None:
    model = registry.parse_query({"kind": "sql", "sql": DAILY})
    assert model.model_dump()["limit"] == 1000
    for bad in (
        {"kind": "sql", "sql": "SELECT * FROM system.tables"},
        {"kind": "sql", "sql": "SELECT * FROM file('/etc/passwd')"},
        {"kind": "sql", "sql": "SELECT count( FROM events"},
        {"kind": "sql", "sql": DAILY, "limit": 0},
        {"kind": "sql"},
    ):
        with pytest.raises(InvalidInput):
            registry.parse_query(bad)
    # a synced table the warehouse will know is not refused when saved
    registry.parse_query({"kind": "sql", "sql": "SELECT sum(amount) FROM donations"})


def test_overrides_do_not_change_the_query() -> None:
    query = {"kind": "sql", "sql": DAILY, "limit": 10}
    overrides = Overrides(date_from="-7d", filters=({"key": "plan", "value": "x"},), breakdown=("plan",))
    assert registry.with_overrides(query, overrides) == query


def test_runs_for_the_caller_with_table_and_chart(runtime: Any, pair: Pair) -> None:
    result = registry.run_query(RunContext(runtime, pair.a, refresh=True), {"kind": "sql", "sql": DAILY})
    assert isinstance(result, SqlResult)
    assert [c.name for c in result.columns] == ["day", "events", "users"]
    assert sum(row[1] for row in result.rows) == 30
    [table] = result.to_tables("Daily")
    assert table.columns == ["day", "events", "users"] and table.rows == result.rows
    chart = result.to_chart()
    assert chart.type == "line" or (chart.type == "bar" and len(result.rows) == 1)
    assert [name for name, _ in chart.series] == ["events", "users"] or chart.type == "bar"
    assert result.date_from <= result.date_to
    other = registry.run_query(RunContext(runtime, pair.b), {"kind": "sql", "sql": "SELECT DISTINCT event FROM events"})
    assert all(row[0].startswith("bravo") for row in other.rows)  # type: ignore[attr-defined]


def test_cached_until_data_changes(runtime: Any, pair: Pair) -> None:
    query = {"kind": "sql", "sql": "SELECT count() AS n FROM events"}
    first = registry.run_query(RunContext(runtime, pair.a, refresh=True), query)
    second = registry.run_query(RunContext(runtime, pair.a), query)
    assert second.cached and second.model_dump(exclude={"cached", "timing"}) == first.model_dump(
        exclude={"cached", "timing"}
    )
    assert headline(Section("Count", "sql", second)) == "30 (n)"  # a single value is the headline


def test_json_round_trip_keeps_the_kind(runtime: Any, pair: Pair) -> None:
    result = registry.run_query(RunContext(runtime, pair.a), {"kind": "sql", "sql": DAILY})
    again = registry.result_from_json(result.model_dump(mode="json"))
    assert isinstance(again, SqlResult) and again.rows == result.rows  # type: ignore[attr-defined]


def test_charts_from_columns() -> None:
    cols = [SqlColumn(name="day", type="Date"), SqlColumn(name="n", type="UInt64"), SqlColumn(name="t", type="String")]
    series = chart_series(cols, [["2026-01-01", 3, "a"], ["2026-01-02", 5, "b"]])
    assert [s.label for s in series] == ["n"] and [p.value for p in series[0].points] == [3.0, 5.0]
    bars = chart_series(
        [SqlColumn(name="plan", type="LowCardinality(String)"), SqlColumn(name="c", type="Float64")], [["pro", 1.5]]
    )
    assert bars[0].points[0].label == "pro"
    assert chart_series([SqlColumn(name="t", type="String")], [["x"]]) == []
    empty = SqlResult(
        kind="sql",
        timezone="UTC",
        date_from=datetime.now(UTC),
        date_to=datetime.now(UTC),
        computed_at=datetime.now(UTC),
    )
    assert empty.to_chart().type == "empty" and headline(Section("Empty", "sql", empty)) == "no data"
