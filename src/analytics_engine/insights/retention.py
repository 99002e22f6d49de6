"""Retention: people who did the start event in a period (their cohort), and how many came back
with the return event in each following period. Period 0 is the cohort itself (its size).

- first_time: a person's cohort is the period of their first-ever start event (it must fall in the
  date range). recurring: a person belongs to every period of the range in which they did it.
- Periods are local days, Monday weeks or months in the query's time zone; up to 36 columns.
- Breakdown: the value on the person's first start event of the cohort period; top N + '$other'.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from analytics_engine.errors import InvalidInput
from analytics_engine.insights.base import PERSON_KEY as PERSON
from analytics_engine.insights.base import SQL, Executor, InsightRunner
from analytics_engine.insights.dates import add_months, bucket_sql, buckets
from analytics_engine.insights.filters import OTHER, breakdown_sql, filters_sql
from analytics_engine.insights.models import RetentionQuery
from analytics_engine.insights.results import InsightResponse, Point, RetentionCohort, RetentionResult, Series
from analytics_engine.insights.trends import breakdown_label

_PERIOD_DAYS = {"day": 1, "week": 7, "month": 31}
_ADD = {"day": "addDays", "week": "addWeeks", "month": "addMonths"}


def period_start(day: date, period: str, offset: int) -> date:
    if period == "day":
        return day + timedelta(days=offset)
    if period == "week":
        return day + timedelta(days=7 * offset)
    return add_months(day, offset)


class RetentionRunner(InsightRunner[RetentionQuery]):
    kind = "retention"
    result_class = RetentionResult

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        try:
            self.cohort_buckets = buckets(self.range, self.query.period)
        except ValueError as exc:
            raise InvalidInput(str(exc), code="invalid_query") from None

    def nested_filters(self) -> list[list[Any]]:
        return [self.query.start_event.filters, self.query.return_event.filters]

    def cache_range_end(self) -> datetime:
        return self.range.end + timedelta(days=_PERIOD_DAYS[self.query.period] * self.query.periods)

    def _event_where(self, params: Any, spec: Any, start: datetime | None, end: datetime) -> list[str]:
        if start is None:  # first-time: the whole history before the range end
            start = datetime(1970, 1, 1, tzinfo=end.tzinfo)
        where = self.base_where(params, [], start=start, end=end)
        if spec.event is not None:
            where.append(f"event = {params.add(spec.event, 'String')}")
        where += filters_sql(spec.filters, params, self.cohorts)
        return where

    def to_sql(self) -> list[SQL]:
        query = self.query
        params = self.new_params()
        bucket = bucket_sql(query.period, "timestamp", "{tz:String}")
        raw_bd = (
            breakdown_sql(query.breakdown, params, self.cohorts) if query.breakdown else "CAST([], 'Array(String)')"
        )
        if query.start_type == "first_time":
            where = self._event_where(params, query.start_event, None, self.range.end)
            start = params.add(_text(self.range.start), "DateTime64(3)")
            first = bucket_sql(query.period, "first_ts", "{tz:String}")
            starts = (
                f"SELECT person, {first} AS cohort, bd FROM (SELECT {PERSON} AS person, min(timestamp) AS first_ts, "
                f"argMin({raw_bd}, timestamp) AS bd FROM {self.events} WHERE {' AND '.join(where)} "
                f"GROUP BY person HAVING first_ts >= {start})"
            )
        else:
            where = self._event_where(params, query.start_event, self.range.start, self.range.end)
            starts = (
                f"SELECT {PERSON} AS person, {bucket} AS cohort, argMin({raw_bd}, timestamp) AS bd FROM {self.events} "
                f"WHERE {' AND '.join(where)} GROUP BY person, cohort"
            )
        if query.breakdown:
            other = params.add(OTHER, "String")
            limit = int(query.breakdown_limit)
            starts = (
                f"SELECT person, cohort, if(rank <= {limit}, bd, [{other}]) AS bd FROM ("
                f"SELECT person, cohort, bd, dense_rank() OVER (ORDER BY people DESC, bd) AS rank FROM ("
                f"SELECT *, count() OVER (PARTITION BY bd) AS people FROM ({starts})))"
            )
        upper = self.range.end + timedelta(days=_PERIOD_DAYS[query.period] * query.periods)
        return_where = self._event_where(params, query.return_event, self.range.start, upper)
        returns = (
            f"SELECT {PERSON} AS person, groupUniqArray({bucket}) AS rets FROM {self.events} "
            f"WHERE {' AND '.join(return_where)} GROUP BY person"
        )
        cells = f"arrayMap(p -> toUInt64(has(rets, {_ADD[query.period]}(cohort, p))), range(1, {query.periods}))"
        sql = (
            f"SELECT cohort, bd, count() AS size, sumForEach({cells}) AS returned "
            f"FROM ({starts}) AS s LEFT JOIN ({returns}) AS r USING (person) GROUP BY cohort, bd"
        )
        return [SQL("retention", sql, params.values)]

    def calculate(self, executor: Executor) -> InsightResponse:
        query = self.query
        rows = executor.run(self.to_sql()[0]).rows
        found = {(row[0], tuple(row[1])): (int(row[2]), [int(v) for v in row[3]]) for row in rows}
        values_by_bd = sorted({key[1] for key in found}, key=lambda bd: (OTHER in bd, bd))
        if not query.breakdown:
            values_by_bd = [()]
        cohorts: list[RetentionCohort] = []
        series: list[Series] = []
        sums = [0] * query.periods
        for bd in values_by_bd:
            for start in self.cohort_buckets:
                size, returned = found.get((start, bd), (0, []))
                returned = (returned + [0] * query.periods)[: query.periods - 1]
                values = [size, *returned]
                for i, v in enumerate(values):
                    sums[i] += v
                percentages = [round(v / size * 100, 3) if size else 0.0 for v in values]
                label = start.isoformat() + (f" - {breakdown_label(bd)}" if bd else "")
                cohorts.append(
                    RetentionCohort(
                        label=label,
                        date=start.isoformat(),
                        size=size,
                        values=values,
                        percentages=percentages,
                        breakdown_value=list(bd) if query.breakdown else None,
                    )
                )
                series.append(
                    Series(
                        label=label,
                        points=[
                            Point(
                                label=f"{query.period.title()} {i}",
                                bucket=period_start(start, query.period, i).isoformat(),
                                value=v,
                            )
                            for i, v in enumerate(values)
                        ],
                        total=size,
                        breakdown_value=list(bd) if query.breakdown else None,
                    )
                )
        people = sums[0]
        totals = {
            "cohorts": sum(1 for c in cohorts if c.size),
            "people": people,
            "retention": [round(v / people * 100, 3) if people else 0.0 for v in sums],
        }
        return self.response(interval=query.period, series=series, totals=totals, retention=cohorts)


def _text(moment: datetime) -> str:
    from analytics_engine.warehouse.params import utc_text

    return utc_text(moment)
