"""SQL of a funnel, per person: the times of each step's events, turned step by step into
the chains that reach each step (ordered); the person's moments with the steps they match (strict);
the events within the window of each entry (unordered).

Semantics (the reference in tests/insights/reference.py implements them independently):
- A chain is steps 1..k at strictly increasing times; step 1 inside the date range; each step within
  its own window of the previous step (when set) and within the conversion window of step 1.
  Conversion may complete after the range ends.
- ordered: other events may happen between steps. strict: the steps happen at consecutive moments of
  the person's events (no other event between). unordered: every step within the window after an
  entry event (any step's event in range), in any order.
- A person counts at step k when some chain reaches k. Times to convert and the entry (the trend's bucket)
  are those of one chain reaching the person's furthest step (ordered: the one completing last, then the
  latest start, then backwards the latest previous steps; strict: the latest entry reaching it; unordered:
  the earliest entry reaching it, no times). Events at the same millisecond are one moment.
- Breakdown values come from the person's first entry event in the range (unordered: the entry taken);
  entry events at one millisecond: the smallest value. Top N by people entering, the rest '$other'.
  docs/insights.md "Which chain, which entry, which value" states these rules for a reader.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from analytics_engine.insights.dates import bucket_sql
from analytics_engine.insights.filters import OTHER, Params, breakdown_sql, filters_sql
from analytics_engine.insights.histogram import bin_ms_sql, upper_edges
from analytics_engine.insights.models import FunnelsQuery

if TYPE_CHECKING:
    from analytics_engine.insights.base import InsightRunner

_EMPTY = "emptyArrayInt64()"


def _ordered(n: int, grouped: str, w: Window, *, merge: bool = False) -> str:
    """Chains by step as array columns r1..rn of (time of step k, time of step 1, time of step k-1), each step
    computed from the previous one (dynamic programming over the person's step times `t1`..`tn`, sorted once
    filtered) in its own subquery layer: for every event of step k, the step-(k-1) chain with the latest start
    that respects both windows (ties: the latest previous step). Keeping the latest start is optimal, so a
    person reaches step k exactly when some valid chain does. Only step-k events after the first step-(k-1) time
    and within the window of the latest start are scanned (bounds computed once per person in the layer below).
    A start of 0 means "no chain" (arrayMax of nothing is 0; real starts are epoch milliseconds). With `merge`:
    `_ordered_merge`, same answers, faster."""
    if merge:
        return _ordered_merge(n, grouped, w)
    first = f"arraySort(arrayFilter(t -> t < {w.end}, t1))"
    layer = f"SELECT *, arrayMap(t -> (t, t, t), {first}) AS r1 FROM ({grouped})"
    for k in range(2, n + 1):
        bounds = f"SELECT *, r{k - 1}[1].1 AS lo{k}, arrayMax(c -> c.2, r{k - 1}) + {w.overall} AS hi{k} FROM ({layer})"
        valid = f"c.1 < e AND e - c.1 <= {w.steps}[{k}] AND e - c.2 <= {w.overall}"
        start = f"arrayMax(c -> if({valid}, c.2, -1), r{k - 1})"
        previous = f"arrayMax(c -> if({valid} AND c.2 = s, c.1, -1), r{k - 1})"
        events = f"arraySort(arrayFilter(e -> e > lo{k} AND e <= hi{k}, t{k}))"
        layer = (
            f"SELECT *, arrayFilter(x -> x.2 > 0, arrayMap(e -> arrayMap(s -> (e, s, {previous}), [{start}])[1], "
            f"{events})) AS r{k} FROM ({bounds})"
        )
    # r_k keeps t_k's order, so the chain completing last is the last element; an element's step k-1 is the
    # element of r_{k-1} at its time (each time has one chain).
    return _furthest(
        n,
        layer,
        level=lambda k: f"r{k}",
        time=lambda k, p: f"r{k}[{p}].1",
        back=lambda k, p: f"indexOf(arrayMap(c -> c.1, r{k - 1}), r{k}[{p}].3)",
    )


def _ordered_merge(n: int, grouped: str, w: Window) -> str:
    """`_ordered` when no step window is tighter than the conversion window (so only that one binds),
    with the same answers in linear time after one sort of plain numbers per step.

    Level k is parallel arrays sorted by time: `T{k}` the times of the step-k events some chain
    reaches, `S{k}` the start of that chain and `JV{k}` the index of its step k-1 in level k-1.
    Along T{k-1} the starts never decrease (a later event can use every chain an earlier one can,
    except those that fell out of the window, which started earliest), so the chain `_ordered` picks
    for a step-k event e (latest start, ties the latest previous step) is the last one of level k-1
    strictly before e, and if that one is out of the window so is every other. Its index is the
    number of level-(k-1) times below e: a cumulative count over the sorted merge of 2e (events) and
    2c + 1 (chains), so a chain at e's own millisecond sorts after e and does not count."""
    layer = f"SELECT *, arraySort(arrayFilter(t -> t < {w.end}, t1)) AS T1, T1 AS S1 FROM ({grouped})"
    for k in range(2, n + 1):
        a, b = k - 1, k
        # One layer per step, its intermediate arrays as aliases of the same SELECT: the events in reach
        # (E), the merge (M), each event's index into level k-1 (J), whether that chain is valid (V).
        layer = (
            f"SELECT *, arraySort(arrayFilter(e -> e > T{a}[1] AND e <= S{a}[-1] + {w.overall}, t{b})) AS E{b}, "
            f"arraySort(arrayConcat(arrayMap(e -> e * 2, E{b}), arrayMap(c -> c * 2 + 1, T{a}))) AS M{b}, "
            f"arrayFilter((c, x) -> x % 2 = 0, arrayCumSum(x -> x % 2, M{b}), M{b}) AS J{b}, "
            f"arrayMap((e, j) -> j > 0 AND e - S{a}[j] <= {w.overall}, E{b}, J{b}) AS V{b}, "
            f"arrayFilter((e, v) -> v, E{b}, V{b}) AS T{b}, arrayFilter((j, v) -> v, J{b}, V{b}) AS JV{b}, "
            f"arrayMap(j -> S{a}[j], JV{b}) AS S{b} FROM ({layer})"
        )
    return _furthest(n, layer, level=lambda k: f"T{k}", time=lambda k, p: f"T{k}[{p}]", back=lambda k, p: f"JV{k}[{p}]")


def _furthest(
    n: int,
    layer: str,
    *,
    level: Callable[[int], str],
    time: Callable[[int, str], str],
    back: Callable[[int, str], str],
) -> str:
    """The per-person row of either ordered path: the furthest step whose `level(k)` array is not empty,
    and the one chain reaching it: the one completing last there (the level's last element), followed back
    step by step (`back(k, p)`: the index in level k-1 of the step before element p of level k). Its
    gaps are the times to convert and its step 1 the entry. `P{k}` is the chain's index in level k (0 past
    the furthest step). Times taken from other chains (one completing last at each step) mixed chains:
    issue 27 item 1."""
    reached = "multiIf(" + ", ".join(f"notEmpty({level(k)}), {k}" for k in range(n, 0, -1)) + ", 0)"
    # No conditionals: past the furthest step P is 0 and an array's element 0 is 0 (times are epoch ms, never
    # 0), so each P is "my last element if I am the furthest, else where the next step points"; gaps past the
    # furthest step are zeroed. (`if` chains here were ~1.7x slower and typed the gaps Nullable.)
    picks = [f"toUInt64(reached = {n}) * length({level(n)}) AS P{n}"]
    for k in range(n - 1, 0, -1):
        picks.append(f"toUInt64(reached = {k}) * length({level(k)}) + {back(k + 1, f'P{k + 1}')} AS P{k}")
    gaps = (
        "["
        + ", ".join(
            f"toInt64(reached >= {k}) * ({time(k, f'P{k}')} - {time(k - 1, f'P{k - 1}')})" for k in range(2, n + 1)
        )
        + "]"
    )
    return (
        f"SELECT person, bd, toUInt8({reached}) AS reached, {gaps} AS gaps, {time(1, 'P1')} AS entry, "
        f"{', '.join(picks)} FROM ({layer}) WHERE reached > 0"
    )


def _strict(n: int, w: Window) -> str:
    """Per entry moment i: how many steps follow at consecutive moments within the windows."""
    ok = (
        f"i + j <= length(ms) AND bitTest(masks[i + j], j) AND ms[i + j] - ms[i] <= {w.overall} "
        f"AND ms[i + j] - ms[i + j - 1] <= {w.steps}[j + 1]"
    )
    first_fail = f"arrayFirstIndex(j -> NOT ({ok}), range(1, {n}))"
    return (
        f"arrayMap(i -> if(bitTest(masks[i], 0) AND ms[i] < {w.end}, "
        f"if({first_fail} = 0, {n}, {first_fail}), 0), arrayEnumerate(ms))"
    )


def merge_applies(query: FunnelsQuery) -> bool:
    """The linear path (`_ordered_merge`) gives the same answers: no step window below the overall one."""
    window = query.conversion_window.seconds
    return all(step.window is None or step.window.seconds >= window for step in query.steps[1:])


@dataclass(frozen=True)
class Window:
    """The placeholders of a funnel's bounds, registered in the statement's `Params` (so two funnels in
    one statement, as the two periods of `insights/segments.py`, each have their own): `end` the range
    end, `overall` the conversion window, `steps` each step's window (its own, else the conversion
    window); epoch ms and ms."""

    end: str  # {pN:Int64}
    overall: str  # {pN:Int64}
    steps: str  # {pN:Array(Int64)}


def window_params(runner: InsightRunner[FunnelsQuery], params: Params) -> Window:
    query: FunnelsQuery = runner.query
    window_ms = query.conversion_window.seconds * 1000
    return Window(
        end=params.add(int(runner.range.end.timestamp() * 1000), "Int64"),
        overall=params.add(window_ms, "Int64"),
        steps=params.add(
            [(step.window.seconds * 1000 if step.window else window_ms) for step in query.steps], "Array(Int64)"
        ),
    )


def per_person_sql(
    runner: InsightRunner[FunnelsQuery], params: Params, *, ids: bool = False, window: Window | None = None
) -> str:
    """Rows (person, bd, reached, gaps Array(Int64) ms between steps, entry ms) of people who entered.
    `person` is the distinct_id with `ids`, else `PERSON_KEY` (a hash: counts only need people told
    apart, and grouping the five step arrays by it took 1.6 s of CPU on 10M events against 3.1 s).
    `window`: the bounds' placeholders when the caller uses them too (else registered here)."""
    key = runner.unit_id() if ids else runner.unit_key()  # people, or groups (docs/groups.md)
    query: FunnelsQuery = runner.query
    n = len(query.steps)
    w = window or window_params(runner, params)
    window_ms = query.conversion_window.seconds * 1000
    where = runner.base_where(params, [], start=runner.range.start, end=runner.range.end + _delta(window_ms))
    conditions = []
    for step in query.steps:
        parts = [f"event = {params.add(step.event, 'String')}"]
        parts += filters_sql(step.filters, params, runner.cohorts)
        conditions.append(" AND ".join(parts))
    mask = "toUInt32(" + " + ".join(f"if({c}, {1 << i}, 0)" for i, c in enumerate(conditions)) + ")"
    if query.order != "strict":
        where.append(f"event IN {params.add(sorted({s.event for s in query.steps}), 'Array(String)')}")
    ms = "toUnixTimestamp64Milli(timestamp)"
    entry_cond = f"({conditions[0]}) AND {ms} < {w.end}"
    raw_bd = breakdown_sql(query.breakdown, params, runner.cohorts) if query.breakdown else None
    # Entry events at one millisecond: the smallest value (a rule a reader can apply; issue 27 item 8).
    # The value only on entry events: `if` evaluates its branch for the rows taking it (short-circuit), so
    # the properties are read for the entry events, not for every step event (issue 18).
    entry_bd = f"if({entry_cond}, {raw_bd}, CAST([], 'Array(String)'))" if raw_bd else None
    bd = f"argMinIf({entry_bd}, ({ms}, {entry_bd}), {entry_cond})" if entry_bd else "CAST([], 'Array(String)')"
    source = f"FROM {runner.events} WHERE {' AND '.join(where)}"
    if query.order == "ordered":
        # Unsorted: each layer sorts only the step times left after its window filter (a fraction of them;
        # sorting every step array here cost ~15% of the query on 10M events).
        arrays = ", ".join(f"groupArrayIf({ms}, {c}) AS t{i + 1}" for i, c in enumerate(conditions))
        grouped = f"SELECT {key} AS person, {bd} AS bd, {arrays} {source} GROUP BY person"
        return _ordered(n, grouped, w, merge=merge_applies(query))
    if query.order == "strict":
        # One moment per millisecond (the union of the steps its events match), every event counted.
        inner_bd = f"argMinIf({raw_bd}, {raw_bd}, {entry_cond})" if raw_bd else "CAST([], 'Array(String)')"
        moments = (
            f"SELECT {key} AS person, {ms} AS t, groupBitOr({mask}) AS m, {inner_bd} AS mbd, "
            f"max({entry_cond}) AS entry_here {source} GROUP BY person, t"
        )
        bd_outer = "argMinIf(mbd, t, entry_here)" if raw_bd else "CAST([], 'Array(String)')"
        grouped = (
            f"SELECT person, {bd_outer} AS bd, arraySort(groupArray(t)) AS ms, "
            f"arrayMap(x -> x.2, arraySort(groupArray((t, m)))) AS masks FROM ({moments}) GROUP BY person"
        )
        levels = _strict(n, w)
        return (
            "SELECT person, bd, toUInt8(arrayMax(levels)) AS reached, "
            "arraySlice(ms, length(levels) - indexOf(arrayReverse(levels), reached) + 1, reached) AS best, "
            "arrayPopFront(arrayDifference(best)) AS gaps, best[1] AS entry "
            f"FROM (SELECT person, bd, ms, {levels} AS levels FROM ({grouped})) "
            "WHERE reached > 0"
        )
    # Unordered: entered through any step, so each point carries its own breakdown value and the answer takes
    # the one of the entry point taken (issue 27 item 2); points at one millisecond sort by that value.
    point_bd = raw_bd if raw_bd else "CAST([], 'Array(String)')"
    point = f"({ms}, {mask}, toUInt8({ms} < {w.end}), {point_bd})"
    grouped = f"SELECT {key} AS person, arraySort(y -> (y.1, y.4), groupArray({point})) AS pts {source} GROUP BY person"
    # Per entry point i, the points within [t_i, t_i + window] are those after the lo_i points earlier
    # than t_i up to the hi_i points not later than t_i + window (both counts from one sorted merge of
    # 4t + 1 per point with the queries 4t and 4(t + window) + 2); a step is in the window when its
    # running count grows between lo_i and hi_i. Linear after the sort (per person, per step).
    keys = (
        "arraySort(arrayConcat(arrayMap(y -> y.1 * 4 + 1, pts), arrayMap(y -> y.1 * 4, pts), "
        f"arrayMap(y -> (y.1 + {w.overall}) * 4 + 2, pts)))"
    )
    running = "arrayCumSum(x -> x % 4 = 1, ks)"
    bounds = (
        f"SELECT *, arrayFilter((c, x) -> x % 4 = 0, {running}, ks) AS lo, "
        f"arrayFilter((c, x) -> x % 4 = 2, {running}, ks) AS hi, "
        + ", ".join(f"arrayCumSum(y -> bitTest(y.2, {j}), pts) AS c{j}" for j in range(n))
        + f" FROM (SELECT *, {keys} AS ks FROM ({grouped}))"
    )
    present = " + ".join(f"(c{j}[h] > c{j}[l])" for j in range(n))
    counts = f"arrayMap((e, l, h) -> if(e.3 = 1 AND e.2 > 0, {present}, 0), pts, lo, hi)"
    return (
        f"SELECT person, pts[taken].4 AS bd, toUInt8(arrayMax(cnts)) AS reached, {_EMPTY} AS gaps, "
        f"pts[taken].1 AS entry FROM (SELECT person, pts, {counts} AS cnts, indexOf(cnts, arrayMax(cnts)) AS taken "
        f"FROM ({bounds})) WHERE reached > 0"
    )


def _delta(ms: int) -> Any:
    from datetime import timedelta

    return timedelta(milliseconds=ms)


def ranked_sql(runner: InsightRunner[FunnelsQuery], params: Params) -> str:
    """Per-person rows with the breakdown folded to the top N values (by people entering)."""
    per_person = per_person_sql(runner, params)
    if not runner.query.breakdown:
        return per_person
    limit = int(runner.query.breakdown_limit)
    other = params.add(OTHER, "String")
    return (
        f"SELECT person, if(rank <= {limit}, bd, [{other}]) AS bd_top, reached, gaps, entry FROM ("
        f"SELECT *, dense_rank() OVER (ORDER BY people DESC, bd) AS rank FROM ("
        f"SELECT *, count() OVER (PARTITION BY bd) AS people FROM ({per_person})))"
    )


def steps_sql(runner: InsightRunner[FunnelsQuery]) -> tuple[str, dict[str, Any]]:
    """Rows (bd, entry_bucket, is_bucket_row, c1..cn, avg2..avgn, med2..medn, hist2..histn, hist_all): per
    breakdown value, and (when the query has an interval) per entry bucket for the conversion trend. A
    hist is the time-to-convert distribution as people per bin, an array indexed by bin
    (insights/histogram.py): per step from the previous one, and overall from step 1 to the last step for
    the people converting."""
    query: FunnelsQuery = runner.query
    params = runner.new_params()
    source = ranked_sql(runner, params)
    n = len(query.steps)
    bd = "bd_top" if query.breakdown else "bd"
    counts = [f"countIf(reached >= {k})" for k in range(1, n + 1)]
    gaps = [f"gaps[{k - 1}] / 1000" for k in range(2, n + 1)]
    avgs = [
        f"avgIf({gap}, reached >= {k} AND length(gaps) >= {k - 1})"
        for k, gap in zip(range(2, n + 1), gaps, strict=True)
    ]
    meds = [
        f"quantileExactInclusiveIf(0.5)({gap}, reached >= {k} AND length(gaps) >= {k - 1})"
        for k, gap in zip(range(2, n + 1), gaps, strict=True)
    ]
    bin_edges = upper_edges(query.conversion_window.seconds)
    # People per time-to-convert bin as one count per bin index (`-Resample` over [0, bins)), the bin
    # being the number of edges (whole seconds, as ms) at or below the gap in ms: no per-row arrays and
    # no map merge. Against `sumMapIf` of one-element arrays of `bin_sql` (seconds): the same counts, the
    # final aggregation ~3x cheaper (issue 18, docs/benchmarks.md).
    resample = f"countResampleIf(0, {len(bin_edges)}, 1)"
    hists = [
        f"{resample}({bin_ms_sql(f'gaps[{k - 1}]', bin_edges)}, reached >= {k} AND length(gaps) >= {k - 1})"
        for k in range(2, n + 1)
    ]
    overall = f"{resample}({bin_ms_sql('arraySum(gaps)', bin_edges)}, reached = {n} AND length(gaps) = {n - 1})"
    columns = ", ".join(
        [
            f"[{', '.join(counts)}]",
            f"[{', '.join(avgs) or ''}]",
            f"[{', '.join(meds) or ''}]",
            f"[{', '.join(hists)}]",
            overall,
        ]
    )
    if query.interval:
        bucket = bucket_sql(query.interval, "fromUnixTimestamp64Milli(entry, 'UTC')", "{tz:String}")
        group = f"GROUP BY GROUPING SETS (({bd}), (entry_bucket))"
        select = f"{bd} AS bd_value, {bucket} AS entry_bucket, grouping({bd}) AS is_bucket_row"
    else:
        group = f"GROUP BY {bd}"
        select = f"{bd} AS bd_value, NULL AS entry_bucket, 0 AS is_bucket_row"
    return f"SELECT {select}, {columns} FROM ({source}) {group}", params.values


def people_sql(
    runner: InsightRunner[FunnelsQuery], step: int, status: str, limit: int, offset: int
) -> tuple[str, dict[str, Any]]:
    params = runner.new_params()
    source = per_person_sql(runner, params, ids=True)
    condition = f"reached >= {int(step)}" if status == "converted" else f"reached = {int(step) - 1}"
    sql = f"SELECT person FROM ({source}) WHERE {condition} ORDER BY person LIMIT {int(limit) + 1} OFFSET {int(offset)}"
    return sql, params.values
