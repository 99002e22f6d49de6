"""Small, independent pure-Python references of each insight kind, for property tests.

Written from the documented semantics (docs/insights.md), sharing no code with the engine: events
are (user, event, aware datetime, properties) tuples.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class Ev:
    user: str
    event: str
    at: datetime
    props: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)


def bucket(at: datetime, interval: str, tz: str) -> Any:
    local = at.astimezone(ZoneInfo(tz))
    if interval == "hour":
        return local.replace(minute=0, second=0, microsecond=0).astimezone(UTC)
    day = local.date()
    if interval == "day":
        return day
    if interval == "week":
        return day - timedelta(days=day.weekday())
    if interval == "month":
        return date(day.year, day.month, 1)
    raise ValueError(interval)


def label(key: Any, tz: str) -> str:
    return key.astimezone(ZoneInfo(tz)).isoformat() if isinstance(key, datetime) else key.isoformat()


# --- trends ------------------------------------------------------------------------------------------
def trends(
    events: list[Ev],
    event: str | None,
    math: str,
    interval: str,
    tz: str,
    start: datetime,
    end: datetime,
    breakdown: str | None = None,
    limit: int = 10,
) -> dict[tuple[str, ...], dict[str, float]]:
    """{breakdown key: {bucket label: value}} with top-`limit` values by event count, the rest '$other'."""
    rows = [e for e in events if (event is None or e.event == event) and start <= e.at < end]

    def value_of(e: Ev) -> str:
        v = e.props.get(breakdown)
        if v is None:
            return ""
        if isinstance(v, bool):
            return "true" if v else "false"
        return str(v)

    keys: dict[Ev, tuple[str, ...]] = {}
    if breakdown:
        counts = Counter(value_of(e) for e in rows)
        top = {v for v, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]}
        for e in rows:
            v = value_of(e)
            keys[e] = (v if v in top else "$other",)
    else:
        for e in rows:
            keys[e] = ()
    groups: dict[tuple[str, ...], dict[str, list[Ev]]] = defaultdict(lambda: defaultdict(list))
    for e in rows:
        groups[keys[e]][label(bucket(e.at, interval, tz), tz)].append(e)
    out: dict[tuple[str, ...], dict[str, float]] = {}
    for key, by_bucket in groups.items():
        out[key] = {
            b: float(len(items) if math == "total" else len({e.user for e in items})) for b, items in by_bucket.items()
        }
    return out


# --- funnels -----------------------------------------------------------------------------------------
def funnel(
    events: list[Ev],
    steps: list[str],
    order: str,
    window: timedelta,
    step_windows: list[timedelta | None],
    start: datetime,
    end: datetime,
) -> list[int]:
    """People reaching each step, by exhaustive search over chains (moments = distinct timestamps)."""
    n = len(steps)
    reached_counts = [0] * n
    by_user: dict[str, list[Ev]] = defaultdict(list)
    for e in events:
        if start <= e.at < end + window:
            by_user[e.user].append(e)
    for items in by_user.values():
        best = (
            _unordered(items, steps, window, start, end)
            if order == "unordered"
            else _chains(items, steps, order == "strict", window, step_windows, start, end)
        )
        for k in range(best):
            reached_counts[k] += 1
    return reached_counts


def _chains(
    items: list[Ev],
    steps: list[str],
    strict: bool,
    window: timedelta,
    step_windows: list[timedelta | None],
    start: datetime,
    end: datetime,
) -> int:
    moments = sorted({e.at for e in items if strict or e.event in steps})
    matches = {m: {i for i, s in enumerate(steps) if any(e.at == m and e.event == s for e in items)} for m in moments}
    best = 0

    def extend(chain: list[int]) -> None:  # chain: indexes into moments
        nonlocal best
        best = max(best, len(chain))
        k = len(chain)
        if k == len(steps):
            return
        last = chain[-1]
        candidates = [last + 1] if strict else range(last + 1, len(moments))
        for j in candidates:
            if j >= len(moments):
                continue
            at = moments[j]
            if k not in matches[at]:
                continue
            if at - moments[chain[0]] > window:
                continue
            limit = step_windows[k]
            if limit is not None and at - moments[last] > limit:
                continue
            extend([*chain, j])

    for i, m in enumerate(moments):
        if 0 in matches[m] and start <= m < end:
            extend([i])
    return best


def _unordered(items: list[Ev], steps: list[str], window: timedelta, start: datetime, end: datetime) -> int:
    best = 0
    for entry in items:
        if entry.event not in steps or not start <= entry.at < end:
            continue
        seen = {e.event for e in items if e.event in steps and entry.at <= e.at <= entry.at + window}
        best = max(best, len(seen))
    return best


# --- retention ---------------------------------------------------------------------------------------
def _add(day: date, period: str, n: int) -> date:
    if period == "day":
        return day + timedelta(days=n)
    if period == "week":
        return day + timedelta(weeks=n)
    index = day.year * 12 + day.month - 1 + n
    return date(index // 12, index % 12 + 1, 1)


def retention(
    events: list[Ev],
    start_event: str,
    return_event: str,
    period: str,
    periods: int,
    start_type: str,
    tz: str,
    start: datetime,
    end: datetime,
) -> dict[str, list[int]]:
    """{cohort date: [size, returned in period 1, ...]} for cohorts with people."""
    cohorts: dict[date, set[str]] = defaultdict(set)
    users = {e.user for e in events}
    for user in users:
        starts = sorted(e.at for e in events if e.user == user and e.event == start_event and e.at < end)
        if start_type == "first_time":
            if starts and starts[0] >= start:
                cohorts[bucket(starts[0], period, tz)].add(user)
        else:
            for at in starts:
                if at >= start:
                    cohorts[bucket(at, period, tz)].add(user)
    out = {}
    for cohort, members in cohorts.items():
        row = [len(members)]
        for p in range(1, periods):
            target = _add(cohort, period, p)
            row.append(
                sum(
                    1
                    for u in members
                    if any(
                        e.user == u and e.event == return_event and e.at >= start and bucket(e.at, period, tz) == target
                        for e in events
                    )
                )
            )
        out[cohort.isoformat()] = row
    return out


# --- engagement --------------------------------------------------------------------------------------
def active_users(events: list[Ev], tz: str, days: list[date], end: datetime) -> dict[str, tuple[int, int, int]]:
    active: dict[date, set[str]] = defaultdict(set)
    for e in events:
        if e.at >= end:
            continue
        active[bucket(e.at, "day", tz)].add(e.user)
    out = {}
    for d in days:

        def window(n: int, d: date = d) -> int:
            return len(set().union(*(active.get(d - timedelta(days=i), set()) for i in range(n))))

        out[d.isoformat()] = (len(active.get(d, set())), window(7), window(30))
    return out


def lifecycle(events: list[Ev], interval: str, tz: str, buckets_: list[date], end: datetime) -> dict[str, list[int]]:
    first: dict[str, date] = {}
    active: dict[str, set[date]] = defaultdict(set)
    for e in sorted(events, key=lambda e: e.at):
        if e.at >= end:
            continue
        b = bucket(e.at, interval, tz)
        first.setdefault(e.user, b)
        active[e.user].add(b)
    out: dict[str, list[int]] = {k: [] for k in ("new", "returning", "resurrecting", "dormant")}
    for b in buckets_:
        prev = _add(b, interval, -1) if interval == "month" else b - timedelta(days=7 if interval == "week" else 1)
        counts = Counter()
        for user, days in active.items():
            now_active, was_active = b in days, prev in days
            if now_active and first[user] == b:
                counts["new"] += 1
            elif now_active and was_active and first[user] < b:
                counts["returning"] += 1
            elif now_active and not was_active and first[user] < b:
                counts["resurrecting"] += 1
            elif not now_active and was_active:
                counts["dormant"] -= 1
        for k in out:
            out[k].append(counts[k])
    return out


def consecutive(values: list[Any]) -> bool:
    return all(a < b for a, b in pairwise(values))
