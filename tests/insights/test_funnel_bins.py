"""The time-to-convert bin of a gap in SQL (`bin_ms_sql`, whole milliseconds against the edges in ms)
is the bin `bin_index` gives for the gap in seconds, and the one the earlier SQL (an `arrayCount` over
the edges in seconds, on the gap divided by 1000) gave: at every edge, one millisecond either side, and
for windows from a minute to a year (issue 18)."""

from __future__ import annotations

import pytest

from analytics_engine.insights.histogram import bin_index, bin_ms_sql, upper_edges


@pytest.mark.parametrize("window_seconds", [60, 3600, 86400, 14 * 86400, 30 * 86400, 400 * 86400])
def test_bin_of_a_gap_in_ms_matches_bin_index(runtime, window_seconds):
    edges = upper_edges(window_seconds)
    gaps = sorted({max(0, edge * 1000 + d) for edge in [0, *edges] for d in (-1, 0, 1)} | {1, 999, 1001})
    earlier = "toUInt8(arrayCount(b -> b <= g / 1000, arrayPopBack({e:Array(Float64)})))"
    rows = runtime.warehouse.query(
        f"SELECT g, {bin_ms_sql('g', edges)}, {earlier} FROM (SELECT arrayJoin({{gaps:Array(Int64)}}) AS g) ORDER BY g",
        {"gaps": gaps, "e": [float(edge) for edge in edges]},
    ).rows
    assert [row[0] for row in rows] == gaps
    for gap, new, old in rows:
        assert new == bin_index(gap / 1000, edges) == old, gap
