"""Millions of realistic events generated inside ClickHouse (`INSERT ... SELECT FROM numbers()`),
for benchmarks: about 100k events/s on 2 cores against about 10k/s through Python.

The shape follows `generator.py` with hashes of (seed, user, event number) in place of a random
generator, so a seed always gives the same users and events (event ids aside):
- users sign up over the period with growth (square root of a uniform: later is likelier);
- engagement is skewed (most users light, a few heavy) and drives how many events a user sends
  and how long the user stays (exponential lifetime: the retention curve decays);
- each user's first event is `signup`; then `activated` for 55-85% of them (about 20 hours later),
  then `purchase` for a share of those (about 4 days later; more often on paid plans); afterwards
  `pageview` (60%), `feature_used` (35%) and repeat purchases, spread over the user's active days
  at daytime hours. So funnels signup -> activated -> ... convert with realistic drop-off;
- properties plan (free 70% / pro 25% / enterprise 5%), country and browser (skewed), utm_source on
  signups, path on page views, feature on feature use, amount (log-normal by plan) and currency on
  purchases; typed in the JSON column as ingest would type them;
- each user belongs to one of 5,000 companies, carried by every event as `$groups.company` (group
  analytics, docs/groups.md: about 40 users per company at 200k users).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from analytics_engine.personids.hours import rebuild_tenant
from analytics_engine.warehouse.client import Warehouse
from analytics_engine.warehouse.params import utc_text

# One user's attributes from hashes of (seed, user number, salt) mapped to [0, 1).
_USERS = """
SELECT number AS u,
    cityHash64({seed:UInt64}, number, 1) / 18446744073709551616.0 AS h1,
    cityHash64({seed:UInt64}, number, 2) / 18446744073709551616.0 AS h2,
    cityHash64({seed:UInt64}, number, 3) / 18446744073709551616.0 AS h3,
    cityHash64({seed:UInt64}, number, 4) / 18446744073709551616.0 AS h4,
    cityHash64({seed:UInt64}, number, 5) / 18446744073709551616.0 AS h5,
    cityHash64({seed:UInt64}, number, 6) / 18446744073709551616.0 AS h6,
    pow(h2, 2) AS engagement,
    {start:DateTime64(3, 'UTC')} + toIntervalSecond(toUInt32(sqrt(h1) * {span:UInt32})) AS signup,
    toUInt32(-log(h3 + 1e-12) * (5 + 90 * engagement)) AS lifetime_days,
    toUInt32(3 + -log(h4 + 1e-12) * {mean:Float64} * (0.3 + 2.1 * engagement)) AS n_events,
    multiIf(h5 < 0.7, 'free', h5 < 0.95, 'pro', 'enterprise') AS plan,
    multiIf(h5 < 0.7, 20.0, h5 < 0.95, 60.0, 400.0) AS scale,
    ['US','GB','DE','NO','FR','IN','BR','NG','CA','ES','JP','KE'][1 + toUInt32(pow(h6, 2) * 12)] AS country,
    ['Chrome','Chrome','Chrome','Chrome','Chrome','Safari','Safari','Firefox','Edge','Other'][
        1 + toUInt32(h6 * 997 % 10)] AS browser,
    ['direct','direct','direct','google','google','google','newsletter','newsletter','partner','linkedin'][
        1 + toUInt32(h1 * 7919 % 10)] AS source,
    h3 * 3.1 % 1 < 0.55 + 0.3 * engagement AS activated,
    activated AND h4 * 7.7 % 1 < if(plan = 'free', 0.25, 0.6) AS purchased,
    toUInt32(-log(h5 * 13.3 % 1 + 1e-12) * 72000) AS act_delay,
    toUInt32(-log(h6 * 17.9 % 1 + 1e-12) * 345600) AS buy_delay,
    concat('company-', toString(toUInt32(h1 * 104729) % 5000)) AS company
FROM numbers({first_user:UInt64}, {users:UInt64})
"""

# One row per (user, event number k).
_EVENTS = f"""
SELECT
    {{tenant_id:String}} AS tenant_id,
    concat('user-', toString({{seed:UInt64}}), '-', toString(u)) AS distinct_id,
    multiIf(k = 0, 'signup', k = 1 AND activated, 'activated', k = 2 AND purchased, 'purchase',
            rk < 0.6, 'pageview', rk < 0.95, 'feature_used', activated, 'purchase', 'pageview') AS event,
    multiIf(k = 0, signup,
            k = 1 AND activated, signup + toIntervalSecond(act_delay),
            k = 2 AND purchased, signup + toIntervalSecond(act_delay + buy_delay),
            toStartOfDay(signup) + toIntervalSecond(
                86400 * (1 + intDiv(toUInt64(k) * lifetime_days, n_events)) + 28800 + toUInt32(hk * 43200)
            )) AS ts,
    CAST(CAST(tuple(
        plan, country, browser,
        if(event = 'signup', source, NULL),
        if(event = 'pageview',
           ['/home','/dashboard','/courses','/sessions','/settings','/reports','/help'][1 + toUInt32(pow(hk, 1.5) * 7)],
           NULL),
        if(event = 'feature_used',
           ['export','invite','comment','schedule','search','upload'][1 + toUInt32(pow(hk, 1.2) * 6)], NULL),
        if(event = 'purchase',
           round(scale * exp(0.6 * sqrt(-2 * log(hk + 1e-12)) * cos(6.283185307 * rk)), 2), NULL),
        if(event = 'purchase', 'USD', NULL),
        tuple(company)
    ), 'Tuple(plan String, country String, browser String, utm_source Nullable(String), path Nullable(String),
              feature Nullable(String), amount Nullable(Float64), currency Nullable(String),
              `$groups` Tuple(company String))') AS JSON) AS properties
FROM ({_USERS}) AS users
ARRAY JOIN range(n_events) AS k
ARRAY JOIN [cityHash64({{seed:UInt64}}, u, k) / 18446744073709551616.0] AS rk
ARRAY JOIN [cityHash64({{seed:UInt64}}, u, k, 2) / 18446744073709551616.0] AS hk
"""


@dataclass(frozen=True)
class SqlGeneratorSpec:
    tenant_id: str
    events: int
    days: int = 180
    end: datetime | None = None
    seed: int = 7
    mean_events_per_user: float = 25.0
    chunk_events: int = 1_000_000
    # Arrival (`received_at`): None, the moment of the insert (a bulk load of history, the default);
    # else each event arrives within this many seconds after its timestamp (live traffic), except
    # the events of `backfilled_month` (YYYYMM), which arrive at the insert (a month loaded late).
    arrival_lag_seconds: int | None = None
    backfilled_month: int | None = None


def events_select(spec: SqlGeneratorSpec) -> tuple[str, dict[str, object]]:
    """The SELECT producing the events of users [first_user, first_user + users) before `end`;
    its parameters `first_user`, `users` and `limit` are filled per chunk."""
    end = (spec.end or datetime.now(UTC)).replace(microsecond=0)
    start = end - timedelta(days=spec.days)
    sql = f"SELECT * FROM ({_EVENTS}) WHERE ts < {{end:DateTime64(3, 'UTC')}} LIMIT {{limit:UInt64}}"
    params: dict[str, object] = {
        "tenant_id": spec.tenant_id,
        "seed": spec.seed,
        "start": utc_text(start),
        "end": utc_text(end),
        "span": int((end - start).total_seconds()),
        "mean": float(spec.mean_events_per_user),
    }
    if spec.arrival_lag_seconds is not None:
        params["lag"] = max(1, int(spec.arrival_lag_seconds))
        params["backfilled"] = int(spec.backfilled_month or 0)
    return sql, params


# `received_at` of a generated event when arrivals follow the events (`arrival_lag_seconds`): never
# later than the insert itself.
ARRIVAL = (
    "if(toYYYYMM(ts) = {backfilled:UInt32}, now64(3), "
    "least(now64(3), ts + toIntervalMillisecond(cityHash64(event_id) % ({lag:UInt64} * 1000))))"
)


def count_events(warehouse: Warehouse, tenant_id: str) -> int:
    return int(
        warehouse.query(
            f"SELECT count() FROM {warehouse.table('events')} WHERE tenant_id = {{tenant_id:String}}",
            {"tenant_id": tenant_id},
        ).scalar()
    )


def generate_in_warehouse(
    warehouse: Warehouse, spec: SqlGeneratorSpec, on_progress: Callable[[int], None] | None = None
) -> int:
    """Insert exactly `spec.events` events for the tenant (chunks of about `chunk_events`); returns
    the number inserted. Safe to call on a tenant that has events: they are added to."""
    select, params = events_select(spec)
    # Events per user after the end-of-range cut, measured on a sample of users.
    sample = warehouse.query(
        f"SELECT count() FROM ({select})", {**params, "first_user": 10**9, "users": 20_000, "limit": 10**12}
    ).scalar()
    per_user = max(1.0, sample / 20_000)
    table = warehouse.table("events")
    if spec.arrival_lag_seconds is None:
        insert = (
            f"INSERT INTO {table} (tenant_id, event, distinct_id, timestamp, event_id, properties) "
            f"SELECT tenant_id, event, distinct_id, ts, generateUUIDv4(), properties FROM ({select}) "
            "SETTINGS max_insert_threads = 2"
        )
    else:
        insert = (
            f"INSERT INTO {table} (tenant_id, event, distinct_id, timestamp, event_id, received_at, properties) "
            f"SELECT tenant_id, event, distinct_id, ts, event_id, {ARRIVAL}, properties "
            # event_ids (partitioned by day of arrival) receives a partition per day of history.
            f"FROM (SELECT *, generateUUIDv4() AS event_id FROM ({select})) "
            "SETTINGS max_insert_threads = 2, max_partitions_per_insert_block = 0"
        )
    before = count_events(warehouse, spec.tenant_id)
    done, first_user = 0, 0
    while done < spec.events:
        want = min(spec.chunk_events, spec.events - done)
        users = max(1, math.ceil(want / per_user * 1.05))
        warehouse.command(insert, {**params, "first_user": first_user, "users": users, "limit": want})
        first_user += users
        now = count_events(warehouse, spec.tenant_id) - before
        if on_progress:
            on_progress(now - done)
        done = now
    if spec.arrival_lag_seconds is not None:
        _forget_old_arrivals(warehouse)
    # Rows written by SQL carry no person id: ids for the new people, then the tenant's person bitmaps.
    rebuild_tenant(warehouse, spec.tenant_id)
    return done


def _forget_old_arrivals(warehouse: Warehouse) -> None:
    """What live traffic would have left in the duplicate check (`event_ids`, 7 days by its TTL): its
    day partitions of older arrivals dropped, as its TTL would have done long ago."""
    rows = warehouse.query(
        "SELECT DISTINCT partition_id FROM system.parts WHERE database = {db:String} AND table = 'event_ids' "
        "AND active AND toDate(parseDateTimeBestEffortOrZero(partition_id)) < today() - 8",
        {"db": warehouse.database},
    ).rows
    table = warehouse.table("event_ids")
    for (partition,) in rows:
        warehouse.command(f"ALTER TABLE {table} DROP PARTITION ID {{p:String}}", {"p": str(partition)})
