"""Paths (user flows): the sequences of events people go through, as nodes and links for a Sankey.

Semantics (tests/insights/paths_reference.py implements them independently; docs/insights.md, Paths):
- A person's events in the date range (query filters applied, `include_events` / `exclude_events`),
  each event's name cleaned by the `path_cleaning` rules in order (`replaceRegexpAll`), sorted by
  time (same millisecond: by cleaned name); consecutive repeats of one name are one step, at the time
  of the first of them.
- From `start_event`: the path starts at the person's first such step (people without one have no
  path). Towards `end_event`: it ends at the first such step (after the start, when both are set);
  people never reaching it have no path. Then the first `steps` steps are kept; with only an end
  event, the last `steps` steps, numbered so that the end event is always the last column.
- At each step the `nodes_per_step` names with the most people are kept (ties: the smaller name);
  the others fold into `$other`. A link joins a person's consecutive steps; its time is between the
  two steps' times (average and median, seconds).

One statement: per person, the sorted (time, name) pairs and the path as an array; one row per
(step, name, next name) with people, summed times and a median state; then the fold (ranks of names
per step by people, by window functions over those few rows) and the merge of the states.
"""

from __future__ import annotations

from typing import Any

from analytics_engine.errors import InvalidInput
from analytics_engine.insights.base import SQL, Executor, InsightRunner
from analytics_engine.insights.filters import OTHER, Params
from analytics_engine.insights.models import PathsQuery
from analytics_engine.insights.results import InsightResponse, PathLink, PathNode, PathPeoplePage, PathsResult

MAX_PEOPLE_PAGE = 1000
# The name of "no next step" in the SQL (a cleaned event name is never empty: an alias may make it
# empty, so such names read as '(empty)').
_END = ""
EMPTY_NAME = "(empty)"
# Low bits of a per-person event code holding the cleaned name's index (per_person_sql): up to 2^20 - 1
# distinct names in the events read; the time since the range's start in ms takes the 44 bits above.
NAME_BITS = 20


def node_id(step: int, name: str) -> str:
    return f"{step}_{name}"


def _number(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return None if value != value else round(value, 3)


class PathsRunner(InsightRunner[PathsQuery]):
    kind = "paths"
    result_class = PathsResult

    # --- SQL -----------------------------------------------------------------------------------
    def _cleaned(self, params: Params) -> str:
        if not self.query.path_cleaning:
            return "event"
        name = "event"  # LowCardinality: the rules run once per distinct name, not once per event
        for rule in self.query.path_cleaning:
            name = f"replaceRegexpAll({name}, {params.add(rule.regex, 'String')}, {params.add(rule.alias, 'String')})"
        return f"if(({name}) AS cleaned = '', {params.add(EMPTY_NAME, 'String')}, cleaned)"

    def per_person_sql(self, params: Params, *, ids: bool = False) -> str:
        """Per person: `path`, an array of (step, name, ms, next name, next ms), next name '' at the end."""
        query = self.query
        where = self.base_where(params, [], start=self.range.start, end=self.range.end)
        if query.include_events:
            where.append(f"event IN {params.add(sorted(set(query.include_events)), 'Array(String)')}")
        if query.exclude_events:
            where.append(f"event NOT IN {params.add(sorted(set(query.exclude_events)), 'Array(String)')}")
        key = self.unit_id() if ids else self.unit_key()
        n = int(query.steps)
        # Only people with the start (and end) event can have a path: read the events of those alone. The
        # sets come from the events' primary key (event) when no cleaning rule renames names. Same answers;
        # on the 1M bench tenant, paths from signup, 4 interleaved runs each: p50 ~0.95 s against ~1.3 s
        # (most people active in the period sign up in it there; fewer do in real data, so more gain).
        anchors = [name for name in (query.start_event, query.end_event) if name]
        names_where = list(where)
        where += [
            f"{key} IN (SELECT {key} FROM {self.events} WHERE {' AND '.join(where)} "
            f"AND {self._cleaned(params)} = {params.add(name, 'String')})"
            for name in anchors
        ]
        # Each event as one number: its time in ms since the range's start, shifted left by NAME_BITS, plus
        # its cleaned name's 1-based index in `names`, the sorted distinct names of the events read (one
        # scalar subquery, run once). Sorting numbers orders by (time, name) as sorting (time, name) pairs
        # did, and the per-person arrays hold numbers instead of strings; names come back at the path's
        # few kept steps. On the 1M bench tenant that grouping was 2/3 of the CPU (200 of 300 ms), then 140.
        params.values["paths_start_ms"] = int(self.range.start.timestamp() * 1000)
        cleaned = self._cleaned(params)
        names = (
            f"(SELECT a FROM (SELECT arraySort(groupUniqArray({cleaned})) AS a FROM {self.events} "
            f"WHERE {' AND '.join(names_where)}) WHERE throwIf(length(a) >= {1 << NAME_BITS}, "
            "'paths: too many distinct event names') = 0)"
        )
        code = (
            f"toUInt64(toUnixTimestamp64Milli(timestamp) - {{paths_start_ms:Int64}}) * {1 << NAME_BITS} "
            f"+ indexOf(names, {cleaned})"
        )
        grouped = (
            f"SELECT {key} AS person, arraySort(groupArray({code})) "
            f"AS evs FROM {self.events} WHERE {' AND '.join(where)} GROUP BY person"
        )
        name_of = f"x % {1 << NAME_BITS}"
        # Consecutive repeats of a name: one step, at the first one's time. Each name against the one before
        # it as a second array (a name's index is never 0): a lambda reading `evs[i - 1]` would copy the
        # whole array for each element (quadratic in a heavy user's events).
        runs = (
            f"arrayFilter((x, n, b) -> n != b, evs, arrayMap(x -> {name_of}, evs) AS ns, "
            "arrayPushFront(arrayPopBack(ns), 0))"
        )
        # A start or end name not among the names read has index 0: no step matches it.
        start = f"indexOf(names, {params.add(query.start_event, 'String')})" if query.start_event else None
        end = f"indexOf(names, {params.add(query.end_event, 'String')})" if query.end_event else None
        # s: the first step kept (1-based index into d), e: the end step's index (0: none).
        s = f"indexOf(arrayMap(x -> {name_of}, d), {start})" if start else "1"
        if end:
            e = f"arrayFirstIndex((x, i) -> i >= s AND {name_of} = {end}, d, arrayEnumerate(d))"
            if start:
                # The end must come after the start (the same name as both: the next occurrence).
                e = f"arrayFirstIndex((x, i) -> i > s AND {name_of} = {end}, d, arrayEnumerate(d))"
        else:
            e = "length(d)"
        if end and not start:
            first = f"greatest(1, e - {n} + 1)"
            offset = f"{n} - (e - {first} + 1)"  # the end event is column n
        else:
            first = "s"
            offset = "0"
        kept = f"arraySlice(d, {first}, least(e - {first} + 1, {n}))"
        shift = 1 << NAME_BITS
        path = (
            f"arrayMap(i -> (toUInt8(o + i), names[p[i] % {shift}], toInt64(intDiv(p[i], {shift})), "
            f"if(i < length(p), names[p[i + 1] % {shift}], ''), "
            f"toInt64(intDiv(if(i < length(p), p[i + 1], p[i]), {shift}))), arrayEnumerate(p))"
        )
        return (
            f"WITH {names} AS names SELECT person, {path} AS path FROM ("
            f"SELECT person, {kept} AS p, {offset} AS o FROM ("
            f"SELECT person, d, {s} AS s, {e} AS e FROM (SELECT person, {runs} AS d FROM ({grouped}))) "
            f"WHERE s > 0 AND e > 0)"
        )

    def to_sql(self) -> list[SQL]:
        params = self.new_params()
        source = self.per_person_sql(params)
        limit = int(self.query.nodes_per_step)
        other = params.add(OTHER, "String")
        links = (
            "SELECT x.1 AS step, x.2 AS name, x.4 AS next, count() AS people, sum(x.5 - x.3) AS ms_sum, "
            f"quantileExactInclusiveState(0.5)((x.5 - x.3) / 1000) AS ms_median FROM ({source}) "
            "ARRAY JOIN path AS x GROUP BY step, name, next"
        )
        ranked = (
            "SELECT *, dense_rank() OVER (PARTITION BY step ORDER BY node_people DESC, name) AS rank FROM ("
            f"SELECT *, sum(people) OVER (PARTITION BY step, name) AS node_people FROM ({links}))"
        )
        kept = f"SELECT *, groupUniqArrayIf((step, name), rank <= {limit}) OVER () AS kept FROM ({ranked})"
        folded = (
            f"SELECT step, if(rank <= {limit}, name, {other}) AS source, "
            f"if(next = '' OR has(kept, (step + 1, next)), next, {other}) AS target, people, ms_sum, ms_median "
            f"FROM ({kept})"
        )
        text = (
            "SELECT step, source, target, sum(people), sum(ms_sum) / sum(people) / 1000, "
            f"quantileExactInclusiveMerge(0.5)(ms_median) FROM ({folded}) GROUP BY step, source, target "
            "ORDER BY step, source, target"
        )
        return [SQL("paths", text, params.values)]

    # --- answer --------------------------------------------------------------------------------
    def calculate(self, executor: Executor) -> InsightResponse:
        rows = executor.run(self.to_sql()[0]).rows
        nodes: dict[tuple[int, str], PathNode] = {}
        links: list[PathLink] = []
        for step, source, target, people, average, median in rows:
            step, people = int(step), int(people)
            node = nodes.setdefault(
                (step, source), PathNode(id=node_id(step, source), step=step, name=source, people=0, dropped=0)
            )
            node.people += people
            if target == _END:
                node.dropped += people
                continue
            links.append(
                PathLink(
                    source=node_id(step, source),
                    target=node_id(step + 1, target),
                    people=people,
                    average_seconds=_number(average),
                    median_seconds=_number(median),
                )
            )
        ordered = sorted(nodes.values(), key=lambda n: (n.step, n.name == OTHER, -n.people, n.name))
        links.sort(key=lambda link: (-link.people, link.source, link.target))
        # Every path has one node in its first column (only an end event: in its last one, where all end).
        column = self.query.steps if self.query.end_event and not self.query.start_event else 1
        totals = {"people": sum(n.people for n in ordered if n.step == column)}
        return self.response(totals=totals, nodes=ordered, links=links)

    # --- people ----------------------------------------------------------------------------------
    def people(
        self, step: int, name: str, next_name: str | None = None, limit: int = 100, offset: int = 0
    ) -> PathPeoplePage:
        """The people at node (`step`, `name`), or on its link to `next_name` at step + 1 (folded names as
        the answer shows them, `$other` included), by distinct id, paged."""
        if not 1 <= step <= self.query.steps or (next_name is not None and step >= self.query.steps):
            raise InvalidInput(f"step must be 1-{self.query.steps} (1-{self.query.steps - 1} for a link)")
        if not 1 <= limit <= MAX_PEOPLE_PAGE or offset < 0:
            raise InvalidInput(f"limit must be 1-{MAX_PEOPLE_PAGE} and offset >= 0", code="invalid_query")
        answer = self.run()
        assert isinstance(answer, PathsResult)
        kept = {(n.step, n.name) for n in answer.nodes if n.name != OTHER}
        self.resolve_cohorts()
        self.resolve_materialized()
        params = self.new_params()
        source = self.per_person_sql(params, ids=True)
        conditions = [f"x.1 = {int(step)}", self._folded("x.2", step, name, kept, params)]
        if next_name is not None:
            conditions.append(self._folded("x.4", step + 1, next_name, kept, params))
        text = (
            f"SELECT DISTINCT person FROM ({source}) ARRAY JOIN path AS x WHERE {' AND '.join(conditions)} "
            f"ORDER BY person LIMIT {int(limit) + 1} OFFSET {int(offset)}"
        )
        rows = Executor(self.runtime, self.tenant.tenant_id).run(SQL("people", text, params.values)).rows
        people = [row[0] for row in rows]
        return PathPeoplePage(
            people=people[:limit],
            step=step,
            name=name,
            next_name=next_name,
            limit=limit,
            offset=offset,
            has_more=len(people) > limit,
        )

    @staticmethod
    def _folded(column: str, step: int, name: str, kept: set[tuple[int, str]], params: Params) -> str:
        if name != OTHER:
            return f"{column} = {params.add(name, 'String')}"
        names = sorted(n for s, n in kept if s == step)
        return f"{column} != '' AND {column} NOT IN {params.add(names, 'Array(String)')}"
