"""The PDF's retention heat map (issue 27 item 5): a null cell (a period the cohort has not reached)
is drawn empty, never as 0%."""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from analytics_engine.exports.integrations import Section
from analytics_engine.insights.results import RetentionResult
from analytics_engine.reports.render import _draw_chart


def test_future_retention_cells_are_empty():
    result = RetentionResult.model_validate(
        {
            "kind": "retention",
            "timezone": "UTC",
            "date_from": "2026-09-07T00:00:00Z",
            "date_to": "2026-09-20T00:00:00Z",
            "computed_at": "2026-09-21T00:00:00Z",
            "retention": [
                {
                    "label": "2026-09-07",
                    "date": "2026-09-07",
                    "size": 2,
                    "values": [2, 1, None],
                    "percentages": [100.0, 50.0, None],
                },
                {
                    "label": "2026-09-14",
                    "date": "2026-09-14",
                    "size": 2,
                    "values": [2, None, None],
                    "percentages": [100.0, None, None],
                },
            ],
        }
    )
    figure, ax = plt.subplots()
    try:
        assert _draw_chart(ax, Section(title="Retention", kind="retention", result=result))
        grid = ax.images[0].get_array()
        assert grid[0][1] == 50.0
        assert all(math.isnan(float(grid.data[r][c])) or grid.mask[r][c] for r, c in [(0, 2), (1, 1), (1, 2)])
    finally:
        plt.close(figure)
