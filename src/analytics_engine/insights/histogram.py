"""Times to convert as a distribution: fixed, human bins (10 s, 30 s, 1 min, 5 min, ... 30 days)
cut at the funnel's conversion window, so every funnel of one window has the same columns and a
reader can compare them. One rule for the SQL (bin index from the upper edges) and the answer.

A time t (seconds) falls in the first bin whose upper edge is above it; the last bin ends at the
window and includes it (a step may complete exactly at the window's edge).
"""

from __future__ import annotations

from pydantic import BaseModel, Field

# Upper edges in seconds, from 10 seconds to a year: each about 2-5x the previous one.
_EDGES = (
    10,
    30,
    60,
    5 * 60,
    15 * 60,
    30 * 60,
    3600,
    3 * 3600,
    6 * 3600,
    12 * 3600,
    86400,
    2 * 86400,
    3 * 86400,
    7 * 86400,
    14 * 86400,
    30 * 86400,
    60 * 86400,
    90 * 86400,
    180 * 86400,
    365 * 86400,
)


class TimeBin(BaseModel):
    from_seconds: float = Field(description="Lower edge (included).")
    to_seconds: float = Field(description="Upper edge (excluded; the last bin includes the window itself).")
    label: str
    count: int = Field(description="People whose time falls in this bin.")


def upper_edges(window_seconds: int) -> list[int]:
    """The bins' upper edges for a conversion window: the fixed edges below it, then the window."""
    return [edge for edge in _EDGES if edge < window_seconds] + [window_seconds]


def bin_index(seconds: float, edges: list[int]) -> int:
    """0-based bin of a time (the plain rule the SQL's `arrayFirstIndex` implements)."""
    for i, edge in enumerate(edges[:-1]):
        if seconds < edge:
            return i
    return len(edges) - 1


def duration_label(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)} {unit}"
    return f"{seconds:g} s"


def time_bins(edges: list[int], counts: dict[int, int]) -> list[TimeBin]:
    """The bins with their counts (`counts`: 0-based bin -> people; absent bins are 0)."""
    bins = []
    lower = 0
    for i, upper in enumerate(edges):
        label = f"{duration_label(lower) if lower else '0'} - {duration_label(upper)}"
        bins.append(TimeBin(from_seconds=lower, to_seconds=upper, label=label, count=int(counts.get(i, 0))))
        lower = upper
    return bins


def bin_ms_sql(milliseconds: str, edges: list[int]) -> str:
    """The 0-based bin of a whole number of `milliseconds` in SQL, as `bin_index` says: how many edges
    below the last one are at or below it. The edges are inlined (whole seconds from `upper_edges`, never
    user text) as scalar comparisons in ms: an `arrayCount` lambda over an edges parameter, in seconds,
    cost ~3x as much over 350k people (issue 18)."""
    terms = " + ".join(f"({milliseconds} >= {int(edge) * 1000})" for edge in edges[:-1])
    return f"toUInt8({terms or '0'})"
