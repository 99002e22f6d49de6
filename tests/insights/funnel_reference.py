"""A plain-Python funnel, written from the rules in docs/insights.md (Funnels: "Which chain, which
entry, which value"), sharing no code with the engine: per person the furthest step, the one chain
whose times count, its entry and breakdown value; then counts, average and median times per step and
the conversion trend by entry bucket. Exhaustive over chains, so only for small event sets."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import pairwise
from statistics import median
from typing import Any

from tests.insights.reference import Ev


@dataclass(frozen=True)
class Person:
    reached: int
    gaps: tuple[float, ...]  # seconds, step k-1 -> k of the chosen chain (empty for unordered)
    entry: datetime
    value: tuple[str, ...]  # breakdown value (empty without breakdown)


def _value(e: Ev, breakdown: list[str]) -> tuple[str, ...]:
    return tuple(str(e.props.get(key, "")) for key in breakdown)


def _chains(
    moments: list[datetime],
    matches: dict[datetime, set[int]],
    n: int,
    strict: bool,
    window: timedelta,
    step_windows: list[timedelta | None],
    start: datetime,
    end: datetime,
) -> list[tuple[datetime, ...]]:
    """Every valid chain (of any length >= 1): moments of steps 1..k at strictly increasing times."""
    found: list[tuple[datetime, ...]] = []

    def extend(chain: tuple[int, ...]) -> None:
        found.append(tuple(moments[i] for i in chain))
        k = len(chain)
        if k == n:
            return
        last = chain[-1]
        for j in [last + 1] if strict else range(last + 1, len(moments)):
            if j >= len(moments) or k not in matches[moments[j]]:
                continue
            at = moments[j]
            limit = step_windows[k]
            if at - moments[chain[0]] <= window and (limit is None or at - moments[last] <= limit):
                extend((*chain, j))

    for i, m in enumerate(moments):
        if 0 in matches[m] and start <= m < end:
            extend((i,))
    return found


def person(
    items: list[Ev],
    steps: list[str],
    order: str,
    window: timedelta,
    step_windows: list[timedelta | None],
    start: datetime,
    end: datetime,
    breakdown: list[str],
) -> Person | None:
    """The rules for one person's events (those in [start, end + window))."""
    n = len(steps)
    if order == "unordered":
        # Entry points: events of any step in the range; the earliest reaching the most steps, and at one
        # millisecond the smallest breakdown value. Its own value is the person's.
        best: tuple[int, datetime, tuple[str, ...]] | None = None
        for entry in sorted(items, key=lambda e: (e.at, _value(e, breakdown))):
            if entry.event not in steps or not start <= entry.at < end:
                continue
            seen = {e.event for e in items if e.event in steps and entry.at <= e.at <= entry.at + window}
            if best is None or len(seen) > best[0]:
                best = (len(seen), entry.at, _value(entry, breakdown))
        return None if best is None else Person(best[0], (), best[1], best[2])
    strict = order == "strict"
    moments = sorted({e.at for e in items if strict or e.event in steps})
    matches = {m: {i for i, s in enumerate(steps) if any(e.at == m and e.event == s for e in items)} for m in moments}
    chains = _chains(moments, matches, n, strict, window, step_windows, start, end)
    if not chains:
        return None
    reached = max(len(c) for c in chains)
    longest = [c for c in chains if len(c) == reached]
    if strict:
        chosen = max(longest, key=lambda c: c[0])  # the latest entry reaching the furthest step
    else:
        # The one completing last; then the latest start; then, step by step backwards, the latest previous step.
        chosen = max(longest, key=lambda c: (c[-1], c[0], *reversed(c[1:-1])))
    gaps = tuple((b - a).total_seconds() for a, b in pairwise(chosen))
    entries = [e for e in items if e.event == steps[0] and start <= e.at < end]
    first = min(entries, key=lambda e: (e.at, _value(e, breakdown)))  # first entry event; a tie: smallest value
    return Person(reached, gaps, chosen[0], _value(first, breakdown))


def funnel(
    events: list[Ev],
    steps: list[str],
    order: str,
    window: timedelta,
    step_windows: list[timedelta | None],
    start: datetime,
    end: datetime,
    breakdown: list[str] | None = None,
) -> dict[str, Any]:
    """{"groups": {value: (counts, averages, medians)}, "people": {user: Person}}; averages and medians
    per step 2..n over the people reaching it (None when nobody does), rounded as the answer rounds."""
    by_user: dict[str, list[Ev]] = defaultdict(list)
    for e in events:
        if start <= e.at < end + window:
            by_user[e.user].append(e)
    people = {}
    for user, items in by_user.items():
        found = person(items, steps, order, window, step_windows, start, end, breakdown or [])
        if found is not None:
            people[user] = found
    groups: dict[tuple[str, ...], Any] = {}
    histograms: dict[tuple[str, ...], Any] = {}
    for value in {p.value for p in people.values()}:
        members = [p for p in people.values() if p.value == value]
        counts = [sum(p.reached >= k for p in members) for k in range(1, len(steps) + 1)]
        averages, medians = [], []
        for k in range(2, len(steps) + 1):
            times = [p.gaps[k - 2] for p in members if p.reached >= k and p.gaps]
            averages.append(round(sum(times) / len(times), 3) if times else None)
            medians.append(round(median(times), 3) if times else None)
        groups[value] = (counts, averages, medians)
        if order != "unordered":
            edges = time_edges(window)
            per_step = [
                _histogram([p.gaps[k - 2] for p in members if p.reached >= k and p.gaps], edges)
                for k in range(2, len(steps) + 1)
            ]
            overall = _histogram([sum(p.gaps) for p in members if p.reached == len(steps)], edges)
            histograms[value] = (per_step, overall)
    return {"groups": groups, "people": people, "histograms": histograms}


def time_edges(window: timedelta) -> list[float]:
    """Upper edges of the time-to-convert bins (docs/insights.md): the human durations below the
    window (only those up to a day matter for these tests' windows), then the window itself."""
    seconds = window.total_seconds()
    return [e for e in (10, 30, 60, 300, 900, 1800, 3600, 10800, 21600, 43200, 86400) if e < seconds] + [seconds]


def _histogram(times: list[float], edges: list[float]) -> list[int]:
    """People per bin: a time goes to the first bin whose upper edge is above it, else the last."""
    counts = [0] * len(edges)
    for t in times:
        counts[next((i for i, e in enumerate(edges[:-1]) if t < e), len(edges) - 1)] += 1
    return counts


def trend(people: dict[str, Person], n: int, bucket_starts: list[datetime], step: timedelta) -> list[float]:
    """Conversion rate (%) per entry bucket: each person once, in the bucket of their entry."""
    rates = []
    for lo in bucket_starts:
        inside = [p for p in people.values() if lo <= p.entry < lo + step]
        converted = sum(p.reached == n for p in inside)
        rates.append(round(converted / len(inside), 6) * 100 if inside else 0.0)
    return rates
