"""Trends features on a small fixed dataset, checked against values computed by hand: property maths,
every filter operator, compare, formulas, cumulative mode; plus the days-active histogram."""

from __future__ import annotations

import statistics
from datetime import UTC, datetime, timedelta

import pytest

from tests.insights.reference import Ev
from tests.insights.support import iso, load, new_tenant, run

DAY0 = (datetime.now(UTC) - timedelta(days=10)).replace(hour=10, minute=0, second=0, microsecond=0)
AMOUNTS = [5, 10, 10, 20, 40, 100, 7.5]
EVENTS = [
    Ev(
        f"u{i % 3}",
        "buy",
        DAY0 + timedelta(days=i % 4, minutes=i),
        {"amount": a, "plan": ["free", "pro"][i % 2], "tag": f"t{i}"},
    )
    for i, a in enumerate(AMOUNTS)
] + [
    Ev("u0", "buy", DAY0 + timedelta(days=1), {"amount": "n/a", "plan": "pro"}),  # not a number: skipped by maths
    Ev("u1", "view", DAY0 + timedelta(days=2), {"nested": {"level": 3}}),
    Ev("u1", "view", DAY0 - timedelta(days=3)),  # the previous period
    Ev("u2", "view", DAY0 - timedelta(days=4)),
]
RANGE = {"date_from": iso(DAY0.replace(hour=0)), "date_to": iso(DAY0.replace(hour=0) + timedelta(days=4))}


@pytest.fixture(scope="module")
def tenant(runtime):
    handle = new_tenant("UTC")
    load(runtime, handle, EVENTS)
    return handle


def _total(runtime, tenant, **series):
    answer = run(runtime, tenant, {"kind": "trends", "series": [{"event": "buy", **series}], "date_range": RANGE})
    return answer.series[0].total


@pytest.mark.parametrize(
    ("math", "expected"),
    [
        ("sum", sum(AMOUNTS)),
        ("avg", statistics.mean(AMOUNTS)),
        ("min", min(AMOUNTS)),
        ("max", max(AMOUNTS)),
        ("median", statistics.median(AMOUNTS)),
        ("p90", statistics.quantiles(AMOUNTS, n=10, method="inclusive")[8]),
    ],
)
def test_property_maths(runtime, tenant, math, expected):
    assert _total(runtime, tenant, math=math, math_property="amount") == pytest.approx(expected)


def test_total_unique_and_per_user_average(runtime, tenant):
    assert _total(runtime, tenant) == 8
    assert _total(runtime, tenant, math="unique_users") == 3
    assert _total(runtime, tenant, math="per_user_avg") == pytest.approx(8 / 3)


@pytest.mark.parametrize(
    ("filter_", "expected"),
    [
        ({"key": "plan", "operator": "eq", "value": "pro"}, 4),
        ({"key": "plan", "operator": "neq", "value": "pro"}, 4),
        ({"key": "amount", "operator": "eq", "value": 10}, 2),
        ({"key": "amount", "operator": "gt", "value": 10}, 3),
        ({"key": "amount", "operator": "gte", "value": 10}, 5),
        ({"key": "amount", "operator": "lt", "value": 10}, 2),
        ({"key": "amount", "operator": "lte", "value": 7.5}, 2),
        ({"key": "tag", "operator": "contains", "value": "T1"}, 1),
        ({"key": "tag", "operator": "regex", "value": "^t[0-2]$"}, 3),
        ({"key": "tag", "operator": "is_set"}, 7),
        ({"key": "tag", "operator": "is_not_set"}, 1),
        ({"key": "tag", "operator": "in", "value": ["t0", "t6", "zz"]}, 2),
        ({"key": "amount", "operator": "in", "value": [5, 7.5, 100.0]}, 3),
    ],
)
def test_filter_operators(runtime, tenant, filter_, expected):
    assert _total(runtime, tenant, filters=[filter_]) == expected


def test_nested_property_filter(runtime, tenant):
    answer = run(
        runtime,
        tenant,
        {
            "kind": "trends",
            "date_range": RANGE,
            "series": [{"event": "view", "filters": [{"key": "nested.level", "operator": "gte", "value": 3}]}],
        },
    )
    assert answer.series[0].total == 1


def test_compare_formula_and_cumulative(runtime, tenant):
    compared = run(
        runtime, tenant, {"kind": "trends", "series": [{"event": "view"}], "compare": True, "date_range": RANGE}
    )
    current, previous = compared.series
    assert (current.compare, previous.compare) == ("current", "previous")
    assert current.total == 1 and previous.total == 2 and previous.label.endswith("(previous)")
    assert len(current.points) == len(previous.points) == 4

    formula = run(
        runtime,
        tenant,
        {
            "kind": "trends",
            "date_range": RANGE,
            "formula": "(A - B) / A * 100",
            "series": [{"event": "buy"}, {"event": "buy", "math": "unique_users"}],
        },
    )
    assert len(formula.series) == 1 and formula.series[0].total == pytest.approx((8 - 3) / 8 * 100)

    cumulative = run(
        runtime,
        tenant,
        {
            "kind": "trends",
            "date_range": RANGE,
            "cumulative": True,
            "series": [{"event": "buy"}, {"event": "buy", "math": "unique_users"}],
        },
    )
    totals, people = ([p.value for p in s.points] for s in cumulative.series)
    assert totals[-1] == 8 and totals == sorted(totals)
    assert people == [2, 3, 3, 3]  # u0 and u1 buy on day 0, u2 first on day 1; nobody counts twice


def test_days_active_histogram(runtime):
    tenant = new_tenant("UTC")
    monday = (DAY0 - timedelta(days=DAY0.weekday() + 7)).replace(hour=12)
    load(
        runtime,
        tenant,
        [Ev("a", "x", monday + timedelta(days=d)) for d in (0, 1, 1, 3)] + [Ev("b", "x", monday + timedelta(days=2))],
    )
    answer = run(
        runtime,
        tenant,
        {
            "kind": "engagement",
            "measure": "days_active",
            "interval": "week",
            "date_range": {
                "date_from": monday.date().isoformat(),
                "date_to": (monday + timedelta(days=6)).date().isoformat(),
            },
        },
    )
    overall = answer.series[0]
    assert overall.label == "All periods"
    assert [p.value for p in overall.points] == [1, 0, 1, 0, 0, 0, 0]  # b: 1 day, a: 3 days


def test_model_path_reports_cache_hits(runtime, tenant):
    query = {
        "kind": "trends",
        "series": [{"event": "buy", "math": "max", "math_property": "amount"}],
        "date_range": RANGE,
    }
    first = run(runtime, tenant, query, refresh=True)  # the maths test may have cached this query
    again = run(runtime, tenant, query)
    assert (first.cached, again.cached) == (False, True)
    assert again.model_dump(exclude={"cached"}) == first.model_dump(exclude={"cached"})
    assert run(runtime, tenant, query, refresh=True).cached is False
