"""A plain-Python funnel correlation, written from the rules in docs/insights.md (Funnel correlation),
sharing no code with the engine: the funnel's people from tests/insights/funnel_reference.py, then
per event and per entry property value the people converting and dropping with it, the odds ratio
with a prior of 1 and the test on its log."""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from tests.insights import funnel_reference
from tests.insights.reference import Ev


def correlation(
    events: list[Ev],
    steps: list[str],
    order: str,
    window: timedelta,
    start: datetime,
    end: datetime,
    properties: list[str],
    exclude: tuple[str, ...] = (),
) -> dict[str, Any]:
    """{"totals": (successes, failures), "rows": {("event", name, None) | ("property", key, value): (a, b)},
    "people": {row key: ({converted users}, {dropped users})}}."""
    found = funnel_reference.funnel(events, steps, order, window, [None] * len(steps), start, end, properties)
    people = found["people"]
    n = len(steps)
    success = {user: p.reached == n for user, p in people.items()}
    with_row: dict[tuple[str, str, str | None], set[str]] = defaultdict(set)
    for user, p in people.items():
        converted = success[user] and order != "unordered"
        hi = p.entry + (timedelta(seconds=sum(p.gaps)) if converted else window)
        for e in events:
            if e.user == user and e.event not in steps and e.event not in exclude and p.entry < e.at < hi:
                with_row[("event", e.event, None)].add(user)
        for key, value in zip(properties, p.value, strict=True):
            with_row[("property", key, value)].add(user)
    rows = {k: (sum(success[u] for u in users), sum(not success[u] for u in users)) for k, users in with_row.items()}
    split = {
        k: ({u for u in users if success[u]}, {u for u in users if not success[u]}) for k, users in with_row.items()
    }
    totals = (sum(success.values()), sum(not s for s in success.values()))
    return {"totals": totals, "rows": rows, "people": split}


def odds_ratio(a: int, b: int, successes: int, failures: int) -> tuple[float, float]:
    """PostHog's odds ratio (1 added to each of the four cells) and the two-sided p-value of the
    normal test on its logarithm."""
    a1, c1, b1, d1 = a + 1, successes - a + 1, b + 1, failures - b + 1
    ratio = (a1 / c1) / (b1 / d1)
    z = math.log(ratio) / math.sqrt(1 / a1 + 1 / c1 + 1 / b1 + 1 / d1)
    return ratio, 2 * (1 - 0.5 * (1 + math.erf(abs(z) / math.sqrt(2))))  # 2 * (1 - Phi(|z|))
