"""A plain-Python paths insight, written from the rules in docs/insights.md (Paths), sharing no code
with the engine: per person the cleaned, sorted, de-repeated steps, cut at the start and end events
and to N steps; then the fold of rare names per step into `$other` and the nodes and links."""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import datetime
from itertools import pairwise
from statistics import median
from typing import Any

from tests.insights.reference import Ev

OTHER = "$other"


def _clean(name: str, rules: list[tuple[str, str]]) -> str:
    for regex, alias in rules:
        # RE2's \0-\9 in a replacement are Python's \g<0>-\g<9>.
        name = re.sub(regex, re.sub(r"\\(\d)", r"\\g<\1>", alias), name)
    return name or "(empty)"


def person_paths(
    events: list[Ev],
    start: datetime,
    end: datetime,
    *,
    start_event: str | None = None,
    end_event: str | None = None,
    steps: int = 5,
    exclude: tuple[str, ...] = (),
    rules: list[tuple[str, str]] | None = None,
) -> dict[str, list[tuple[int, str, datetime]]]:
    """user -> [(step, name, time)] (steps numbered from 1; with only an end event the end is column `steps`)."""
    by_user: dict[str, list[tuple[datetime, str]]] = defaultdict(list)
    for e in events:
        if start <= e.at < end and e.event not in exclude:
            by_user[e.user].append((e.at, _clean(e.event, rules or [])))
    out = {}
    for user, items in by_user.items():
        items.sort()
        runs = [item for i, item in enumerate(items) if i == 0 or item[1] != items[i - 1][1]]
        names = [name for _, name in runs]
        first = 0
        if start_event is not None:
            if start_event not in names:
                continue
            first = names.index(start_event)
        last = len(runs) - 1
        if end_event is not None:
            after = [
                i
                for i in range(len(names))
                if names[i] == end_event and (i > first or (start_event is None and i >= first))
            ]
            if not after:
                continue
            last = after[0]
        if end_event is not None and start_event is None:
            chosen = runs[max(first, last - steps + 1) : last + 1]
            offset = steps - len(chosen)
        else:
            chosen = runs[first : last + 1][:steps]
            offset = 0
        out[user] = [(offset + i + 1, name, at) for i, (at, name) in enumerate(chosen)]
    return out


def paths(people: dict[str, list[tuple[int, str, datetime]]], nodes_per_step: int) -> dict[str, Any]:
    """{"nodes": {(step, name): (people, dropped)}, "links": {(step, source, target): (people, average, median)}}."""
    at_node: dict[tuple[int, str], int] = defaultdict(int)
    for path in people.values():
        for step, name, _ in path:
            at_node[(step, name)] += 1
    kept: set[tuple[int, str]] = set()
    for step in {s for s, _ in at_node}:
        ranked = sorted((n for s, n in at_node if s == step), key=lambda n: (-at_node[(step, n)], n))
        kept |= {(step, n) for n in ranked[:nodes_per_step]}

    def fold(step: int, name: str) -> str:
        return name if (step, name) in kept else OTHER

    nodes: dict[tuple[int, str], list[int]] = defaultdict(lambda: [0, 0])
    times: dict[tuple[int, str, str], list[float]] = defaultdict(list)
    for path in people.values():
        for step, name, _ in path:
            nodes[(step, fold(step, name))][0] += 1
        last_step, last_name, _ = path[-1]
        nodes[(last_step, fold(last_step, last_name))][1] += 1
        for (step, a, at_a), (_, b, at_b) in pairwise(path):
            times[(step, fold(step, a), fold(step + 1, b))].append((at_b - at_a).total_seconds())
    links = {
        key: (len(values), round(sum(values) / len(values), 3), round(median(values), 3))
        for key, values in times.items()
    }
    return {"nodes": {k: tuple(v) for k, v in nodes.items()}, "links": links}
