"""The in-warehouse generator: exact counts, the funnel and retention shape, deterministic by seed."""

from __future__ import annotations

from datetime import UTC, datetime

from analytics_engine.datagen.sql_generator import SqlGeneratorSpec, count_events, generate_in_warehouse
from analytics_engine.runtime import Runtime

END = datetime(2026, 6, 1, tzinfo=UTC)


def test_generates_exactly_the_events_asked_with_a_realistic_shape(runtime: Runtime) -> None:
    progress: list[int] = []
    spec = SqlGeneratorSpec("tn_gen_a", 6_000, days=60, end=END, seed=3, chunk_events=2_500)
    assert generate_in_warehouse(runtime.warehouse, spec, on_progress=progress.append) == 6_000
    assert sum(progress) == 6_000 and len(progress) == 3
    assert count_events(runtime.warehouse, "tn_gen_a") == 6_000
    events = runtime.warehouse.table("events")
    shape = runtime.warehouse.query(
        f"""SELECT
              countIf(event = 'signup') AS signups,
              uniqExactIf(distinct_id, event = 'activated') AS activated,
              uniqExactIf(distinct_id, event = 'purchase') AS buyers,
              uniqExact(distinct_id) AS users,
              min(timestamp) >= {{start:DateTime64(3, 'UTC')}} AND max(timestamp) < {{end:DateTime64(3, 'UTC')}}
                AS in_range,
              countIf(event = 'purchase' AND properties.amount::Nullable(Float64) > 0) = countIf(event = 'purchase')
                AS amounts,
              uniqExact(toString(properties.plan)) AS plans
            FROM {events} WHERE tenant_id = 'tn_gen_a'""",
        {"start": "2026-04-02 00:00:00.000", "end": "2026-06-01 00:00:00.000"},
    ).dicts()[0]
    assert shape["in_range"] == 1 and shape["amounts"] == 1 and shape["plans"] == 3
    # every user signs up once; activation and purchase drop off
    assert shape["signups"] == shape["users"]
    assert shape["users"] > shape["activated"] > shape["buyers"] > 0
    assert 0.4 < shape["activated"] / shape["users"] < 0.95
    # nobody activates before signing up
    early = runtime.warehouse.query(
        f"""SELECT count() FROM (
              SELECT distinct_id, minIf(timestamp, event = 'signup') AS s, minIf(timestamp, event = 'activated') AS a
              FROM {events} WHERE tenant_id = 'tn_gen_a' GROUP BY distinct_id HAVING a > 0 AND a < s)"""
    ).scalar()
    assert early == 0


def test_same_seed_same_events(runtime: Runtime) -> None:
    for tenant in ("tn_gen_b", "tn_gen_c"):
        generate_in_warehouse(runtime.warehouse, SqlGeneratorSpec(tenant, 1_500, days=30, end=END, seed=11))
    events = runtime.warehouse.table("events")
    fingerprint = (
        f"SELECT groupArraySorted(2000)((event, distinct_id, timestamp)) FROM {events} "
        "WHERE tenant_id = {tenant_id:String}"
    )
    one = runtime.warehouse.query(fingerprint, {"tenant_id": "tn_gen_b"}).scalar()
    two = runtime.warehouse.query(fingerprint, {"tenant_id": "tn_gen_c"}).scalar()
    assert len(one) == 1_500 and one == two


def test_arrivals_follow_the_events_except_a_backfilled_month(runtime: Runtime) -> None:
    """Live traffic (`arrival_lag_seconds`): each event arrives within the lag after its timestamp,
    except the backfilled month's, which arrive at generation; the duplicate check keeps only the
    arrivals of its last days, as its TTL would have left it (the bench lifecycle's steady state)."""
    spec = SqlGeneratorSpec(
        "tn_gen_arrival", 3_000, days=60, end=END, seed=5, arrival_lag_seconds=600, backfilled_month=202605
    )
    assert generate_in_warehouse(runtime.warehouse, spec) == 3_000
    events, ids = runtime.warehouse.table("events"), runtime.warehouse.table("event_ids")
    found = runtime.warehouse.query(
        f"""SELECT
              countIf(toYYYYMM(timestamp) != 202605) AS live,
              countIf(toYYYYMM(timestamp) != 202605 AND received_at >= timestamp
                      AND received_at < timestamp + toIntervalSecond(600)) AS live_in_lag,
              countIf(toYYYYMM(timestamp) = 202605) AS backfilled,
              countIf(toYYYYMM(timestamp) = 202605 AND received_at >= now64(3) - toIntervalHour(1)) AS backfilled_now
            FROM {events} WHERE tenant_id = 'tn_gen_arrival'"""
    ).dicts()[0]
    assert found["live"] > 0 and found["live_in_lag"] == found["live"]
    assert found["backfilled"] > 0 and found["backfilled_now"] == found["backfilled"]
    kept = runtime.warehouse.query(
        f"SELECT count(), countIf(received_at < now() - toIntervalDay(8)) FROM {ids} WHERE tenant_id = 'tn_gen_arrival'"
    ).rows[0]
    assert (int(kept[0]), int(kept[1])) == (found["backfilled"], 0)
