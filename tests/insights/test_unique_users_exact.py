"""Unique users are exact on every path (docs/insights.md, "Unique users"). Before, the rollups'
`uniqCombined(14)` sketch and the raw path's same function gave estimates above 512 people per bucket
(flagged `approximate`); now the person bitmaps (`person_hours`) and raw events (`uniqExact`) count
exactly, and the sketches answer no unique-user math. All cases with 600 or 2,000 people fail on the
old code (an estimate, `approximate: true`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.insights.reference import Ev
from tests.insights.support import load, new_tenant, run

DAY = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=3)


def _query(math: str, **extra: Any) -> dict[str, Any]:
    return {
        "kind": "trends",
        "series": [{"event": "visit", "math": math}],
        "interval": "day",
        # date_to is a whole local day: three days, the last without visits
        "date_range": {"date_from": DAY.date().isoformat(), "date_to": (DAY + timedelta(days=2)).date().isoformat()},
        **extra,
    }


def _visits(people: int, properties: dict[str, Any] | None = None) -> list[Ev]:
    # each person twice on the first day (duplicates of a person), once more on the second for half
    first = [Ev(f"user-{i}", "visit", DAY + timedelta(minutes=i % 1400), properties or {}) for i in range(people)]
    again = [Ev(f"user-{i}", "visit", DAY + timedelta(minutes=i % 700 + 1), properties or {}) for i in range(people)]
    second = [
        Ev(f"user-{i}", "visit", DAY + timedelta(days=1, minutes=i % 600), properties or {})
        for i in range(0, people, 2)
    ]
    return first + again + second


@pytest.mark.parametrize(
    ("people", "math", "served_by", "served_from"),
    [
        (600, "unique_users", "preaggregation", "person_hours"),
        (2000, "unique_users", "preaggregation", "person_hours"),
        (600, "per_user_avg", "raw", None),  # a ratio to a count: not in the bitmaps, exact on raw
        (600, "total", "rollup", None),
        (120, "unique_users", "preaggregation", "person_hours"),
    ],
)
def test_unique_users_are_exact_and_say_what_served(runtime, people, math, served_by, served_from):
    tenant = new_tenant("UTC")
    load(runtime, tenant, _visits(people))
    answer = run(runtime, tenant, _query(math), refresh=True)
    assert (answer.served_by, answer.served_from) == (served_by, served_from)
    assert answer.approximate is False
    values = [p.value for p in answer.series[0].points]
    events = people * 2 + (people + 1) // 2
    expected = {
        "unique_users": ([people, (people + 1) // 2, 0], people),
        "per_user_avg": ([2.0, 1.0, 0.0], events / people),
        "total": ([people * 2, (people + 1) // 2, 0], events),
    }[math]
    assert (values, answer.series[0].total) == expected


@pytest.mark.parametrize("people", [600, 2000])
def test_raw_unique_users_are_exact(runtime, people):
    """A property filter sends the trend to raw events: `uniqExact`, not the sketch."""
    tenant = new_tenant("UTC")
    load(runtime, tenant, _visits(people, {"plan": "pro"}))
    query = _query("unique_users", filters=[{"key": "plan", "operator": "eq", "value": "pro"}])
    answer = run(runtime, tenant, query, refresh=True)
    assert answer.served_by == "raw" and answer.served_from is None
    assert answer.approximate is False
    assert [p.value for p in answer.series[0].points] == [people, (people + 1) // 2, 0]
    assert answer.series[0].total == people


def test_bitmaps_off_read_raw_with_the_same_numbers(runtime):
    """With the bitmaps switched off, the sketch does not step in: raw events answer, exactly."""
    tenant = new_tenant("UTC")
    load(runtime, tenant, _visits(900))
    on = run(runtime, tenant, _query("unique_users"), refresh=True)
    runtime.settings.person_bitmaps = False
    try:
        off = run(runtime, tenant, _query("unique_users"), refresh=True)
    finally:
        runtime.settings.person_bitmaps = True
    assert (on.served_from, off.served_by, off.served_from) == ("person_hours", "raw", None)
    assert [p.value for p in on.series[0].points] == [p.value for p in off.series[0].points] == [900, 450, 0]
    assert on.fresh_as_of is not None and off.fresh_as_of is None
