"""Ingestion warnings of the taxonomy, pure functions over its figures (no I/O):

- `type_changed`: a property key that arrived with more than one JSON type (`"7"` and `7`), with the
  events per type; the count is the events with the types other than the most common one.
- `possible_typo`: an event name close to a busier, older one (`sigup` next to `signup`): edit
  distance (optimal string alignment: insertions, deletions, substitutions and swaps of neighbours)
  of the lower-cased names at most 1 (names up to 5 characters) or 2, at most a tenth of its volume,
  and first seen no earlier. The count is the suspect name's events.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from analytics_engine.taxonomy.schemas import PropertyEntry, TaxonomyWarning

# The busier name must have at least this many times the events of the suspect one.
TYPO_VOLUME_RATIO = 10
# Names compared at most (the busiest): pairs grow with the square.
MAX_TYPO_NAMES = 1000


def edit_distance(a: str, b: str, limit: int) -> int:
    """Optimal string alignment distance of `a` and `b`, or `limit + 1` as soon as it must exceed `limit`."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        current = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                current[j] = min(current[j], previous2[j - 2] + 1)
        if min(current) > limit:
            return limit + 1
        previous2, previous = previous, current
    return min(previous[-1], limit + 1)


def typo_limit(name: str, other: str) -> int:
    return 1 if min(len(name), len(other)) <= 5 else 2


@dataclass(frozen=True)
class EventFigures:
    name: str
    volume: int
    first_seen: date | None
    last_seen: date | None = None


def possible_typos(events: list[EventFigures]) -> list[TaxonomyWarning]:
    busiest = sorted(events, key=lambda e: (-e.volume, e.name))[:MAX_TYPO_NAMES]
    found = []
    for suspect in busiest:
        best: tuple[int, int, str] | None = None
        for known in busiest:
            if known.name == suspect.name or known.volume < suspect.volume * TYPO_VOLUME_RATIO:
                continue
            if suspect.first_seen and known.first_seen and suspect.first_seen < known.first_seen:
                continue
            limit = typo_limit(suspect.name, known.name)
            distance = edit_distance(suspect.name.lower(), known.name.lower(), limit)
            if distance <= limit and (best is None or (distance, -known.volume, known.name) < best):
                best = (distance, -known.volume, known.name)
        if best is not None:
            distance, volume, similar = best
            found.append(
                TaxonomyWarning(
                    kind="possible_typo",
                    subject=suspect.name,
                    message=f"event {suspect.name!r} looks like a typo of {similar!r}",
                    count=suspect.volume,
                    details={"similar_to": similar, "distance": distance, "similar_volume": -volume},
                )
            )
    return sorted(found, key=lambda w: (-w.count, w.subject))


def type_changes(properties: list[PropertyEntry]) -> list[TaxonomyWarning]:
    found = []
    for prop in properties:
        if len(prop.types) < 2:
            continue
        latest = max(prop.types, key=lambda t: (t.last_seen, t.type))
        found.append(
            TaxonomyWarning(
                kind="type_changed",
                subject=prop.key,
                message=f"property {prop.key!r} arrived as {', '.join(t.type for t in prop.types)}",
                count=sum(t.events for t in prop.types[1:]),
                details={"types": {t.type: t.events for t in prop.types}, "latest_type": latest.type},
            )
        )
    return sorted(found, key=lambda w: (-w.count, w.subject))
