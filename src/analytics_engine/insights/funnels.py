"""Funnels: 2-20 steps, conversion window overall and per step, ordered/strict/unordered, entry by
date range, breakdowns, per-step counts, conversion rates and times, dropped-off people, and the
conversion rate as a trend by entry bucket. SQL in `funnels_builder.py`."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

from analytics_engine.errors import InvalidInput
from analytics_engine.insights.base import SQL, Executor, InsightRunner
from analytics_engine.insights.dates import bucket_key, bucket_label, buckets
from analytics_engine.insights.filters import OTHER
from analytics_engine.insights.funnels_builder import people_sql, steps_sql
from analytics_engine.insights.histogram import TimeBin, time_bins, upper_edges
from analytics_engine.insights.models import FunnelsQuery
from analytics_engine.insights.results import (
    FunnelBreakdownResult,
    FunnelsResult,
    FunnelStepResult,
    InsightResponse,
    PeoplePage,
    Point,
    Series,
)
from analytics_engine.insights.trends import breakdown_label

MAX_PEOPLE_PAGE = 1000


def _number(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return None if math.isnan(value) else round(value, 3)


def _rate(part: int, whole: int) -> float:
    return round(part / whole, 6) if whole else 0.0


class FunnelsRunner(InsightRunner[FunnelsQuery]):
    kind = "funnels"
    result_class = FunnelsResult

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        try:
            self.buckets = buckets(self.range, self.query.interval) if self.query.interval else []
        except ValueError as exc:
            raise InvalidInput(str(exc), code="invalid_query") from None

    def nested_filters(self) -> list[list[Any]]:
        return [s.filters for s in self.query.steps]

    def cache_range_end(self) -> datetime:
        return self.range.end + timedelta(seconds=self.query.conversion_window.seconds)

    def to_sql(self) -> list[SQL]:
        text, params = steps_sql(self)
        return [SQL("steps", text, params)]

    def step_label(self, index: int) -> str:
        step = self.query.steps[index]
        return step.label or f"{index + 1}. {step.event}"

    def calculate(self, executor: Executor) -> InsightResponse:
        rows = executor.run(self.to_sql()[0]).rows
        groups: list[FunnelBreakdownResult] = []
        trend: dict[Any, tuple[int, int]] = {}
        n = len(self.query.steps)
        edges = upper_edges(self.query.conversion_window.seconds)
        timed = self.query.order != "unordered"

        def hist(per_bin: Any) -> list[TimeBin] | None:
            return time_bins(edges, dict(enumerate(per_bin))) if timed else None

        for bd, entry_bucket, is_bucket_row, counts, avgs, medians, hists, overall in rows:
            counts = [int(c) for c in counts]
            if is_bucket_row:
                trend[bucket_key(entry_bucket)] = (counts[0], counts[-1])
                continue
            steps = []
            for i in range(n):
                previous = counts[i - 1] if i else counts[0]
                steps.append(
                    FunnelStepResult(
                        step=i + 1,
                        label=self.step_label(i),
                        event=self.query.steps[i].event,
                        count=counts[i],
                        conversion_from_previous=_rate(counts[i], previous),
                        conversion_from_first=_rate(counts[i], counts[0]),
                        dropped=previous - counts[i],
                        median_seconds=_number(medians[i - 1]) if i else None,
                        average_seconds=_number(avgs[i - 1]) if i else None,
                        time_to_convert=hist(hists[i - 1]) if i else None,
                    )
                )
            groups.append(
                FunnelBreakdownResult(
                    breakdown_value=list(bd) if self.query.breakdown else None,
                    steps=steps,
                    time_to_convert=hist(overall),
                )
            )
        groups.sort(key=lambda g: (OTHER in (g.breakdown_value or ()), -g.steps[0].count, g.breakdown_value or []))
        if not groups and not self.query.breakdown:
            empty = [
                FunnelStepResult(
                    step=i + 1,
                    label=self.step_label(i),
                    event=s.event,
                    count=0,
                    conversion_from_previous=0.0,
                    conversion_from_first=0.0,
                    dropped=0,
                    time_to_convert=hist([]) if i else None,
                )
                for i, s in enumerate(self.query.steps)
            ]
            groups.append(FunnelBreakdownResult(breakdown_value=None, steps=empty, time_to_convert=hist([])))
        series = [
            Series(
                label=breakdown_label(tuple(g.breakdown_value)) if g.breakdown_value else "All people",
                points=[Point(label=s.label, value=s.count) for s in g.steps],
                total=g.steps[0].count,
                breakdown_value=g.breakdown_value,
                meta={"conversion_rate": g.steps[-1].conversion_from_first},
            )
            for g in groups
        ]
        if self.query.interval:
            zone = self.range.zone
            points = []
            for bucket in self.buckets:
                entered, converted = trend.get(bucket, (0, 0))
                label = bucket_label(bucket, zone)
                points.append(Point(label=label, bucket=label, value=_rate(converted, entered) * 100))
            series.append(Series(label="Conversion rate (%)", points=points, meta={"trend": True}))
        entered = sum(g.steps[0].count for g in groups)
        converted = sum(g.steps[-1].count for g in groups)
        totals = {"entered": entered, "converted": converted, "conversion_rate": _rate(converted, entered)}
        return self.response(interval=self.query.interval, series=series, totals=totals, funnel=groups)

    def people(self, step: int, status: str, limit: int = 100, offset: int = 0) -> PeoplePage:
        """The people who reached `step` (converted) or reached the step before but not it (dropped)."""
        n = len(self.query.steps)
        if not 1 <= step <= n or (status == "dropped" and step < 2):
            raise InvalidInput(f"step must be 1-{n} (2-{n} for dropped)", code="invalid_query")
        if not 1 <= limit <= MAX_PEOPLE_PAGE or offset < 0:
            raise InvalidInput(f"limit must be 1-{MAX_PEOPLE_PAGE} and offset >= 0", code="invalid_query")
        self.resolve_cohorts()
        text, params = people_sql(self, step, status, limit, offset)
        rows = Executor(self.runtime, self.tenant.tenant_id).run(SQL("people", text, params)).rows
        people = [row[0] for row in rows]
        return PeoplePage(
            people=people[:limit],
            step=step,
            status=status,
            limit=limit,
            offset=offset,
            has_more=len(people) > limit,
        )
