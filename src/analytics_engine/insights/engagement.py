"""Engagement: active users (DAU, WAU, MAU and stickiness DAU/MAU per local day), the days-active
histogram per week or month, and lifecycle (new, returning, resurrecting, dormant) per bucket.

- WAU/MAU of a day: people active on any of the 7/30 local days ending that day.
- lifecycle of a bucket: new = first-ever activity in it; returning = active in it and the previous
  bucket; resurrecting = active in it, not in the previous one, seen before; dormant = active in the
  previous bucket but not in it (given as a negative count, as charts stack it).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from analytics_engine.errors import InvalidInput
from analytics_engine.insights import person_bitmaps
from analytics_engine.insights.base import SQL, Executor, InsightRunner
from analytics_engine.insights.dates import bucket_key, bucket_label, bucket_sql, buckets, local_bucket
from analytics_engine.insights.filters import Params, filters_sql
from analytics_engine.insights.models import EngagementQuery
from analytics_engine.insights.preaggregations import PERSON_WEEKS, SERVED_BY, Planner, Window, fresh_as_of
from analytics_engine.insights.results import EngagementResult, InsightResponse, Point, Series
from analytics_engine.warehouse.params import utc_text

_PREVIOUS = {"day": "subtractDays(b, 1)", "week": "subtractWeeks(b, 1)", "month": "subtractMonths(b, 1)"}
_NEXT = {"day": "addDays(x, 1)", "week": "addWeeks(x, 1)", "month": "addMonths(x, 1)"}


def _ratio(part: float, whole: float) -> float:
    return round(part / whole, 6) if whole else 0.0


class EngagementRunner(InsightRunner[EngagementQuery]):
    kind = "engagement"
    result_class = EngagementResult

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        interval = "day" if self.query.measure == "active_users" else self.query.interval
        try:
            self.buckets = buckets(self.range, interval)
        except ValueError as exc:
            raise InvalidInput(str(exc), code="invalid_query") from None
        self.interval = interval

    def nested_filters(self) -> list[list[Any]]:
        return [self.query.event_filters]

    def _where(self, params: Params, start: datetime, end: datetime) -> str:
        where = self.base_where(params, [], start=start, end=end)
        if self.query.event is not None:
            where.append(f"event = {params.add(self.query.event, 'String')}")
        where += filters_sql(self.query.event_filters, params, self.cohorts)
        return " AND ".join(where)

    def _active_window(self) -> Window:
        return Window(self.range.start - timedelta(days=31), self.range.end, "day", self.tz)

    def preaggregated(self) -> bool:
        """DAU/WAU/MAU from `person_weeks` when it answers exactly (insights/preaggregations.py);
        days_active and lifecycle read raw events."""
        if self.query.measure != "active_users":
            return False
        filters = [*self.query.all_filters(), *self.query.event_filters]
        return Planner.applies(self, filters, [self._active_window()], breakdown=False)

    def _active_days(self, params: Params) -> str:
        """Per person, the sorted local days with activity."""
        if self.preaggregated():
            self.served_by, self.served_from = SERVED_BY, PERSON_WEEKS
            filters = [*self.query.all_filters(), *self.query.event_filters]
            days = Planner(self, params).bucket_bits(self.query.event, filters, self._active_window())
            return f"SELECT {days.dates()} AS ds FROM ({days.sql})"
        where = self._where(params, self._active_window().start, self.range.end)
        return (
            f"SELECT arraySort(groupUniqArray(toDate(timestamp, {{tz:String}}))) AS ds FROM {self.events} "
            f"WHERE {where} GROUP BY {self.unit_key()}"
        )

    def bitmapped(self) -> bool:
        """DAU/WAU/MAU from the person bitmaps when they answer exactly (insights/person_bitmaps.py)."""
        if self.query.measure != "active_users":
            return False
        filters = [*self.query.all_filters(), *self.query.event_filters]
        return person_bitmaps.applies(self, filters, [self._active_window()], breakdown=False)

    def to_sql(self) -> list[SQL]:
        if self.bitmapped():
            self.served_by, self.served_from = SERVED_BY, person_bitmaps.TABLE
            return [person_bitmaps.active_users_sql(self)]
        params = self.new_params()
        measure = self.query.measure
        self.served_by, self.served_from = "raw", None
        if measure == "active_users":
            # Per person, the sorted active days; each active day covers the days until the next one
            # (at most 30) with its gap g: DAU counts g = 0, WAU g < 7, MAU g < 30. No day is covered
            # twice for a person, so plain counts replace distinct counts.
            days = self._active_days(params)
            first = params.add(self.buckets[0], "Date")
            last = params.add(self.buckets[-1], "Date")
            spans = (
                "arrayMap(i -> (ds[i], if(i = length(ds), 30, least(dateDiff('day', ds[i], ds[i + 1]), 30))), "
                "arrayEnumerate(ds))"
            )
            sql = (
                "SELECT day, countIf(g = 0) AS dau, countIf(g < 7) AS wau, count() AS mau FROM ("
                f"SELECT addDays(span.1, g) AS day, g FROM ({days}) ARRAY JOIN {spans} AS span "
                f"ARRAY JOIN range(span.2) AS g) WHERE day >= {first} AND day <= {last} GROUP BY day"
            )
        elif measure == "days_active":
            where = self._where(params, self.range.start, self.range.end)
            period = bucket_sql(self.interval, "timestamp", "{tz:String}")
            sql = (
                f"SELECT period, days, count() AS people FROM (SELECT {self.unit_key()} AS person, "
                f"{period} AS period, uniqExact(toDate(timestamp, {{tz:String}})) AS days FROM {self.events} "
                f"WHERE {where} GROUP BY person, period) GROUP BY period, days"
            )
        else:
            previous = _previous_start(self.buckets[0], self.interval, self.range.zone)
            where = self._where(params, datetime(1970, 1, 1, tzinfo=previous.tzinfo), self.range.end)
            bucket = bucket_sql(self.interval, "timestamp", "{tz:String}")
            since = params.add(utc_text(previous), "DateTime64(3)")
            first = params.add(self.buckets[0], "Date")
            first_bucket = bucket_sql(self.interval, "min(timestamp)", "{tz:String}")
            users = (
                f"SELECT {self.unit_key()} AS person, {first_bucket} AS first_b, "
                f"groupUniqArrayIf({bucket}, timestamp >= {since}) AS active FROM {self.events} "
                f"WHERE {where} GROUP BY person"
            )
            candidates = f"arrayDistinct(arrayConcat(active, arrayMap(x -> {_NEXT[self.interval]}, active)))"
            prev = _PREVIOUS[self.interval]
            sql = (
                "SELECT b, countIf(has(active, b) AND first_b = b) AS new, "
                f"countIf(has(active, b) AND has(active, {prev}) AND first_b < b) AS returning, "
                f"countIf(has(active, b) AND NOT has(active, {prev}) AND first_b < b) AS resurrecting, "
                f"countIf(NOT has(active, b) AND has(active, {prev})) AS dormant "
                f"FROM ({users}) ARRAY JOIN {candidates} AS b WHERE b >= {first} AND b <= "
                f"{params.add(self.buckets[-1], 'Date')} GROUP BY b"
            )
        name = f"{measure}:preaggregation" if self.served_by == SERVED_BY else measure
        return [SQL(name, sql, params.values)]

    def calculate(self, executor: Executor) -> InsightResponse:
        # taken before the statement runs: every event committed by then is in the pre-aggregation
        started = fresh_as_of()
        rows = executor.run(self.to_sql()[0]).rows
        zone = self.range.zone
        labels = [bucket_label(b, zone) for b in self.buckets]
        measure = self.query.measure
        if measure == "active_users":
            active = {bucket_key(r[0]): r[1:] for r in rows}
            columns = list(zip(*(active.get(b, (0, 0, 0)) for b in self.buckets), strict=True))
            dau, wau, mau = ([int(v) for v in col] for col in columns)
            stickiness = [_ratio(d, m) for d, m in zip(dau, mau, strict=True)]
            series = [
                self._series(name, values, labels)
                for name, values in (("DAU", dau), ("WAU", wau), ("MAU", mau), ("Stickiness (DAU/MAU)", stickiness))
            ]
            days = len(self.buckets)
            totals = {
                "average_dau": round(sum(dau) / days, 3),
                "average_wau": round(sum(wau) / days, 3),
                "average_mau": round(sum(mau) / days, 3),
                "stickiness": _ratio(sum(dau), sum(mau)),
            }
        elif measure == "days_active":
            width = 7 if self.interval == "week" else 31
            by_days: dict[Any, dict[int, int]] = {}
            for period, days, people in rows:
                by_days.setdefault(bucket_key(period), {})[int(days)] = int(people)
            overall = [0] * width
            series = []
            for bucket, label in zip(self.buckets, labels, strict=True):
                counts = [by_days.get(bucket, {}).get(d, 0) for d in range(1, width + 1)]
                overall = [a + b for a, b in zip(overall, counts, strict=True)]
                series.append(
                    self._series(label, counts, [f"{d} day{'s' if d > 1 else ''}" for d in range(1, width + 1)])
                )
            series.insert(
                0, self._series("All periods", overall, [f"{d} day{'s' if d > 1 else ''}" for d in range(1, width + 1)])
            )
            totals = {"people_periods": sum(overall)}
        else:
            lifecycle = {bucket_key(r[0]): [int(v) for v in r[1:]] for r in rows}
            names = ("new", "returning", "resurrecting", "dormant")
            series = []
            totals = {}
            for i, name in enumerate(names):
                sign = -1 if name == "dormant" else 1
                values = [sign * lifecycle.get(b, [0, 0, 0, 0])[i] for b in self.buckets]
                series.append(self._series(name, values, labels))
                totals[name] = sum(values)
        fresh = started if self.served_by == SERVED_BY else None
        return self.response(interval=self.interval, series=series, totals=totals, fresh_as_of=fresh)

    def _series(self, label: str, values: Sequence[float], labels: list[str]) -> Series:
        total = float(sum(values)) if label not in {"Stickiness (DAU/MAU)"} else None
        return Series(
            label=label,
            points=[Point(label=lbl, bucket=lbl, value=v) for lbl, v in zip(labels, values, strict=True)],
            total=total,
        )


def _previous_start(first: date | datetime, interval: str, zone: ZoneInfo) -> datetime:
    """UTC start of the bucket before `first` (the lifecycle's previous bucket)."""
    assert isinstance(first, date)
    day = first - timedelta(days=1)
    previous = local_bucket(datetime(day.year, day.month, day.day, 12, tzinfo=zone), interval, zone)
    return datetime(previous.year, previous.month, previous.day, tzinfo=zone)
