"""Which property values are numbers (issue 27 item 4): JSON numbers and strings that read as numbers
("7"). Booleans, other strings, null and missing values are skipped by every property math and never
match a numeric filter;
checked on the issue's example and against a plain-Python reference on random mixes of values."""

from __future__ import annotations

import math
import statistics
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.insights.reference import Ev
from tests.insights.support import load, new_tenant, run

DAY = datetime(2026, 4, 1, tzinfo=UTC)
RANGE = {"date_from": "2026-04-01", "date_to": "2026-04-01"}


@pytest.fixture(scope="module")
def tenant():
    return new_tenant("UTC")


def _answer(runtime: Any, tenant: Any, event: str, **series: Any) -> Any:
    query = {"kind": "trends", "series": [{"event": event, **series}], "date_range": RANGE}
    return run(runtime, tenant, query).series[0].total


def test_booleans_are_not_numbers(runtime, tenant):
    """The issue's example: purchases with amount `true` and `10`."""
    load(
        runtime,
        tenant,
        [
            Ev("u1", "purchase", DAY + timedelta(hours=10), {"amount": True}),
            Ev("u2", "purchase", DAY + timedelta(hours=11), {"amount": 10}),
        ],
    )
    for math_ in ("sum", "avg", "min", "max", "median"):
        assert _answer(runtime, tenant, "purchase", math=math_, math_property="amount") == 10, math_
    for op, value in (("lt", 5), ("lte", 1), ("gte", 1), ("eq", 1), ("gt", 0)):
        matches = _answer(runtime, tenant, "purchase", filters=[{"key": "amount", "operator": op, "value": value}])
        assert matches == (1 if op in {"gte", "gt"} else 0), (op, value)  # only the 10
    # a boolean still matches as a boolean (text 'true'), and neq 1 keeps it
    assert _answer(runtime, tenant, "purchase", filters=[{"key": "amount", "operator": "eq", "value": True}]) == 1
    assert _answer(runtime, tenant, "purchase", filters=[{"key": "amount", "operator": "neq", "value": 1}]) == 2


# --- property test -------------------------------------------------------------------------------------
VALUES = st.one_of(
    st.integers(-1_000_000, 1_000_000),
    st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.sampled_from(["7", "1.5", "-2", "true", "abc", ""]),
    st.none(),
    st.just("$missing"),
)
OPS = {"gt": float.__gt__, "gte": float.__ge__, "lt": float.__lt__, "lte": float.__le__, "eq": float.__eq__}


def _is_number(value: Any) -> bool:
    return (isinstance(value, int | float) and not isinstance(value, bool)) or _numeric_text(value)


def _numeric_text(value: Any) -> bool:
    if not isinstance(value, str) or value == "$missing":
        return False
    try:
        float(value)
    except ValueError:
        return False
    return True


def _close(got: float | None, want: float | None) -> bool:
    if want is None:
        return got is None
    return got is not None and math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-6)


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    values=st.lists(VALUES, min_size=0, max_size=12),
    op=st.sampled_from([*OPS, "neq"]),
    threshold=st.one_of(st.integers(-3, 12), st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)),
)
def test_numeric_rule_matches_reference(runtime, tenant, values, op, threshold):
    event = f"e_{uuid.uuid4().hex[:8]}"  # one tenant for every example, a fresh event name each
    events = [
        Ev(f"u{i}", event, DAY + timedelta(minutes=i), {} if v == "$missing" else {"amount": v, "n": i})
        for i, v in enumerate(values)
    ]
    load(runtime, tenant, events)
    numbers = [float(v) for v in values if _is_number(v)]
    expected = {
        "sum": math.fsum(numbers) if numbers else None,
        "avg": statistics.fmean(numbers) if numbers else None,
        "min": min(numbers, default=None),
        "max": max(numbers, default=None),
    }
    for math_, want in expected.items():
        got = _answer(runtime, tenant, event, math=math_, math_property="amount")
        assert _close(got, want), (math_, got, want, values)
    x = float(threshold)
    if op == "neq":
        want_count = sum(1 for v in values if not (_is_number(v) and float(v) == x))
    else:
        want_count = sum(1 for v in values if _is_number(v) and OPS[op](float(v), x))
    got_count = _answer(runtime, tenant, event, filters=[{"key": "amount", "operator": op, "value": threshold}])
    assert got_count == want_count, (op, threshold, values)
