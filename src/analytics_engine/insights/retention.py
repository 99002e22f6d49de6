"""Retention: people who did the start event in a period (their cohort), and how many came back
with the return event in each following period. Period 0 is the cohort itself (its size).

- first_time: a person's cohort is the period of their first-ever start event (it must fall in the
  date range). recurring: a person belongs to every period of the range in which they did it.
- Periods are local days, Monday weeks or months in the query's time zone; up to 36 columns.
- Breakdown: the value on the person's first start event of the cohort period; top N + '$other', the
  values ranked by distinct people (a recurring person counts once per value, not once per cohort).
- Returns count up to the end of the last cohort's last period, computed on the local calendar (so a
  daylight-saving change inside the window neither cuts nor adds an hour), whatever the range end.
- A cell whose period has not started by `now` is in the future: null, not 0. Totals per period
  weigh only the cohorts that reached it (docs/insights.md, "Retention").
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from analytics_engine.errors import InvalidInput
from analytics_engine.insights import person_bitmaps
from analytics_engine.insights.base import SQL, Executor, InsightRunner
from analytics_engine.insights.dates import bucket_sql, buckets, period_start
from analytics_engine.insights.filters import OTHER, Params, breakdown_sql, filters_sql
from analytics_engine.insights.models import RetentionQuery
from analytics_engine.insights.preaggregations import PERSON_WEEKS, SERVED_BY, Planner, Window, fresh_as_of
from analytics_engine.insights.results import (
    InsightResponse,
    Point,
    RetentionCohort,
    RetentionPeoplePage,
    RetentionResult,
    Series,
)
from analytics_engine.insights.trends import breakdown_label

MAX_PEOPLE_PAGE = 1000
_ADD = {"day": "addDays", "week": "addWeeks", "month": "addMonths"}


def period_start_utc(day: date, zone: ZoneInfo) -> datetime:
    """The UTC moment a local period starting on `day` begins: its local midnight (or, where a
    daylight-saving change skips midnight, the first moment of that day)."""
    return datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(UTC)


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

    def return_cutoff(self) -> datetime:
        """Where return events stop counting: the end of the last cohort's last period, i.e. the start
        of period `periods` after the last cohort, by the local calendar. Adding a fixed number of
        days in UTC instead would stop an hour short when an autumn change falls inside the window and
        the range ends in the first hour of its last period."""
        last = self.cohort_buckets[-1]
        return period_start_utc(period_start(last, self.query.period, self.query.periods), self.range.zone)

    def reached(self, cohort: date, offset: int) -> bool:
        """Whether period `offset` of the cohort starting `cohort` has begun by `now` (else the cell
        lies in the future and is null)."""
        return period_start_utc(period_start(cohort, self.query.period, offset), self.range.zone) <= self.now

    def cache_range_end(self) -> datetime:
        return max(self.range.end, self.return_cutoff())

    def _event_where(self, params: Params, spec: Any, start: datetime | None, end: datetime) -> list[str]:
        if start is None:  # first-time: the whole history before the range end
            start = datetime(1970, 1, 1, tzinfo=end.tzinfo)
        where = self.base_where(params, [], start=start, end=end)
        if spec.event is not None:
            where.append(f"event = {params.add(spec.event, 'String')}")
        where += filters_sql(spec.filters, params, self.cohorts)
        return where

    def _windows(self) -> list[Window]:
        """The windows whose events are put into buckets (first-time cohorts use exact first times)."""
        period, tz = self.query.period, self.tz
        returns = Window(self.range.start, self.return_cutoff(), period, tz)
        if self.query.start_type == "recurring":
            return [Window(self.range.start, self.range.end, period, tz), returns]
        return [returns]

    def preaggregated(self) -> bool:
        """Whether `person_weeks` answers this query exactly (insights/preaggregations.py)."""
        query = self.query
        filters = [*query.all_filters(), *query.start_event.filters, *query.return_event.filters]
        return Planner.applies(self, filters, self._windows(), bool(query.breakdown))

    def _preaggregated_sql(self) -> SQL:
        """The raw statement's twin over the pre-aggregation: the same cohorts, returns and cells."""
        query = self.query
        params = self.new_params()
        planner = Planner(self, params)
        base = list(query.all_filters())
        start_filters = [*base, *query.start_event.filters]
        windows = self._windows()
        if query.start_type == "first_time":
            start = params.add(_text(self.range.start), "DateTime64(3)")
            first = bucket_sql(query.period, "first_ts", "{tz:String}")
            history = planner.first_times(query.start_event.event, start_filters, self.range.end)
            starts = (
                f"SELECT person, {first} AS cohort, CAST([], 'Array(String)') AS bd FROM ({history}) "
                f"WHERE first_ts >= {start}"
            )
        else:
            cohorts = planner.bucket_bits(query.start_event.event, start_filters, windows[0])
            starts = (
                f"SELECT person, {cohorts.key('n')} AS cohort, CAST([], 'Array(String)') AS bd "
                f"FROM ({cohorts.sql}) ARRAY JOIN {cohorts.numbers()} AS n"
            )
        returns = planner.bucket_bits(query.return_event.event, [*base, *query.return_event.filters], windows[-1])
        # cells as bits: bucket c + p of the returns window (cohorts lie in it: it starts at the range).
        # One sum per period rather than sumForEach of a per-row arrayMap (a lambda capturing the row's
        # words): the same numbers, ~6% less CPU for the whole 12-week retention at 10M events.
        index = returns.index("cohort")
        cells = _per_period_sums(lambda p: returns.has(f"({index} + {p})"), query.periods)
        sql = (
            f"SELECT cohort, bd, count() AS size, {cells} AS returned "
            f"FROM ({starts}) AS s LEFT JOIN ({returns.sql}) AS r USING (person) GROUP BY cohort, bd"
        )
        return SQL("retention:preaggregation", sql, params.values)

    def bitmapped(self) -> bool:
        """Whether the person bitmaps answer exactly (insights/person_bitmaps.py): the range's own ends
        must be whole hours too (its hours are split into starts and history, or starts and none)."""
        query = self.query
        filters = [*query.all_filters(), *query.start_event.filters, *query.return_event.filters]
        windows = [*self._windows(), Window(self.range.start, self.range.end, query.period, self.tz)]
        return person_bitmaps.applies(self, filters, windows, bool(query.breakdown))

    def to_sql(self) -> list[SQL]:
        if self.bitmapped():
            self.served_by, self.served_from = SERVED_BY, person_bitmaps.TABLE
            return [person_bitmaps.retention_sql(self)]
        if self.preaggregated():
            self.served_by, self.served_from = SERVED_BY, PERSON_WEEKS
            return [self._preaggregated_sql()]
        self.served_by, self.served_from = "raw", None
        params = self.new_params()
        starts, returns = self._raw_parts(params, self.unit_key())  # people, or groups (docs/groups.md)
        add = _ADD[self.query.period]
        # one sum per period, as in the pre-aggregated statement (~5% less CPU at 10M than sumForEach)
        cells = _per_period_sums(lambda p: f"has(rets, {add}(cohort, {p}))", self.query.periods)
        sql = (
            f"SELECT cohort, bd, count() AS size, {cells} AS returned "
            f"FROM ({starts}) AS s LEFT JOIN ({returns}) AS r USING (person) GROUP BY cohort, bd"
        )
        return [SQL("retention", sql, params.values)]

    def _raw_parts(
        self, params: Params, person: str, *, fold: bool = True, first_ts: bool = False, history: str | None = None
    ) -> tuple[str, str]:
        """The raw statement's two halves: each person's cohort(s) with their breakdown value (`starts`),
        and the periods each came back in (`returns`); `person` is the unit's key (`unit_key`: people or
        groups), or its id (`unit_id`) to list them. Without `fold` the breakdown values are kept whole
        (no top N; `insights/segments.py` folds per dimension itself); with `first_ts` (first-time cohorts)
        `starts` also carries the moment of the first start event. `history` (first-time cohorts, people
        by `person_key`): `(person, first_ts)` of each person's first start event before the range end,
        from the pre-aggregation (`Planner.first_times`), in place of reading every event of the history;
        the events of the range are then read only for the breakdown values at those moments."""
        query = self.query
        bucket = bucket_sql(query.period, "timestamp", "{tz:String}")
        raw_bd = (
            breakdown_sql(query.breakdown, params, self.cohorts) if query.breakdown else "CAST([], 'Array(String)')"
        )
        if query.start_type == "first_time" and history is not None:
            start = params.add(_text(self.range.start), "DateTime64(3)")
            first = bucket_sql(query.period, "first_ts", "{tz:String}")
            firsts = f"SELECT person, first_ts FROM ({history}) WHERE first_ts >= {start}"
            if query.breakdown:
                where = self._event_where(params, query.start_event, self.range.start, self.range.end)
                firsts = (
                    f"SELECT {person} AS person, min(timestamp) AS first_ts, argMin({raw_bd}, timestamp) AS bd "
                    f"FROM {self.events} WHERE {' AND '.join(where)} "
                    f"AND ({person}, timestamp) IN ({firsts}) GROUP BY person"
                )
            else:
                firsts = f"SELECT person, first_ts, {raw_bd} AS bd FROM ({firsts})"
            starts = f"SELECT person, {first} AS cohort, bd{', first_ts' if first_ts else ''} FROM ({firsts})"
        elif query.start_type == "first_time":
            where = self._event_where(params, query.start_event, None, self.range.end)
            start = params.add(_text(self.range.start), "DateTime64(3)")
            first = bucket_sql(query.period, "first_ts", "{tz:String}")
            conditions = " AND ".join(where)
            if query.breakdown:
                # The breakdown values read only at each person's first start event: extracting the
                # properties from every event of the history took 12 s of the 14 s statement of
                # insights/segments.py at 10M events; this reads timestamps twice and properties once.
                firsts = (
                    f"SELECT {person} AS person, min(timestamp) AS first_ts FROM {self.events} WHERE {conditions} "
                    f"GROUP BY person HAVING first_ts >= {start}"
                )
                conditions += f" AND ({person}, timestamp) IN (SELECT person, first_ts FROM ({firsts}))"
            starts = (
                f"SELECT person, {first} AS cohort, bd{', first_ts' if first_ts else ''} "
                f"FROM (SELECT {person} AS person, min(timestamp) AS first_ts, "
                f"argMin({raw_bd}, timestamp) AS bd FROM {self.events} WHERE {conditions} "
                f"GROUP BY person HAVING first_ts >= {start})"
            )
        else:
            where = self._event_where(params, query.start_event, self.range.start, self.range.end)
            starts = (
                f"SELECT {person} AS person, {bucket} AS cohort, argMin({raw_bd}, timestamp) AS bd FROM {self.events} "
                f"WHERE {' AND '.join(where)} GROUP BY person, cohort"
            )
        if query.breakdown and fold:
            other = params.add(OTHER, "String")
            limit = int(query.breakdown_limit)
            starts = (
                f"SELECT person, cohort, if(rank <= {limit}, bd, [{other}]) AS bd FROM ("
                f"SELECT person, cohort, bd, dense_rank() OVER (ORDER BY people DESC, bd) AS rank FROM ("
                # distinct people, not (person, cohort) rows: in recurring retention one person is
                # in many cohorts and would otherwise rank a value by how often they came back
                f"SELECT *, uniqExact(person) OVER (PARTITION BY bd) AS people FROM ({starts})))"
            )
        return_where = self._event_where(params, query.return_event, self.range.start, self.return_cutoff())
        returns = (
            f"SELECT {person} AS person, groupUniqArray({bucket}) AS rets FROM {self.events} "
            f"WHERE {' AND '.join(return_where)} GROUP BY person"
        )
        return starts, returns

    def people(
        self, cohort: date, period: int, breakdown_value: list[str] | None = None, limit: int = 100, offset: int = 0
    ) -> RetentionPeoplePage:
        """The people behind one cell: the cohort starting `cohort` (period 0), or those of it who came
        back in period `period`; with a breakdown, of the row with `breakdown_value` (`$other` too).
        By distinct id, sorted, paged; the same cohorts and returns as the matrix (raw events)."""
        query = self.query
        if cohort not in self.cohort_buckets:
            raise InvalidInput(
                f"cohort must be the first day of one of the query's {query.period}s: "
                f"{self.cohort_buckets[0].isoformat()} .. {self.cohort_buckets[-1].isoformat()}",
                code="invalid_query",
            )
        if not 0 <= period < query.periods:
            raise InvalidInput(f"period must be 0-{query.periods - 1}", code="invalid_query")
        if not 1 <= limit <= MAX_PEOPLE_PAGE or offset < 0:
            raise InvalidInput(f"limit must be 1-{MAX_PEOPLE_PAGE} and offset >= 0", code="invalid_query")
        if bool(query.breakdown) != (breakdown_value is not None):
            raise InvalidInput(
                "breakdown_value is needed with a breakdown (the row's value), and only then", code="invalid_query"
            )
        self.resolve_cohorts()
        self.resolve_materialized()
        params = self.new_params()
        starts, returns = self._raw_parts(params, self.unit_id())
        conditions = [f"cohort = {params.add(cohort.isoformat(), 'Date')}"]
        if breakdown_value is not None:
            conditions.append(f"bd = {params.add(list(breakdown_value), 'Array(String)')}")
        if period:
            conditions.append(f"has(rets, {_ADD[query.period]}(cohort, {int(period)}))")
        text = (
            f"SELECT DISTINCT person FROM ({starts}) AS s LEFT JOIN ({returns}) AS r USING (person) "
            f"WHERE {' AND '.join(conditions)} ORDER BY person LIMIT {int(limit) + 1} OFFSET {int(offset)}"
        )
        rows = Executor(self.runtime, self.tenant.tenant_id).run(SQL("people", text, params.values)).rows
        people = [str(row[0]) for row in rows]
        return RetentionPeoplePage(
            people=people[:limit],
            cohort=cohort,
            period=period,
            breakdown_value=breakdown_value,
            limit=limit,
            offset=offset,
            has_more=len(people) > limit,
        )

    def calculate(self, executor: Executor) -> InsightResponse:
        query = self.query
        # taken before the statement runs: every event committed by then is in the pre-aggregation
        started = fresh_as_of()
        rows = executor.run(self.to_sql()[0]).rows
        found = {(row[0], tuple(row[1])): (int(row[2]), [int(v) for v in row[3]]) for row in rows}
        values_by_bd = sorted({key[1] for key in found}, key=lambda bd: (OTHER in bd, bd))
        if not query.breakdown:
            values_by_bd = [()]
        cohorts: list[RetentionCohort] = []
        series: list[Series] = []
        # per period: people in cohorts that reached it, and how many of them returned in it
        reached = [0] * query.periods
        returned_sum = [0] * query.periods
        periods_reached = [False] * query.periods
        for bd in values_by_bd:
            for start in self.cohort_buckets:
                size, returned = found.get((start, bd), (0, []))
                returned = (returned + [0] * query.periods)[: query.periods - 1]
                values: list[int | None] = [size]
                for p, v in enumerate(returned, start=1):
                    values.append(v if self.reached(start, p) else None)
                for p, count in enumerate(values):
                    if count is not None:
                        periods_reached[p] = True
                        reached[p] += size
                        returned_sum[p] += count
                percentages = [_percent(v, size) for v in values]
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
        totals = {
            "cohorts": sum(1 for c in cohorts if c.size),
            "people": reached[0],
            # weighted by cohort size over the cohorts that reached the period; null when none has
            "retention": [
                _percent(returned_sum[p], reached[p]) if periods_reached[p] else None for p in range(query.periods)
            ],
            "reached": reached,
            "returned": returned_sum,
        }
        fresh = started if self.served_by == SERVED_BY else None
        return self.response(interval=query.period, series=series, totals=totals, retention=cohorts, fresh_as_of=fresh)


def _percent(value: int | None, size: int) -> float | None:
    if value is None:
        return None
    return round(value / size * 100, 3) if size else 0.0


def _text(moment: datetime) -> str:
    from analytics_engine.warehouse.params import utc_text

    return utc_text(moment)


def _per_period_sums(returned_in: Callable[[int], str], periods: int) -> str:
    """The matrix's cells of one row: an array of, per period 1..periods-1, how many came back
    (`returned_in(p)`: the condition for period p)."""
    sums = ", ".join(f"sum(toUInt64({returned_in(p)}))" for p in range(1, periods))
    return f"[{sums}]" if sums else "CAST([], 'Array(UInt64)')"
