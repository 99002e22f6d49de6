"""Daylight saving in Europe/Oslo: one event per real hour around the latest change gives a 23- or
25-hour local day, each day exactly once, and hour buckets that never merge or skip an hour."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

from tests.insights.reference import Ev
from tests.insights.support import load, new_tenant, recent_dst_change, run

OSLO = ZoneInfo("Europe/Oslo")


def test_day_and_hour_buckets_across_the_change(runtime):
    change = recent_dst_change("Europe/Oslo")
    day = change.astimezone(OSLO).date()
    start = (change - timedelta(days=1)).astimezone(OSLO).replace(hour=0).date()
    tenant = new_tenant("Europe/Oslo")
    first = change - timedelta(hours=48)
    load(runtime, tenant, [Ev("u", "tick", first + timedelta(hours=h)) for h in range(96)])
    date_range = {"date_from": start.isoformat(), "date_to": (start + timedelta(days=2)).isoformat()}
    daily = run(runtime, tenant, {"kind": "trends", "series": [{"event": "tick"}], "date_range": date_range})
    by_day = {p.label: p.value for p in daily.series[0].points}
    assert list(by_day) == [(start + timedelta(days=i)).isoformat() for i in range(3)]
    # autumn: the offset drops and the day has 25 real hours; spring: 23
    expected = (
        25 if change.astimezone(OSLO).utcoffset() < (change - timedelta(hours=1)).astimezone(OSLO).utcoffset() else 23
    )
    assert by_day[day.isoformat()] == expected
    assert daily.served_by == "rollup"

    hourly = run(
        runtime, tenant, {"kind": "trends", "series": [{"event": "tick"}], "interval": "hour", "date_range": date_range}
    )
    labels = [p.label for p in hourly.series[0].points]
    assert len(labels) == len(set(labels)) == 24 + expected + 24
    assert all(p.value == 1 for p in hourly.series[0].points)
