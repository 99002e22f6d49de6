"""SLA signals of a tenant as series of UTC hour or day buckets, read where they are measured:

- `ingest_lag_seconds`: p95 of `received_at - timestamp` (seconds) of the tenant's events received in
  the bucket (warehouse `events`); no events: no value.
- `rejected_rate`: rejected / (accepted + rejected) events received in the bucket (warehouse
  `rejected_events` and `events`), 0..1; nothing received: no value.
- `query_p95_ms`: p95 of the tenant's warehouse statements (milliseconds) in the bucket, as this
  process saw them (`observability/latency.py`, last 48 hours); none: no value.
- `job_failures`: the tenant's jobs of the given kinds (`analytics_jobs`) that ended `failed` in
  the bucket; 0 when none.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from analytics_engine.alerts.schemas import SlaSource
from analytics_engine.metadata.models import Job
from analytics_engine.observability.latency import QUERY_LATENCY, percentile

if TYPE_CHECKING:
    from analytics_engine.alerts.conditions import Point
    from analytics_engine.runtime import Runtime

STEP = {"hour": timedelta(hours=1), "day": timedelta(days=1)}
# Events received in a bucket are looked up among events whose own time is at most this much older
# (the partition and sort key are on `timestamp`, not `received_at`).
LATE_EVENTS = timedelta(days=30)


def bucket_start(moment: datetime, interval: str) -> datetime:
    moment = moment.astimezone(UTC)
    if interval == "hour":
        return moment.replace(minute=0, second=0, microsecond=0)
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


def bucket_times(start: datetime, end: datetime, interval: str) -> list[datetime]:
    out, current = [], bucket_start(start, interval)
    while current < end:
        out.append(current)
        current += STEP[interval]
    return out


def _by_bucket(rows: list[tuple[Any, ...]]) -> dict[datetime, Any]:
    out = {}
    for bucket, value in rows:
        moment = bucket if isinstance(bucket, datetime) else datetime(bucket.year, bucket.month, bucket.day)
        out[moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)] = value
    return out


def _warehouse_counts(runtime: Runtime, tenant: Any, table: str, start: datetime, end: datetime, interval: str) -> Any:
    scope = runtime.warehouse.for_tenant(tenant, background=True)
    bucket = "toStartOfHour(received_at)" if interval == "hour" else "toStartOfDay(received_at)"
    extra = " AND timestamp >= {late:DateTime64(3)}" if table == "events" else ""
    result = scope.query(
        f"SELECT {bucket} AS b, count() FROM {scope.table(table)} WHERE tenant_id = {{tenant_id:String}} "
        f"AND received_at >= {{start:DateTime64(3)}} AND received_at < {{end:DateTime64(3)}}{extra} GROUP BY b",
        {"start": start, "end": end, "late": start - LATE_EVENTS},
    )
    return _by_bucket(result.rows)


def sla_series(runtime: Runtime, tenant: Any, source: SlaSource, start: datetime, end: datetime) -> list[Point]:
    """The signal per bucket touching [start, end), oldest first."""
    times = bucket_times(start, end, source.interval)
    if not times:
        return []
    first, last = times[0], times[-1] + STEP[source.interval]
    values: dict[datetime, float | None]
    if source.signal == "rejected_rate":
        rejected = _warehouse_counts(runtime, tenant, "rejected_events", first, last, source.interval)
        accepted = _warehouse_counts(runtime, tenant, "events", first, last, source.interval)
        values = {}
        for moment in times:
            bad, good = rejected.get(moment, 0), accepted.get(moment, 0)
            values[moment] = bad / (bad + good) if bad + good else None
    elif source.signal == "ingest_lag_seconds":
        scope = runtime.warehouse.for_tenant(tenant, background=True)
        bucket = "toStartOfHour(received_at)" if source.interval == "hour" else "toStartOfDay(received_at)"
        result = scope.query(
            f"SELECT {bucket} AS b, quantile(0.95)(dateDiff('millisecond', timestamp, received_at)) / 1000.0 "
            f"FROM {scope.table('events')} WHERE tenant_id = {{tenant_id:String}} "
            "AND received_at >= {start:DateTime64(3)} AND received_at < {end:DateTime64(3)} "
            "AND timestamp >= {late:DateTime64(3)} GROUP BY b",
            {"start": first, "end": last, "late": first - LATE_EVENTS},
        )
        lags = _by_bucket(result.rows)
        values = {moment: (max(0.0, float(lags[moment])) if moment in lags else None) for moment in times}
    elif source.signal == "query_p95_ms":
        tenant_id = tenant.tenant_id
        values = {}
        for moment in times:
            p95 = percentile(QUERY_LATENCY.samples(tenant_id, moment, moment + STEP[source.interval]), 0.95)
            values[moment] = None if p95 is None else p95 * 1000.0
    else:
        values = job_failures(runtime, tenant.tenant_id, source, times)
    return [(moment, values.get(moment)) for moment in times]


def job_failures(runtime: Runtime, tenant_id: str, source: SlaSource, times: list[datetime]) -> dict[datetime, Any]:
    step = STEP[source.interval]
    counts: dict[datetime, float | None] = dict.fromkeys(times, 0.0)
    with runtime.metadata.session() as session:
        query = select(Job.finished_at).where(
            Job.tenant_id == tenant_id,
            Job.kind.in_(source.job_kinds),
            Job.state == "failed",
            Job.finished_at >= times[0],
            Job.finished_at < times[-1] + step,
        )
        for (finished,) in session.execute(query.limit(100_000)):
            if finished is None:
                continue
            moment = bucket_start(finished if finished.tzinfo else finished.replace(tzinfo=UTC), source.interval)
            if moment in counts:
                counts[moment] = (counts[moment] or 0.0) + 1
    return counts
