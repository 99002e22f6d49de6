"""Date ranges, intervals and time zones.

A range is `[start, end)` in UTC, resolved from the query's `date_from`/`date_to` in the query's time
zone: absolute (`2026-03-01`, `2026-03-01T10:00:00`), relative (`-30d`, `-24h`, `-8w`, `-6m`, `-1y`,
`-2q`), or named (`today`, `yesterday`, `wtd`, `mtd`, `qtd`, `ytd`). A date `date_to` includes that
whole day; a relative `date_to` (`-1d`) includes the whole day it names; a missing `date_to` is the
end of today. Buckets are computed in the time zone, so a day is always one local calendar day
(23 or 25 hours across daylight-saving changes) and never duplicated or missing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, Field, field_validator

from analytics_engine.insights.filters import Strict
from analytics_engine.validation import check_warehouse_time

Interval = Literal["hour", "day", "week", "month", "quarter"]
_RELATIVE = re.compile(r"^-(\d{1,4})([hdwmqy])$")
_NAMED = {"today", "yesterday", "wtd", "mtd", "qtd", "ytd"}
MAX_BUCKETS = 5000


def check_timezone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name[:60]!r} (use an IANA name like 'Europe/Oslo')") from None
    return name


def _check_spec(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    if value in _NAMED or _RELATIVE.match(value):
        return value
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(
            f"invalid date {value[:40]!r}: use ISO 8601 (2026-03-01, 2026-03-01T10:00), -30d/-24h/-8w/-6m/-1y, "
            "today, yesterday, wtd, mtd, qtd or ytd"
        ) from None
    check_warehouse_time(parsed)
    return value


DateSpec = Annotated[str, AfterValidator(_check_spec)]
"""A date spec (ISO, relative or named) whose absolute form the warehouse can store; 422 otherwise."""


class DateRange(Strict):
    date_from: str | None = Field("-7d", description="Start: ISO date/time, -30d, mtd, ytd... (default -7d).")
    date_to: str | None = Field(None, description="End: ISO date (whole day included) or time; default now.")

    _check = field_validator("date_from", "date_to")(classmethod(lambda cls, v: _check_spec(v)))


@dataclass(frozen=True)
class Resolved:
    """The UTC range `[start, end)` and the zone it was resolved in."""

    start: datetime
    end: datetime
    tz: str

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.tz)

    def previous(self, interval: str, steps: int) -> Resolved:
        """The previous period for compare: both ends moved back `steps` intervals (the number of
        points of the range) by the local calendar, real hours for `hour` (`step_back`). It has as
        many buckets as the range, point i covering the same part of its bucket as the range's
        point i; for a range on bucket edges (every date range by day) it ends where the range
        starts. Not the range's length in seconds: that is off by an hour across a DST change."""
        return Resolved(
            step_back(self.start, interval, steps, self.zone), step_back(self.end, interval, steps, self.zone), self.tz
        )


def _local_midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=zone)


def add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def period_start(day: date, period: str, offset: int) -> date:
    """The start of the period `offset` periods after the one starting `day` (retention's rule)."""
    if period == "day":
        return day + timedelta(days=offset)
    if period == "week":
        return day + timedelta(days=7 * offset)
    return add_months(day, offset)


def _resolve(spec: str, zone: ZoneInfo, now: datetime, *, is_end: bool) -> datetime:
    local_now = now.astimezone(zone)
    today = local_now.date()
    if spec == "today":
        return _local_midnight(today + timedelta(days=1 if is_end else 0), zone)
    if spec == "yesterday":
        return _local_midnight(today if is_end else today - timedelta(days=1), zone)
    if spec in {"wtd", "mtd", "qtd", "ytd"}:
        if is_end:
            return _local_midnight(today + timedelta(days=1), zone)
        if spec == "wtd":
            return _local_midnight(today - timedelta(days=today.weekday()), zone)
        if spec == "mtd":
            return _local_midnight(today.replace(day=1), zone)
        if spec == "qtd":
            return _local_midnight(date(today.year, (today.month - 1) // 3 * 3 + 1, 1), zone)
        return _local_midnight(date(today.year, 1, 1), zone)
    match = _RELATIVE.match(spec)
    if match:
        amount, unit = int(match.group(1)), match.group(2)
        if unit == "h":
            hour = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=amount)
            return hour + timedelta(hours=1) if is_end else hour
        if unit in {"d", "w"}:
            day = today - timedelta(days=amount * (7 if unit == "w" else 1))
        else:
            months = amount * {"m": 1, "q": 3, "y": 12}[unit]
            back = add_months(today.replace(day=1), -months)
            day = back.replace(day=min(today.day, _month_length(back)))
        return _local_midnight(day + timedelta(days=1) if is_end else day, zone)
    parsed = datetime.fromisoformat(spec)
    if parsed.tzinfo is None:
        is_date_only = len(spec) <= 10
        if is_date_only:
            return _local_midnight(parsed.date() + timedelta(days=1 if is_end else 0), zone)
        parsed = parsed.replace(tzinfo=zone)
    return parsed


def _month_length(day: date) -> int:
    return (add_months(day, 1) - timedelta(days=1)).day


def step_back(moment: datetime, interval: str, steps: int, zone: ZoneInfo) -> datetime:
    """`moment` (UTC) moved back `steps` intervals: real hours for `hour`; otherwise the same local
    wall-clock time `steps` days, weeks (7 days), months or quarters (3 months) earlier, a day the
    month lacks becoming its last day (03-31 -> 02-28), a wall-clock time a DST change skips or
    repeats resolved as zoneinfo does (fold=0: the offset before the change)."""
    if interval == "hour":
        return moment - timedelta(hours=steps)
    local = moment.astimezone(zone).replace(tzinfo=None, fold=0)
    if interval in {"day", "week"}:
        local -= timedelta(days=steps * (7 if interval == "week" else 1))
    else:
        first = add_months(local.date(), -steps * (1 if interval == "month" else 3))
        local = local.replace(year=first.year, month=first.month, day=min(local.day, _month_length(first)))
    return local.replace(tzinfo=zone).astimezone(UTC)


def resolve_range(date_range: DateRange, tz: str, now: datetime | None = None) -> Resolved:
    now = now or datetime.now(UTC)
    zone = ZoneInfo(tz)
    start = _resolve(date_range.date_from or "-7d", zone, now, is_end=False)
    end = (
        _resolve(date_range.date_to, zone, now, is_end=True)
        if date_range.date_to
        else _resolve("today", zone, now, is_end=True)
    )
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    if start >= end:
        raise ValueError(f"date_from ({start.isoformat()}) must be before date_to ({end.isoformat()})")
    return Resolved(start, end, tz)


# --- buckets -----------------------------------------------------------------------------------------
def bucket_sql(interval: str, column: str, tz_param: str) -> str:
    """SQL of the local bucket start: a Date for day and coarser, a DateTime for hour."""
    return {
        "hour": f"toStartOfHour({column}, {tz_param})",
        "day": f"toDate({column}, {tz_param})",
        "week": f"toStartOfWeek({column}, 1, {tz_param})",
        "month": f"toStartOfMonth({column}, {tz_param})",
        "quarter": f"toStartOfQuarter({column}, {tz_param})",
    }[interval]


def local_bucket(moment: datetime, interval: str, zone: ZoneInfo) -> date | datetime:
    """Python twin of `bucket_sql` (a UTC-aware datetime for hour)."""
    local = moment.astimezone(zone)
    if interval == "hour":
        return local.replace(minute=0, second=0, microsecond=0).astimezone(UTC)
    day = local.date()
    if interval == "day":
        return day
    if interval == "week":
        return day - timedelta(days=day.weekday())
    if interval == "month":
        return day.replace(day=1)
    return date(day.year, (day.month - 1) // 3 * 3 + 1, 1)


def next_bucket(bucket: date | datetime, interval: str) -> date | datetime:
    if interval == "hour":
        return bucket + timedelta(hours=1)
    if interval == "day":
        return bucket + timedelta(days=1)
    if interval == "week":
        return bucket + timedelta(days=7)
    return add_months(bucket, 1 if interval == "month" else 3)


def buckets(resolved: Resolved, interval: str) -> list[date | datetime]:
    """Every bucket touching `[start, end)`, in order, none missing, none twice."""
    zone = resolved.zone
    current = local_bucket(resolved.start, interval, zone)
    last = local_bucket(resolved.end - timedelta(milliseconds=1), interval, zone)
    out: list[date | datetime] = []
    while current <= last:
        out.append(current)
        if len(out) > MAX_BUCKETS:
            raise ValueError(f"the range holds more than {MAX_BUCKETS} {interval} buckets; use a coarser interval")
        current = next_bucket(current, interval)
    return out


def bucket_key(value: date | datetime) -> date | datetime:
    """Normalise a bucket as the driver returns it (naive UTC datetime for hour) to `buckets()` form."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC)
    return value


def bucket_label(value: date | datetime, zone: ZoneInfo) -> str:
    if isinstance(value, datetime):
        return value.astimezone(zone).isoformat()
    return value.isoformat()
