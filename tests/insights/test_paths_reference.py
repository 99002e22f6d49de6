"""Paths against tests/insights/paths_reference.py (the documented rules in plain Python) on small
random event sets: start and end events, N steps, excluded events, path cleaning with a group
reference, the fold into `$other`, times between steps, and the people of a node and of a link."""

from __future__ import annotations

from datetime import timedelta
from itertools import pairwise

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from analytics_engine.insights.models import parse_insight_query
from analytics_engine.insights.paths import PathsRunner
from tests.insights import paths_reference
from tests.insights.reference import Ev
from tests.insights.support import iso, load, new_tenant, recent_dst_change, run

BASE = recent_dst_change() - timedelta(hours=2)
RANGE_END = BASE + timedelta(minutes=150)
RULES = [("^x_(\\d)$", "x\\1"), ("^y_.*", "y")]

events_strategy = st.lists(
    st.builds(
        lambda user, name, minute: Ev(f"u{user}", name, BASE + timedelta(minutes=minute)),
        st.integers(0, 4),
        st.sampled_from(["a", "b", "c", "d", "x_1", "x_2", "y_1", "y_2"]),
        st.sampled_from([-10, 0, 10, 20, 30, 45, 60, 90, 140, 150, 160]),  # ties, events outside the range
    ),
    min_size=2,
    max_size=30,
)


def _query(start_event, end_event, steps, exclude, cleaning, nodes_per_step):
    return {
        "kind": "paths",
        "start_event": start_event,
        "end_event": end_event,
        "steps": steps,
        "exclude_events": list(exclude),
        "path_cleaning": [{"regex": r, "alias": a} for r, a in RULES] if cleaning else [],
        "nodes_per_step": nodes_per_step,
        "date_range": {"date_from": iso(BASE), "date_to": iso(RANGE_END)},
    }


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    events=events_strategy,
    start_event=st.sampled_from([None, "a", "x1"]),
    end_event=st.sampled_from([None, "c", "a"]),
    steps=st.integers(2, 4),
    exclude=st.sampled_from([(), ("d",)]),
    cleaning=st.booleans(),
    nodes_per_step=st.integers(1, 3),
)
@example(  # start and end the same name: the end is the next occurrence; repeats collapse
    events=[
        Ev("u0", "a", BASE),
        Ev("u0", "a", BASE + timedelta(minutes=10)),
        Ev("u0", "b", BASE + timedelta(minutes=20)),
        Ev("u0", "a", BASE + timedelta(minutes=30)),
    ],
    start_event="a",
    end_event="a",
    steps=4,
    exclude=(),
    cleaning=False,
    nodes_per_step=2,
)
def test_paths_match_the_documented_rules(
    runtime, events, start_event, end_event, steps, exclude, cleaning, nodes_per_step
):
    tenant = new_tenant("UTC")
    load(runtime, tenant, events)
    query = _query(start_event, end_event, steps, exclude, cleaning, nodes_per_step)
    answer = run(runtime, tenant, query)
    people = paths_reference.person_paths(
        events,
        BASE,
        RANGE_END,
        start_event=start_event,
        end_event=end_event,
        steps=steps,
        exclude=exclude,
        rules=RULES if cleaning else None,
    )
    expected = paths_reference.paths(people, nodes_per_step)
    nodes = {(n.step, n.name): (n.people, n.dropped) for n in answer.nodes}
    assert nodes == expected["nodes"]
    by_id = {n.id: n for n in answer.nodes}
    links = {
        (by_id[link.source].step, by_id[link.source].name, by_id[link.target].name): (
            link.people,
            link.average_seconds,
            link.median_seconds,
        )
        for link in answer.links
    }
    assert links == expected["links"]
    # The people of the first node and of the busiest link, as the reference folds them.
    if answer.links:
        runner = PathsRunner(runtime, tenant, parse_insight_query(query))
        link = answer.links[0]
        source, target = by_id[link.source], by_id[link.target]
        page = runner.people(source.step, source.name, target.name, limit=1000)
        assert page.people == sorted(
            user
            for user, path in people.items()
            if any(
                s == source.step and _fold(expected, s, a) == source.name and _fold(expected, s + 1, b) == target.name
                for (s, a, _), (_, b, _) in pairwise(path)
            )
        )
        assert len(page.people) == link.people
    if answer.nodes:
        node = answer.nodes[0]
        runner = PathsRunner(runtime, tenant, parse_insight_query(query))
        page = runner.people(node.step, node.name, limit=1000)
        assert len(page.people) == node.people


def _fold(expected, step, name):
    return name if (step, name) in expected["nodes"] else paths_reference.OTHER


def test_empty_alias_and_ties_sort_by_name(runtime):
    """Names are ordered by their index in the sorted distinct names (insights/paths.py, NAME_BITS): at
    one millisecond the cleaned names still sort as strings, '(empty)' included (a rule that empties a
    name); a start event no one has gives no path."""
    tenant = new_tenant("UTC")
    at = BASE + timedelta(minutes=10)
    events = [
        Ev("u0", "b", at),
        Ev("u0", "a", at),
        Ev("u0", "y_1", at + timedelta(minutes=5)),
        Ev("u0", "c", at + timedelta(minutes=5)),
        Ev("u1", "y_2", at),
        Ev("u1", "(empty)", at),
        Ev("u1", "a", at + timedelta(minutes=1)),
        Ev("u2", "c", at),
        Ev("u2", "(", at),
    ]
    load(runtime, tenant, events)
    rules = [("^y_.*", "")]
    for start_event in (None, "a", "(empty)", "nobody"):
        query = {
            **_query(start_event, None, 4, (), False, 3),
            "path_cleaning": [{"regex": r, "alias": a} for r, a in rules],
        }
        answer = run(runtime, tenant, query)
        people = paths_reference.person_paths(events, BASE, RANGE_END, start_event=start_event, steps=4, rules=rules)
        expected = paths_reference.paths(people, 3)
        assert bool(expected["nodes"]) == (start_event != "nobody")
        assert {(n.step, n.name): (n.people, n.dropped) for n in answer.nodes} == expected["nodes"]
