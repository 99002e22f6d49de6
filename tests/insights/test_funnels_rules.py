"""Funnel rules of issue 27: times from the one chain reaching the furthest step (item 1), the
unordered breakdown value from the entry event taken (item 2), tie-breaking and the trend bucket
(item 8)."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.insights.reference import Ev
from tests.insights.support import load, new_tenant, run


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_times_come_from_the_chain_reaching_the_furthest_step(runtime):
    """visit 10:00, signup 10:10, activate 10:20, signup 12:00: step 2 took 600 s on the only chain
    that reaches step 3; the 12:00 signup is on no such chain."""
    tenant = new_tenant("UTC")
    day = "2026-04-01T"
    load(
        runtime,
        tenant,
        [
            Ev("p", "visit", _at(day + "10:00")),
            Ev("p", "signup", _at(day + "10:10")),
            Ev("p", "activate", _at(day + "10:20")),
            Ev("p", "signup", _at(day + "12:00")),
        ],
    )
    query = {
        "kind": "funnels",
        "steps": [{"event": "visit"}, {"event": "signup"}, {"event": "activate"}],
        "conversion_window": {"value": 1, "unit": "day"},
        "date_range": {"date_from": "2026-04-01", "date_to": "2026-04-01"},
    }
    for extra in (
        {},
        {
            "steps": [
                {"event": "visit"},
                {"event": "signup", "window": {"value": 23, "unit": "hour"}},
                {"event": "activate"},
            ]
        },
    ):
        steps = run(runtime, tenant, {**query, **extra}).funnel[0].steps  # linear path, then the general one
        assert [s.count for s in steps] == [1, 1, 1]
        assert (steps[1].average_seconds, steps[1].median_seconds) == (600, 600)
        assert (steps[2].average_seconds, steps[2].median_seconds) == (600, 600)


def test_unordered_breakdown_comes_from_the_entry_taken(runtime):
    """visit 03-21 (team, before the range), signup 03-26 (pro): the person enters through signup."""
    tenant = new_tenant("UTC")
    load(
        runtime,
        tenant,
        [
            Ev("p", "visit", _at("2026-03-21T12:00"), {"plan": "team"}),
            Ev("p", "signup", _at("2026-03-26T12:00"), {"plan": "pro"}),
        ],
    )
    answer = run(
        runtime,
        tenant,
        {
            "kind": "funnels",
            "steps": [{"event": "visit"}, {"event": "signup"}],
            "order": "unordered",
            "breakdown": ["plan"],
            "date_range": {"date_from": "2026-03-25", "date_to": "2026-03-31"},
        },
    )
    assert [(g.breakdown_value, [s.count for s in g.steps]) for g in answer.funnel] == [(["pro"], [1, 0])]
