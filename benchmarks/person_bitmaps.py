# ruff: noqa: E501
"""Issue 18 measurement (2026-12-07): exact per-UTC-hour person bitmaps for retention, DAU and
DAU/WAU/MAU, against what serves those widgets today. A throwaway-table experiment, not a feature:
it builds `x_ids` and `x_hb_<variant>` in the data folder it is given (never a live service's).

    .venv/bin/python benchmarks/person_bitmaps.py DATA_DIR --variants d,h32,h64 --repeat 5 --build

DATA_DIR: a folder made by `analytics-engine bench dashboards --data-dir DATA_DIR` (tenant `gen-1`,
Europe/Berlin). Variants of the person id put in the bitmaps:
- `d`: dense ids (0..people-1, ranked by first seen), what a writer-assigned id would give;
- `h32`: the low 32 bits of `person_key` (cityHash64 of distinct_id; not injective: collisions);
- `h64`: `person_key` itself (exact, a 64-bit roaring map).
Per variant: bytes on disk, build CPU, and the CPU (time.process_time of this process: chDB runs in
it) of the dashboard's retention (8 weeks after signup, -90d), the DAU trend (unique users per day,
-90d) and DAU/WAU/MAU (-90d), each compared with the current answer; then the current widgets' own
CPU (funnel, retention, DAU trend, engagement; refresh=True) and the cost of looking up a batch's
person ids (the writer-side price of dense ids).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from analytics_engine.config import Settings
from analytics_engine.insights import parse_insight_query, run_insight, runner_for
from analytics_engine.insights.retention import period_start_utc
from analytics_engine.runtime import Runtime
from analytics_engine.tenants.service import TenantContext
from analytics_engine.warehouse.params import utc_text

WIDGETS = {
    "funnel": {
        "kind": "funnels",
        "steps": [{"event": "signup"}, {"event": "activated"}, {"event": "purchase"}],
        "conversion_window": {"value": 30, "unit": "day"},
        "date_range": {"date_from": "-90d"},
    },
    "retention": {
        "kind": "retention",
        "start_event": {"event": "signup"},
        "return_event": {"event": None},
        "period": "week",
        "periods": 8,
        "date_range": {"date_from": "-90d"},
    },
    "dau": {
        "kind": "trends",
        "series": [{"event": None, "math": "unique_users"}],
        "interval": "day",
        "date_range": {"date_from": "-90d"},
    },
    "engagement": {"kind": "engagement", "measure": "active_users", "date_range": {"date_from": "-90d"}},
}
ID_EXPR = {
    "d": ("UInt32", "i.id"),
    "h32": ("UInt32", "toUInt32(bitAnd(e.person_key, 4294967295))"),
    "h64": ("UInt64", "e.person_key"),
}


def cpu(fn: Callable[[], Any], repeat: int) -> tuple[Any, str]:
    cpus, walls, result = [], [], None
    for _ in range(repeat):
        c0, w0 = time.process_time(), time.perf_counter()
        result = fn()
        cpus.append((time.process_time() - c0) * 1000)
        walls.append((time.perf_counter() - w0) * 1000)
    return result, (
        f"cpu min {min(cpus):.0f} med {statistics.median(cpus):.0f} ms; wall min {min(walls):.0f} "
        f"med {statistics.median(walls):.0f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--variants", default="d")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--build", action="store_true")
    parser.add_argument("--widgets", action="store_true", help="also the current widgets' CPU")
    parser.add_argument("--lookup", action="store_true", help="also the id look-up per batch")
    parser.add_argument(
        "--granularity", type=int, default=8192, help="index_granularity of the bitmap tables (--build)"
    )
    parser.add_argument("--parts", action="store_true", help="also retention's parts alone (weeks, history, returns)")
    parser.add_argument(
        "--periods", type=int, default=8, help="retention periods (the dashboard: 8; bench insights: 12)"
    )
    parser.add_argument(
        "--date-from", default="-90d", help="retention range (the dashboard: -90d; bench insights: -12w)"
    )
    args = parser.parse_args()
    variants = args.variants.split(",")
    rt = Runtime.build(Settings(data_dir=args.data_dir, log_level="warning", log_json=False))
    tenant = next(t for t in rt.tenants.list() if t.name == "gen-1")
    ctx = TenantContext(tenant.id, tenant.name, tenant.timezone, frozenset({"read", "admin"}), "bench")
    wh = rt.warehouse
    tb = wh.table

    def q(sql: str, params: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
        bound = {"tenant_id": tenant.id, "tz": tenant.timezone, **(params or {})}
        return wh.query(sql, bound, settings={"max_execution_time": 0}, timeout=3600).rows

    if args.build:
        wh.command(f"DROP TABLE IF EXISTS {tb('x_ids')}")
        wh.command(
            f"CREATE TABLE {tb('x_ids')} ENGINE = MergeTree ORDER BY person_key AS SELECT person_key, "
            "toUInt32(row_number() OVER (ORDER BY first, person_key) - 1) AS id FROM (SELECT "
            f"cityHash64(distinct_id) AS person_key, min(first_seen) AS first FROM {tb('persons')} GROUP BY person_key)"
        )
        for v in variants:
            kind, expr = ID_EXPR[v]
            table = tb("x_hb_" + v)
            wh.command(f"DROP TABLE IF EXISTS {table}")
            wh.command(
                f"CREATE TABLE {table} (tenant_id LowCardinality(String), event LowCardinality(String), "
                f"hour DateTime('UTC'), ids AggregateFunction(groupBitmap, {kind})) ENGINE = AggregatingMergeTree "
                f"PARTITION BY toYYYYMM(hour) ORDER BY (tenant_id, event, hour) SETTINGS index_granularity = {args.granularity}"
            )
            join = f"INNER JOIN {tb('x_ids')} AS i ON i.person_key = e.person_key" if v == "d" else ""
            c0 = time.process_time()
            wh.command(
                f"INSERT INTO {table} SELECT e.tenant_id, name, toStartOfHour(e.timestamp) AS h, "
                f"groupBitmapState({expr}) FROM {tb('events')} AS e {join} ARRAY JOIN [e.event, ''] AS name "
                "GROUP BY e.tenant_id, name, h"
            )
            wh.command(f"OPTIMIZE TABLE {table} FINAL")
            print(f"built x_hb_{v}: {time.process_time() - c0:.1f} s CPU", flush=True)
    events = q(f"SELECT count() FROM {tb('events')} WHERE tenant_id = {{tenant_id:String}}")[0][0]
    for name, rows, size in q(
        "SELECT table, sum(rows), sum(bytes_on_disk) FROM system.parts WHERE active AND database = {db:String} "
        "AND (startsWith(table, 'x_') OR table IN ('person_weeks', 'events', 'metrics_daily')) GROUP BY table ORDER BY table",
        {"db": wh.database},
    ):
        print(f"storage {name}: {rows} rows, {size} bytes, {size / events:.2f} bytes per event", flush=True)

    WIDGETS["retention"].update(periods=args.periods, date_range={"date_from": args.date_from})
    ret = runner_for(rt, ctx, parse_insight_query(WIDGETS["retention"]))
    eng = runner_for(rt, ctx, parse_insight_query(WIDGETS["engagement"]))
    start, end, cutoff, zone = ret.range.start, ret.range.end, ret.return_cutoff(), ret.range.zone
    weeks = list(ret.cohort_buckets)
    periods = args.periods
    every = [weeks[0] + timedelta(days=7 * k) for k in range(len(weeks) + periods)]
    bounds = [max(start, period_start_utc(w, zone)) for w in every]
    bounds.append(period_start_utc(every[-1] + timedelta(days=7), zone))

    def ts(moment: Any) -> str:
        return f"toDateTime('{utc_text(moment)[:19]}', 'UTC')"

    def retention_sql(table: str) -> str:
        """Cohort k = signups in its week (inside the range) less everyone who signed up before
        (the history's hours and the earlier weeks); returns = any event in each local week; cells =
        bitmapAndCardinality. Week states grouped by local Monday (one merge per week)."""
        tenant_is = "tenant_id = {tenant_id:String}"
        signups = (
            f"SELECT groupArray(st) AS s, any(h) AS h FROM (SELECT w, st, h FROM (SELECT toMonday(hour, {{tz:String}}) AS w, "
            f"groupBitmapMergeState(ids) AS st FROM {table} WHERE {tenant_is} AND event = 'signup' "
            f"AND hour >= {ts(start)} AND hour < {ts(end)} GROUP BY w) AS a CROSS JOIN (SELECT groupBitmapMergeState(ids) "
            f"AS h FROM {table} WHERE {tenant_is} AND event = 'signup' AND hour < {ts(start)}) AS b ORDER BY w)"
        )
        returns = (
            f"SELECT groupArray(st) AS a FROM (SELECT toMonday(hour, {{tz:String}}) AS w, groupBitmapMergeState(ids) AS st "
            f"FROM {table} WHERE {tenant_is} AND event = '' AND hour >= {ts(bounds[1])} AND hour < {ts(cutoff)} "
            "GROUP BY w ORDER BY w)"
        )
        cohorts = (
            "arrayMap(k -> bitmapAndnot(s[k], arrayFold((acc, x) -> bitmapOr(acc, x), arraySlice(s, 1, k - 1), h)), "
            "range(1, length(s) + 1))"
        )
        cells = f"arrayMap(k -> arrayMap(p -> bitmapAndCardinality(c[k], a[k + p - 1]), range(1, {periods})), range(1, length(c) + 1))"
        return (
            f"SELECT arrayMap(x -> bitmapCardinality(x), c), {cells} FROM (SELECT {cohorts} AS c, a "
            f"FROM ({signups}) AS st CROSS JOIN ({returns}) AS rt)"
        )

    def dau_sql(table: str) -> str:
        return (
            f"SELECT toDate(hour, {{tz:String}}) AS d, groupBitmapMerge(ids) FROM {table} WHERE tenant_id = {{tenant_id:String}} "
            f"AND event = '' AND hour >= {ts(eng.range.start)} AND hour < {ts(eng.range.end)} GROUP BY GROUPING SETS ((d), ()) ORDER BY d"
        )

    def engagement_sql(table: str) -> str:
        window = eng._active_window().start
        return (
            "SELECT d, dau, wau, mau FROM (SELECT d, bitmapCardinality(st) AS dau, "
            "groupBitmapMerge(st) OVER (ORDER BY toUInt32(d) RANGE BETWEEN 6 PRECEDING AND CURRENT ROW) AS wau, "
            "groupBitmapMerge(st) OVER (ORDER BY toUInt32(d) RANGE BETWEEN 29 PRECEDING AND CURRENT ROW) AS mau FROM ("
            f"SELECT toDate(hour, {{tz:String}}) AS d, groupBitmapMergeState(ids) AS st FROM {table} "
            f"WHERE tenant_id = {{tenant_id:String}} AND event = '' AND hour >= {ts(window)} AND hour < {ts(end)} "
            f"GROUP BY d)) WHERE d >= '{eng.buckets[0]}' ORDER BY d"
        )

    answer = json.loads(run_insight(rt, ctx, ret.query, refresh=True).model_dump_json())
    ref_cells = [(c["size"], c["values"][1:]) for c in answer["retention"]]
    answer = json.loads(run_insight(rt, ctx, eng.query, refresh=True).model_dump_json())
    ref_eng = {s["label"]: [p["value"] for p in s["points"]] for s in answer["series"]}
    answer = json.loads(run_insight(rt, ctx, parse_insight_query(WIDGETS["dau"]), refresh=True).model_dump_json())
    ref_dau = [p["value"] for p in answer["series"][0]["points"]]
    for v in variants:
        table = tb("x_hb_" + v)
        rows, txt = cpu(lambda table=table: q(retention_sql(table)), args.repeat)
        got = list(zip(rows[0][0], rows[0][1], strict=True))
        same = len(got) == len(ref_cells) and all(
            g[0] == r[0] and all(rv is None or rv == gv for rv, gv in zip(r[1], g[1], strict=False))
            for g, r in zip(got, ref_cells, strict=True)
        )
        print(
            f"bitmap {v} retention {periods} weeks from {args.date_from}: {txt}; same answer as person_weeks: {same}",
            flush=True,
        )
        rows, txt = cpu(lambda table=table: q(dau_sql(table)), args.repeat)
        days = [r[1] for r in rows if r[0].year > 1970]
        worst = max(abs(a - b) / max(b, 1) for a, b in zip(days, ref_dau, strict=True))
        print(f"bitmap {v} DAU trend 90 days: {txt}; exact counts, worst distance to the rollup's sketch {worst:.4f}")
        rows, txt = cpu(lambda table=table: q(engagement_sql(table)), args.repeat)
        same = [[r[1] for r in rows], [r[2] for r in rows], [r[3] for r in rows]] == [
            ref_eng["DAU"],
            ref_eng["WAU"],
            ref_eng["MAU"],
        ]
        print(f"bitmap {v} DAU/WAU/MAU 90 days: {txt}; same answer as person_weeks: {same}", flush=True)
    if args.parts:
        for v in variants:
            table = tb("x_hb_" + v)
            tenant_is = "tenant_id = {tenant_id:String}"
            parts = {
                "signup weeks in the range": f"SELECT toMonday(hour, {{tz:String}}) AS w, groupBitmapMerge(ids) FROM {table} WHERE {tenant_is} AND event = 'signup' AND hour >= {ts(start)} AND hour < {ts(end)} GROUP BY w",
                "signup history before the range": f"SELECT groupBitmapMerge(ids) FROM {table} WHERE {tenant_is} AND event = 'signup' AND hour < {ts(start)}",
                "return weeks": f"SELECT toMonday(hour, {{tz:String}}) AS w, groupBitmapMerge(ids) FROM {table} WHERE {tenant_is} AND event = '' AND hour >= {ts(bounds[1])} AND hour < {ts(cutoff)} GROUP BY w",
            }
            for name, sql in parts.items():
                _, txt = cpu(lambda sql=sql: q(sql), args.repeat)
                print(f"bitmap {v} retention part, {name}: {txt}", flush=True)
    if args.widgets:
        for name, body in WIDGETS.items():
            query = parse_insight_query(body)
            result, txt = cpu(lambda query=query: run_insight(rt, ctx, query, refresh=True), args.repeat)
            print(f"current {name} ({result.served_by}): {txt}", flush=True)
    if args.lookup:
        for size in (1000, 5000):
            keys = [
                r[0]
                for r in q(
                    f"SELECT person_key FROM {tb('events')} WHERE {'tenant_id = {tenant_id:String}'} ORDER BY rand() LIMIT {size * 10}"
                )
            ]
            times = []
            for i in range(10):
                batch = sorted(set(keys[i * size : (i + 1) * size]))
                c0 = time.process_time()
                found = q(
                    f"SELECT person_key, id FROM {tb('x_ids')} WHERE person_key IN {{k:Array(UInt64)}}", {"k": batch}
                )
                times.append((time.process_time() - c0) * 1000)
                assert len(found) == len(batch)
            print(
                f"id look-up, batch of {size} events ({len(batch)} people): cpu min {min(times):.1f} med {statistics.median(times):.1f} ms"
            )


if __name__ == "__main__":
    main()
