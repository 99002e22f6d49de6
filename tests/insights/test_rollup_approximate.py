"""Rollup unique users (issue 27 item 6): `uniqCombined(14)` is exact up to 512 people per bucket, a
sketch estimate above; an answer served from the rollup with an estimate of 500 or more in any
bucket (or total) says `approximate: true`, smaller ones do not."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.insights.reference import Ev
from tests.insights.support import load, new_tenant, run

DAY = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=3)


def _query(math: str) -> dict:
    return {
        "kind": "trends",
        "series": [{"event": "visit", "math": math}],
        "interval": "day",
        "date_range": {"date_from": DAY.date().isoformat(), "date_to": (DAY + timedelta(days=1)).date().isoformat()},
    }


@pytest.mark.parametrize(
    ("people", "math", "approximate"),
    [
        (600, "unique_users", True),
        (600, "per_user_avg", True),
        (600, "total", False),
        (120, "unique_users", False),
    ],
)
def test_rollup_answers_say_when_unique_users_are_estimates(runtime, people, math, approximate):
    tenant = new_tenant("UTC")
    load(runtime, tenant, [Ev(f"user-{i}", "visit", DAY + timedelta(minutes=i % 600)) for i in range(people)])
    answer = run(runtime, tenant, _query(math), refresh=True)
    assert answer.served_by == "rollup"
    assert answer.approximate is approximate
    if math == "unique_users" and not approximate:
        assert answer.series[0].total == people  # exact below the threshold


@pytest.mark.parametrize(("people", "approximate"), [(600, True), (120, False)])
def test_raw_unique_users_say_when_they_are_estimates(runtime, people, approximate):
    """A property filter sends the trend to raw events, counted with the same sketch function."""
    tenant = new_tenant("UTC")
    load(
        runtime,
        tenant,
        [Ev(f"user-{i}", "visit", DAY + timedelta(minutes=i % 600), {"plan": "pro"}) for i in range(people)],
    )
    query = {**_query("unique_users"), "filters": [{"key": "plan", "operator": "eq", "value": "pro"}]}
    answer = run(runtime, tenant, query, refresh=True)
    assert answer.served_by == "raw"
    assert answer.approximate is approximate
    if not approximate:
        assert answer.series[0].total == people
