"""SQL of a funnel: per person, the events matching any step as a time-sorted array of
(ms, step bit mask, entered in range), folded into the chain of step times reached (`arrayFold`).

Semantics (the reference in tests/insights/reference.py implements them independently):
- A chain is steps 1..k at strictly increasing times; step 1 inside the date range; each step within
  its own window of the previous step (when set) and within the conversion window of step 1.
  Conversion may complete after the range ends.
- ordered: other events may happen between steps. strict: the steps happen at consecutive moments of
  the person's events (no other event between). unordered: every step within the window after an
  entry event (any step's event in range), in any order.
- A person counts at step k when some chain reaches k. Times to convert are those of the latest chain
  reaching the person's furthest step. Events at the same millisecond are one moment.
- Breakdown values come from the person's first entry event in the range; top N by people entering,
  the rest '$other'.
"""

from __future__ import annotations

from typing import Any

from analytics_engine.insights.dates import bucket_sql
from analytics_engine.insights.filters import OTHER, breakdown_sql, filters_sql
from analytics_engine.insights.models import FunnelsQuery
from analytics_engine.warehouse.params import utc_text

_EMPTY = "emptyArrayInt64()"


def _fold(n: int, strict: bool) -> str:
    """(cur moment, chains before it, chains now, best chain) folded over the points x = (ms, mask, in range)."""
    changed = "x.1 != acc.1"
    if strict:
        alive = f"arrayMap(c -> if(notEmpty(c) AND c[-1] = acc.1, c, {_EMPTY}), acc.3)"
        base = f"if({changed}, {alive}, acc.2)"
    else:
        base = f"if({changed}, acc.3, acc.2)"
    step_ok = (
        "if(k = 1, x.3 = 1, notEmpty(b[k - 1]) AND x.1 > b[k - 1][-1] "
        "AND x.1 - b[k - 1][-1] <= {fw:Array(Int64)}[k] AND x.1 - b[k - 1][1] <= {fW:Int64})"
    )
    new_cur = (
        f"arrayMap(k -> if(bitTest(x.2, k - 1) AND {step_ok}, "
        f"if(k = 1, [x.1], arrayPushBack(b[k - 1], x.1)), p[k]), range(1, {n} + 1))"
    )
    prior = base if strict else "acc.3"
    longest = "arrayMax(arrayMap(c -> length(c), nc))"
    best = f"if({longest} > 0 AND {longest} >= length(acc.4), nc[{longest}], acc.4)"
    step = f"arrayMap(nc -> (x.1, b, nc, {best}), [{new_cur}])[1]"
    body = f"arrayMap((b, p) -> {step}, [{base}], [{prior}])[1]"
    init = f"(toInt64(-1), arrayMap(i -> {_EMPTY}, range({n})), arrayMap(i -> {_EMPTY}, range({n})), {_EMPTY})"
    return f"arrayFold((acc, x) -> {body}, pts, {init})"


def per_person_sql(runner: Any, params: Any) -> str:
    """Rows (distinct_id, bd, reached, best Array(Int64) ms, entry ms) of people who entered."""
    query: FunnelsQuery = runner.query
    n = len(query.steps)
    window_ms = query.conversion_window.seconds * 1000
    params.values["fW"] = window_ms
    params.values["fw"] = [(step.window.seconds * 1000 if step.window else window_ms) for step in query.steps]
    where = runner.base_where(params, [], start=runner.range.start, end=runner.range.end + _delta(window_ms))
    step_conditions = []
    for index, step in enumerate(query.steps):
        parts = [f"event = {params.add(step.event, 'String')}"]
        parts += filters_sql(step.filters, params, runner.cohorts)
        step_conditions.append(f"if({' AND '.join(parts)}, {1 << index}, 0)")
    mask = f"toUInt32({' + '.join(step_conditions)})"
    if query.order != "strict":
        where.append(f"event IN {params.add(sorted({s.event for s in query.steps}), 'Array(String)')}")
        where.append(f"{mask} > 0")
    end = params.add(utc_text(runner.range.end), "DateTime64(3)")
    in_range = f"toUInt8(timestamp < {end})"
    point = f"(toUnixTimestamp64Milli(timestamp), {mask}, {in_range})"
    if query.breakdown:
        raw_bd = breakdown_sql(query.breakdown, params, runner.cohorts)
        bd = f"argMinIf({raw_bd}, timestamp, bitTest({mask}, 0) AND timestamp < {end})"
    else:
        bd = "CAST([], 'Array(String)')"
    grouped = (
        f"SELECT distinct_id, arraySort(y -> y.1, groupArray({point})) AS pts, {bd} AS bd "
        f"FROM {runner.events} WHERE {' AND '.join(where)} GROUP BY distinct_id"
    )
    if query.order == "unordered":
        counts = (
            "arrayMap(e -> if(e.3 = 1 AND e.2 > 0, bitCount(arrayReduce('groupBitOr', arrayMap(y -> y.2, "
            "arrayFilter(y -> y.1 >= e.1 AND y.1 <= e.1 + {fW:Int64}, pts)))), 0), pts)"
        )
        return (
            f"SELECT distinct_id, bd, toUInt8(arrayMax(cnts)) AS reached, {_EMPTY} AS best, "
            f"pts[indexOf(cnts, arrayMax(cnts))].1 AS entry FROM (SELECT distinct_id, bd, pts, {counts} AS cnts "
            f"FROM ({grouped})) WHERE reached > 0"
        )
    return (
        f"SELECT distinct_id, bd, toUInt8(length(state.4)) AS reached, state.4 AS best, best[1] AS entry "
        f"FROM (SELECT distinct_id, bd, {_fold(n, query.order == 'strict')} AS state FROM ({grouped})) "
        f"WHERE reached > 0"
    )


def _delta(ms: int) -> Any:
    from datetime import timedelta

    return timedelta(milliseconds=ms)


def ranked_sql(runner: Any, params: Any) -> str:
    """Per-person rows with the breakdown folded to the top N values (by people entering)."""
    per_person = per_person_sql(runner, params)
    if not runner.query.breakdown:
        return per_person
    limit = int(runner.query.breakdown_limit)
    other = params.add(OTHER, "String")
    return (
        f"SELECT distinct_id, if(rank <= {limit}, bd, [{other}]) AS bd_top, reached, best, entry FROM ("
        f"SELECT *, dense_rank() OVER (ORDER BY people DESC, bd) AS rank FROM ("
        f"SELECT *, count() OVER (PARTITION BY bd) AS people FROM ({per_person})))"
    )


def steps_sql(runner: Any) -> tuple[str, dict[str, Any]]:
    """Rows (bd, entry_bucket, is_bucket_row, c1..cn, avg2..avgn, med2..medn): per breakdown value,
    and (when the query has an interval) per entry bucket for the conversion trend."""
    query: FunnelsQuery = runner.query
    params = runner.new_params()
    source = ranked_sql(runner, params)
    n = len(query.steps)
    bd = "bd_top" if query.breakdown else "bd"
    counts = [f"countIf(reached >= {k})" for k in range(1, n + 1)]
    gaps = [f"(best[{k}] - best[{k - 1}]) / 1000" for k in range(2, n + 1)]
    avgs = [
        f"avgIf({gap}, reached >= {k} AND length(best) >= {k})" for k, gap in zip(range(2, n + 1), gaps, strict=True)
    ]
    meds = [
        f"quantileExactInclusiveIf(0.5)({gap}, reached >= {k} AND length(best) >= {k})"
        for k, gap in zip(range(2, n + 1), gaps, strict=True)
    ]
    columns = ", ".join([f"[{', '.join(counts)}]", f"[{', '.join(avgs) or ''}]", f"[{', '.join(meds) or ''}]"])
    if query.interval:
        bucket = bucket_sql(query.interval, "fromUnixTimestamp64Milli(entry, 'UTC')", "{tz:String}")
        group = f"GROUP BY GROUPING SETS (({bd}), (entry_bucket))"
        select = f"{bd} AS bd_value, {bucket} AS entry_bucket, grouping({bd}) AS is_bucket_row"
    else:
        group = f"GROUP BY {bd}"
        select = f"{bd} AS bd_value, NULL AS entry_bucket, 0 AS is_bucket_row"
    return f"SELECT {select}, {columns} FROM ({source}) {group}", params.values


def people_sql(runner: Any, step: int, status: str, limit: int, offset: int) -> tuple[str, dict[str, Any]]:
    params = runner.new_params()
    source = per_person_sql(runner, params)
    condition = f"reached >= {int(step)}" if status == "converted" else f"reached = {int(step) - 1}"
    sql = (
        f"SELECT distinct_id FROM ({source}) WHERE {condition} ORDER BY distinct_id "
        f"LIMIT {int(limit) + 1} OFFSET {int(offset)}"
    )
    return sql, params.values
