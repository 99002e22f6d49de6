"""Every answer says what served it and how fresh it is: rollup and pre-aggregated answers carry
`fresh_as_of` (a moment taken before their statements ran: every event committed by then is
counted, since both are written by the insert of `events`); raw answers carry none (always current)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tests.insights.reference import Ev
from tests.insights.support import load, new_tenant, run


def test_rollup_and_preaggregated_answers_say_how_fresh_raw_ones_do_not(runtime: Any) -> None:
    tenant = new_tenant("Europe/Berlin")
    day = (datetime.now(UTC) - timedelta(days=3)).replace(hour=12, minute=0, second=0, microsecond=0)
    load(runtime, tenant, [Ev("u1", "visit", day, {"plan": "pro"}), Ev("u2", "visit", day, {"plan": "free"})])
    date_range = {"date_from": (day - timedelta(days=2)).date().isoformat(), "date_to": day.date().isoformat()}
    trend = {"kind": "trends", "series": [{"event": "visit"}], "interval": "day", "date_range": date_range}
    before = datetime.now(UTC)
    answers = {
        "rollup": run(runtime, tenant, trend, refresh=True),
        "raw": run(runtime, tenant, {**trend, "filters": [{"key": "plan", "value": "pro"}]}, refresh=True),
        "preaggregation": run(
            runtime, tenant, {"kind": "engagement", "measure": "active_users", "date_range": date_range}, refresh=True
        ),
    }
    after = datetime.now(UTC)
    for served_by, answer in answers.items():
        assert answer.served_by == served_by
        if served_by == "raw":
            assert answer.fresh_as_of is None
        else:
            assert answer.fresh_as_of is not None and before <= answer.fresh_as_of <= answer.computed_at <= after
    assert answers["rollup"].series[0].total == 2 and answers["raw"].series[0].total == 1
