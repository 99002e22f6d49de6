"""The taxonomy's warning rules: the edit distance against a plain recursive definition, and which
event names are flagged as typos and which properties as having changed type."""

from __future__ import annotations

from datetime import UTC, date, datetime
from functools import cache

from hypothesis import given
from hypothesis import strategies as st

from analytics_engine.taxonomy.schemas import PropertyEntry, TypeCount
from analytics_engine.taxonomy.warnings import EventFigures, edit_distance, possible_typos, type_changes


def osa(a: str, b: str) -> int:
    """Optimal string alignment distance, straight from its definition."""

    @cache
    def d(i: int, j: int) -> int:
        if i == 0 or j == 0:
            return i + j
        best = min(d(i - 1, j) + 1, d(i, j - 1) + 1, d(i - 1, j - 1) + (a[i - 1] != b[j - 1]))
        if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
            best = min(best, d(i - 2, j - 2) + 1)
        return best

    return d(len(a), len(b))


@given(st.text("abcs_", max_size=8), st.text("abcs_", max_size=8), st.integers(0, 3))
def test_edit_distance_matches_the_definition(a, b, limit):
    expected = osa(a, b)
    assert edit_distance(a, b, limit) == (expected if expected <= limit else limit + 1)


def _event(name: str, volume: int, day: int) -> EventFigures:
    return EventFigures(name, volume, date(2026, 11, day))


def test_typos_of_busier_older_names_are_flagged():
    events = [
        _event("signup", 1000, 1),
        _event("sigunp", 3, 20),  # a swap: distance 1
        _event("Signup", 2, 21),  # case only: distance 0
        _event("purchase", 500, 1),
        _event("purchased", 200, 2),  # close, but not rare enough next to purchase
        _event("login", 900, 1),
        _event("logon", 5, 1),  # short names allow 1: "login" -> "logon" is 1
        _event("view", 50, 1),
        _event("vie", 1, 1),  # 1 edit, but first seen no later: still flagged
        _event("old_sigup", 2, 1),
    ]
    found = {w.subject: w for w in possible_typos(events)}
    assert set(found) == {"sigunp", "Signup", "logon", "vie"}
    assert found["sigunp"].details == {"similar_to": "signup", "distance": 1, "similar_volume": 1000}
    assert found["sigunp"].count == 3
    # Seen before the busier name existed: not a typo of it.
    assert not possible_typos([_event("signup", 1000, 10), _event("sigunp", 3, 1)])


def test_a_property_with_two_json_types_is_flagged():
    at = datetime(2026, 11, 1, tzinfo=UTC)
    later = datetime(2026, 11, 20, tzinfo=UTC)
    entry = PropertyEntry(
        key="amount",
        type="number",
        types=[TypeCount(type="number", events=90, last_seen=at), TypeCount(type="string", events=10, last_seen=later)],
        volume=100,
        event_names=["purchase"],
        first_seen=at,
        last_seen=later,
    )
    (warning,) = type_changes([entry, entry.model_copy(update={"key": "plan", "types": entry.types[:1]})])
    assert warning.subject == "amount" and warning.count == 10
    assert warning.details == {"types": {"number": 90, "string": 10}, "latest_type": "string"}
