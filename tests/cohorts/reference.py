"""Cohort membership in plain Python: the independent reference the warehouse evaluation must match.

Semantics (docs/cohorts.md): windows are [start, end); `last_days` K means [as_of - K days, as_of);
`at_most`/`exactly 0`/`not_performed` include people without the event; a property compares as text
(numbers as their JSON text), `gt`.. compare as numbers, `neq`/`is_not_set` match a missing property;
person properties take the latest value per key. The universe is every person with an event.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any


@dataclass(frozen=True)
class Ev:
    event: str
    distinct_id: str
    timestamp: datetime
    properties: dict[str, Any]


def text_of(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def matches(flt: dict[str, Any], present: bool, value: Any) -> bool:
    op = flt.get("operator", "eq")
    wanted = flt.get("value")
    text = text_of(value) if present else ""
    if op == "is_set":
        return present
    if op == "is_not_set":
        return not present
    if op in ("gt", "gte", "lt", "lte"):
        got = number(text)
        if got is None:
            return False
        return {"gt": got > wanted, "gte": got >= wanted, "lt": got < wanted, "lte": got <= wanted}[op]
    if op == "contains":
        return text_of(wanted).lower() in text.lower()
    if op == "in":
        return text in [text_of(v) for v in wanted]
    if isinstance(wanted, int | float) and not isinstance(wanted, bool):
        got = number(text)
        equal = got is not None and got == float(wanted)
    else:
        equal = text == text_of(wanted)
    return (not equal) if op == "neq" else equal


def bounds(window: dict[str, Any] | None, as_of: datetime) -> tuple[datetime | None, datetime | None]:
    if not window:
        return None, None
    if window.get("last_days") is not None:
        return as_of - timedelta(days=window["last_days"]), as_of
    return window.get("start"), window.get("end")


def in_window(ts: datetime, start: datetime | None, end: datetime | None) -> bool:
    return (start is None or ts >= start) and (end is None or ts < end)


class Reference:
    def __init__(self, events: list[Ev], as_of: datetime, cohorts: dict[str, set[str]] | None = None) -> None:
        self.events = events
        self.as_of = as_of
        self.cohorts = cohorts or {}
        self.people = {e.distinct_id for e in events}
        self.latest: dict[str, dict[str, tuple[datetime, Any]]] = {}
        for e in events:
            props = self.latest.setdefault(e.distinct_id, {})
            for key, value in e.properties.items():
                if key not in props or e.timestamp > props[key][0]:
                    props[key] = (e.timestamp, value)

    def matching(self, c: dict[str, Any], *, use_window: bool = True) -> list[Ev]:
        start, end = bounds(c.get("window"), self.as_of) if use_window else (None, None)
        return [
            e
            for e in self.events
            if e.event == c["event"]
            and in_window(e.timestamp, start, end)
            and all(matches(f, f["key"] in e.properties, e.properties.get(f["key"])) for f in c.get("properties", []))
        ]

    def members(self, node: dict[str, Any]) -> set[str]:
        kind = node["type"]
        if kind == "group":
            sets = [self.members(child) for child in node["criteria"]]
            if node.get("operator", "and") == "and":
                return set.intersection(*sets)
            return set.union(*sets)
        if kind == "event":
            counts: dict[str, int] = {}
            for e in self.matching(node):
                counts[e.distinct_id] = counts.get(e.distinct_id, 0) + 1
            n, op = node.get("count", 1), node.get("operator", "at_least")
            test = {"at_least": lambda k: k >= n, "at_most": lambda k: k <= n, "exactly": lambda k: k == n}[op]
            return {p for p in self.people if test(counts.get(p, 0))}
        if kind == "not_performed":
            return self.people - {e.distinct_id for e in self.matching(node)}
        if kind == "first_performed":
            firsts: dict[str, datetime] = {}
            for e in self.matching(node, use_window=False):
                if e.distinct_id not in firsts or e.timestamp < firsts[e.distinct_id]:
                    firsts[e.distinct_id] = e.timestamp
            start, end = bounds(node["window"], self.as_of)
            return {p for p, ts in firsts.items() if in_window(ts, start, end)}
        if kind == "person_property":
            out = set()
            for person in self.people:
                props = self.latest.get(person, {})
                present = node["key"] in props
                if matches(node, present, props[node["key"]][1] if present else None):
                    out.add(person)
            return out
        if kind == "cohort":
            inside = self.cohorts[node["cohort_id"]] & self.people
            return (self.people - inside) if node.get("negate") else inside
        raise ValueError(kind)
