"""A funnel's or retention's figures per segment, for two periods, in one statement (`POST /v1/ai/explain`).

Explaining a change needs the metric over a baseline and a period, in total, by each dimension and by
each pair of dimensions. Run as insight breakdowns that is one statement per pair and period, each
reading every raw event of its period again (at 10M events: funnels 6.9 s, retention 16.8 s). Here the
per-person state is computed once per period, with every dimension's value on the person's entering
(cohort) event, and `GROUPING SETS` counts the total, each dimension and each pair from it.

The figures are those of the insight runs they replace (tests/insights/test_segments.py checks them
against the runners): per grouping set and period, funnels the people entering step 1 (denominator)
and reaching the last step (numerator); retention the sizes of the cohorts whose column
`retention_period` has begun and how many of them came back in it. The breakdown values are taken
as the runners take them (the value on the first entering event: `funnels_builder.per_person_sql`,
`RetentionRunner._raw_parts`), and each grouping set keeps its top `limit` values by people, the rest
summed into `$other`, as a breakdown with `breakdown_limit` does.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import orjson

from analytics_engine.insights.base import SQL, Executor, InsightRunner, answer_cache_key
from analytics_engine.insights.dates import period_start
from analytics_engine.insights.filters import OTHER, Params
from analytics_engine.insights.funnels import FunnelsRunner
from analytics_engine.insights.funnels_builder import per_person_sql
from analytics_engine.insights.preaggregations import Planner
from analytics_engine.insights.registry import parse_query
from analytics_engine.insights.retention import _ADD, RetentionRunner, period_start_utc
from analytics_engine.warehouse.params import utc_text

if TYPE_CHECKING:
    from analytics_engine.runtime import Runtime

SIDES = ("baseline", "period")
# (dimensions, side) -> {segment values: (numerator, denominator)}; dimensions () is the total.
Figures = dict[tuple[tuple[str, ...], str], dict[tuple[str, ...], tuple[float, float]]]


@dataclass(frozen=True)
class SegmentsRequest:
    kind: str  # funnels | retention
    query: dict[str, Any]  # the metric's insight query (date range and breakdown are replaced)
    sets: tuple[tuple[str, ...], ...]  # the grouping sets: (), (d,), (d1, d2), ...
    baseline: dict[str, str]  # {"date_from", "date_to"}
    period: dict[str, str]
    timezone: str
    retention_period: int = 1
    limit: int = 100


def side_query(req: SegmentsRequest, side: str) -> dict[str, Any]:
    """The insight query one side's figures equal (one grouping set is its breakdown)."""
    dims = list(dict.fromkeys(d for group in req.sets for d in group))
    query = {**req.query, "kind": req.kind, "date_range": getattr(req, side), "timezone": req.timezone}
    query.pop("interval", None)
    query["breakdown"] = dims
    query["breakdown_limit"] = req.limit
    return query


class SegmentsBuilder:
    """The one statement (`to_sql`, pure once the runners resolved cohorts and columns) and its rows."""

    def __init__(self, runtime: Runtime, tenant: Any, req: SegmentsRequest, *, now: datetime | None = None) -> None:
        if req.kind not in ("funnels", "retention"):
            raise ValueError(f"segments take funnels or retention, not {req.kind}")
        self.req = req
        self.runtime = runtime
        self.tenant = tenant
        self.dims = list(dict.fromkeys(d for group in req.sets for d in group))
        runner_class = FunnelsRunner if req.kind == "funnels" else RetentionRunner
        self.runners: list[InsightRunner[Any]] = [
            runner_class(runtime, tenant, parse_query(side_query(req, side)), now=now) for side in SIDES
        ]
        if req.kind == "retention":
            # Both periods' span (the baseline may come after the period): the returns of both, and
            # first-time cohorts read in one pass (a person's first start event lies in one side or none).
            span = {
                "date_from": min(req.baseline["date_from"], req.period["date_from"]),
                "date_to": max(req.baseline["date_to"], req.period["date_to"]),
            }
            union = {**side_query(req, "period"), "date_range": span}
            self.returns_runner: RetentionRunner = RetentionRunner(runtime, tenant, parse_query(union), now=now)

    def resolve(self) -> None:
        """The runners' I/O before SQL: cohorts, materialized columns, cold tier."""
        runners = [*self.runners, *([self.returns_runner] if self.req.kind == "retention" else [])]
        for runner in runners:
            runner.resolve_cohorts()
            runner.resolve_materialized()
            runner.resolve_tiers()

    def to_sql(self) -> SQL:
        params = Params()
        params.values["tz"] = self.runners[0].tz
        parts, counted = self._per_side(params)
        k = len(self.dims)
        columns = ", ".join(f"bd[{i + 1}] AS b{i + 1}" for i in range(k))
        sets = ", ".join(
            "(" + ", ".join(["side", *(f"b{self.dims.index(d) + 1}" for d in group)]) + ")" for group in self.req.sets
        )
        grouping = f"grouping({', '.join(f'b{i + 1}' for i in range(k))})" if k else "0"
        select = ", ".join(f"b{i + 1}" for i in range(k))
        sql = (
            f"SELECT side, {grouping} AS g{', ' + select if select else ''}, {counted} "
            f"FROM (SELECT *, {columns if k else '1 AS _'} FROM ({parts})) "
            f"GROUP BY GROUPING SETS ({sets})"
        )
        return SQL(f"{self.req.kind}:segments", sql, params.values)

    def _per_side(self, params: Params) -> tuple[str, str]:
        """Rows (side, person, bd, ...) of both sides, and the aggregates (den, num, people)."""
        if self.req.kind == "funnels":
            selects = []
            for index, runner in enumerate(self.runners):
                side_params = Params(prefix=f"s{index}_")
                text = per_person_sql(runner, side_params)
                params.update(side_params.values)
                selects.append(f"SELECT {index} AS side, person, bd, reached FROM ({text})")
            steps = len(self.runners[0].query.steps)
            counted = f"countIf(reached >= 1) AS den, countIf(reached >= {steps}) AS num, count() AS people"
            return " UNION ALL ".join(selects), counted
        rp = self.req.retention_period
        selects = []
        last: list[str] = []
        first_time = self.runners[0].query.start_type == "first_time"
        union = self.returns_runner
        query = union.query
        if first_time:
            union_params = Params(prefix="u_")
            history = None
            if Planner.applies(union, [*query.all_filters(), *query.start_event.filters], [], False):
                # first times from `person_weeks` (exact to the millisecond), not a scan of every event
                history = Planner(union, union_params).first_times(
                    query.start_event.event, [*query.all_filters(), *query.start_event.filters], union.range.end
                )
            starts, _ = union._raw_parts(union_params, union.unit_key(), fold=False, first_ts=True, history=history)
            params.update(union_params.values)
            sides = ", ".join(
                f"first_ts >= {params.add(utc_text(r.range.start), 'DateTime64(3)')} "
                f"AND first_ts < {params.add(utc_text(r.range.end), 'DateTime64(3)')}, {index}"
                for index, r in enumerate(self.runners)
            )
            selects.append(
                f"SELECT side, person, cohort, bd FROM (SELECT multiIf({sides}, 2) AS side, person, cohort, bd "
                f"FROM ({starts})) WHERE side < 2"
            )
        for index, runner in enumerate(self.runners):
            assert isinstance(runner, RetentionRunner)
            if not first_time:
                side_params = Params(prefix=f"s{index}_")
                starts, _ = runner._raw_parts(side_params, runner.unit_key(), fold=False)
                params.update(side_params.values)
                selects.append(f"SELECT {index} AS side, person, cohort, bd FROM ({starts})")
            # The cohorts whose column `rp` has begun by now (later ones are null in the insight).
            reached = [
                c
                for c in runner.cohort_buckets
                if rp <= runner.query.periods
                and period_start_utc(period_start(c, runner.query.period, rp), runner.range.zone) <= runner.now
            ]
            last.append(params.add(max(reached).isoformat(), "Date") if reached else "toDate('1970-01-01')")
        return_params = Params(prefix="r_")
        return_filters = [*query.all_filters(), *query.return_event.filters]
        window = union._windows()[-1]
        if Planner.applies(union, return_filters, [window], False):
            # The periods each person came back in as bits of `person_weeks` (exact when the window's
            # buckets are whole UTC hours, which `applies` checks): bit i is the window's i-th period.
            bits = Planner(union, return_params).bucket_bits(query.return_event.event, return_filters, window)
            returns = bits.sql
            came_back = bits.has(f"({bits.index('cohort')} + {rp})")
        else:
            _, returns = union._raw_parts(return_params, union.unit_key(), fold=False)
            came_back = f"has(rets, {_ADD[query.period]}(cohort, {rp}))"
        params.update(return_params.values)
        counts = f"cohort <= if(side = 0, {last[0]}, {last[1]})"
        # First-time cohorts hold each person once (one row per person), so people is a count.
        people = "count()" if first_time else "uniqExact(person)"
        counted = f"countIf({counts}) AS den, countIf({counts} AND {came_back}) AS num, {people} AS people"
        rows = f"SELECT * FROM ({' UNION ALL '.join(selects)}) AS s LEFT JOIN ({returns}) AS r USING (person)"
        return rows, counted

    def figures(self, rows: list[tuple[Any, ...]]) -> Figures:
        """Each grouping set's rows, top `limit` values by people (then by value), the rest as `$other`."""
        k = len(self.dims)
        raw: dict[tuple[tuple[str, ...], str], list[tuple[tuple[str, ...], float, float, int]]] = defaultdict(list)
        by_mask = {}
        for group in self.req.sets:
            # grouping(b1..bk): bit (k - i) set when b_i is not in the set
            mask = sum(1 << (k - 1 - i) for i, d in enumerate(self.dims) if d not in group)
            by_mask[mask] = group
        for row in rows:
            side, mask, *values = row[: 2 + k]
            den, num, people = row[2 + k :]
            group = by_mask[int(mask)]
            key = tuple(str(values[self.dims.index(d)]) for d in group)
            raw[(group, SIDES[int(side)])].append((key, float(num), float(den), int(people)))
        out: Figures = {}
        for group in self.req.sets:
            for side in SIDES:
                items = sorted(raw.get((group, side), []), key=lambda item: (-item[3], item[0]))
                cells: dict[tuple[str, ...], list[float]] = defaultdict(lambda: [0.0, 0.0])
                for rank, (key, num, den, _) in enumerate(items):
                    target = key if (not group or rank < self.req.limit) else tuple(OTHER for _ in group)
                    cells[target][0] += num
                    cells[target][1] += den
                out[(group, side)] = {key: (num, den) for key, (num, den) in cells.items()}
        return out


def compute(runtime: Runtime, tenant: Any, req: SegmentsRequest, *, refresh: bool = False) -> Figures:
    """Every grouping set's figures over both sides, through the tenant's scope (budget, admission),
    cached like an insight answer (keyed by the statement and the tenant's data version)."""
    builder = SegmentsBuilder(runtime, tenant, req)
    builder.resolve()
    statement = builder.to_sql()
    cache = runtime.cache
    key = None
    if cache is not None:
        payload = {"runner": "segments", "sql": statement.text, "params": statement.params}
        key = answer_cache_key(runtime, tenant.tenant_id, orjson.loads(orjson.dumps(payload, default=str)))
        if not refresh and (hit := cache.get(key)) is not None:
            return _decode(orjson.loads(hit))
    executor = Executor(runtime, tenant.tenant_id)
    with executor.scope.admitted():
        result = executor.run(statement)
    figures = builder.figures([tuple(row) for row in result.rows])
    if cache is not None and key is not None:
        ttl = min(runner.cache_ttl() for runner in builder.runners)
        cache.set(key, orjson.dumps(_encode(figures)), ttl_seconds=ttl)
    return figures


def _encode(figures: Figures) -> list[Any]:
    return [
        [list(group), side, [[list(k), n, d] for k, (n, d) in rows.items()]] for (group, side), rows in figures.items()
    ]


def _decode(data: list[Any]) -> Figures:
    return {(tuple(group), side): {tuple(k): (n, d) for k, n, d in rows} for group, side, rows in data}
