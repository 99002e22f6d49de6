"""Unique-users trends from the person bitmaps (`person_hours`, insights/person_bitmaps.py) equal raw
answers (`uniqExact`) on random events: intervals hour, day, week and month, compare and cumulative
modes, one event or any event, with late events (a second batch of earlier times), events written
twice, cohort filters (in and not in), around Europe/Berlin's latest daylight-saving change, in Sao
Paulo and UTC, and empty ranges (before any event). A half-hour zone (Asia/Kolkata) and ranges starting
off a whole hour never read the bitmaps, and answer the same."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.insights.preaggregation_cases import (
    BASE,
    CASE_STRATEGIES,
    HALF_HOUR_ZONES,
    by_path,
    cohort_filters,
    loaded_tenant,
)
from tests.insights.reference import Ev
from tests.insights.support import load, new_tenant, run


def _numbers(answer: Any) -> Any:
    return [(s.label, [p.value for p in s.points], s.total) for s in answer.series]


def bitmaps_and_raw(runtime: Any, tenant: Any, query: dict[str, Any]) -> tuple[Any, Any, Any]:
    """The answer with the bitmaps, with them switched off, and with every pre-aggregation off."""
    bitmaps, off, raw = by_path(runtime, tenant, query)
    assert (off.served_by, off.served_from) == ("raw", None)  # the sketches never answer unique users
    return bitmaps, off, raw


@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    **CASE_STRATEGIES,
    empty=st.booleans(),
    interval=st.sampled_from(["hour", "day", "week", "month"]),
    mode=st.sampled_from(["plain", "compare", "cumulative"]),
    event=st.sampled_from(["visit", "signup", None]),
)
def test_bitmap_trends_equal_raw(
    runtime: Any,
    seed: int,
    count: int,
    twice: bool,
    zone: str,
    dates: tuple[int, int, bool],
    empty: bool,
    interval: str,
    mode: str,
    event: str | None,
    cohort: str | None,
    members: list[str],
) -> None:
    tenant = loaded_tenant(runtime, zone, seed, count, twice, stored=cohort is not None)
    offset, days, half_hour = dates
    if interval == "hour":
        days = min(days, 3)
    start_day = (BASE + timedelta(days=offset - (60 if empty else 0))).date()  # empty: before every event
    date_from = start_day.isoformat() + ("T10:30:00" if half_hour else "")
    query: dict[str, Any] = {
        "kind": "trends",
        "series": [{"event": event, "math": "unique_users"}],
        "interval": interval,
        "date_range": {"date_from": date_from, "date_to": (start_day + timedelta(days=days)).isoformat()},
        "timezone": zone,
        "compare": mode == "compare",
        "cumulative": mode == "cumulative",
    }
    if cohort is not None:
        query["filters"] = cohort_filters(runtime, tenant, cohort, members)
    bitmaps, off, raw = bitmaps_and_raw(runtime, tenant, query)
    assert _numbers(bitmaps) == _numbers(off) == _numbers(raw)
    if empty:
        assert all(s.total == 0 for s in raw.series)
    if zone not in HALF_HOUR_ZONES and not half_hour:
        assert (bitmaps.served_by, bitmaps.served_from) == ("preaggregation", "person_hours")
        assert bitmaps.fresh_as_of is not None
    else:
        assert (bitmaps.served_by, bitmaps.served_from) == ("raw", None)


def test_series_mixing_counts_and_unique_users_say_both_paths(runtime: Any) -> None:
    """A count from the rollup beside unique users from the bitmaps: the answer names the bitmaps; a
    property filter on one series sends it raw, and the answer says raw."""
    tenant = new_tenant("Europe/Berlin")
    load(runtime, tenant, [Ev("u1", "visit", BASE, {"plan": "pro"}), Ev("u2", "visit", BASE, {})])
    day = BASE.date().isoformat()
    query: dict[str, Any] = {
        "kind": "trends",
        "series": [{"event": "visit"}, {"event": "visit", "math": "unique_users"}],
        "date_range": {"date_from": day, "date_to": day},
    }
    both = run(runtime, tenant, query, refresh=True)
    assert (both.served_by, both.served_from) == ("preaggregation", "person_hours")
    assert [s.total for s in both.series] == [2, 2]
    query["series"][1]["filters"] = [{"key": "plan", "operator": "eq", "value": "pro"}]
    mixed = run(runtime, tenant, query, refresh=True)
    assert (mixed.served_by, mixed.served_from) == ("raw", None)
    assert [s.total for s in mixed.series] == [2, 1]


def test_breakdowns_and_groups_read_no_bitmap(runtime: Any) -> None:
    tenant = new_tenant("UTC")
    load(runtime, tenant, [Ev("u1", "visit", BASE, {"plan": "pro"}), Ev("u2", "visit", BASE, {"plan": "free"})])
    day = BASE.date().isoformat()
    base: dict[str, Any] = {
        "kind": "trends",
        "series": [{"event": "visit", "math": "unique_users"}],
        "date_range": {"date_from": day, "date_to": day},
    }
    assert run(runtime, tenant, base, refresh=True).served_from == "person_hours"
    broken = run(runtime, tenant, {**base, "breakdown": ["plan"]}, refresh=True)
    assert (broken.served_by, broken.served_from) == ("raw", None)
    assert sorted(s.total for s in broken.series) == [1, 1]
