"""Group properties as insight filters and breakdowns, against the pure-Python references of
tests/insights: a group property filter is the person-level reference run over the events whose
company's latest `$groupidentify` `$group_set` matches (no company, or a company that never identified
itself: no properties, so only `neq` and `is_not_set` match); a breakdown on a group property is a
breakdown on that value copied onto each event ('' when none)."""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.insights import reference
from tests.insights.reference import Ev
from tests.insights.support import iso, load, new_tenant, recent_dst_change, run

BASE = recent_dst_change() - timedelta(hours=2)
RANGE_END = BASE + timedelta(minutes=150)
STEPS = ["s1", "s2", "s3"]
COMPANIES = ["acme", "globex", "initech", "umbrella"]
SETTINGS = settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck))

events_strategy = st.lists(
    st.builds(
        lambda user, name, minute, company: Ev(
            f"u{user}",
            name,
            BASE + timedelta(minutes=minute),
            {"$groups": {"company": company}} if company else {"plan": "none"},
        ),
        st.integers(0, 4),
        st.sampled_from([*STEPS, "other"]),
        st.sampled_from([-10, 0, 10, 20, 30, 40, 60, 90, 120, 140, 150, 160]),
        st.sampled_from([*COMPANIES, None]),
    ),
    min_size=4,
    max_size=30,
)
# `$groupidentify` events: (company, second, $group_set); at most one per company and second, so
# "latest" is never a tie. Some companies never identify themselves; some $group_sets lack a key.
identify_strategy = st.lists(
    st.tuples(
        st.sampled_from(COMPANIES),
        st.integers(0, 400),
        st.fixed_dictionaries(
            {},
            optional={
                "industry": st.sampled_from(["energy", "retail", "Retail"]),
                "size": st.sampled_from([5, 50, 500]),
            },
        ),
    ),
    max_size=8,
    unique_by=lambda item: (item[0], item[1]),
)
filter_strategy = st.sampled_from(
    [
        {"key": "industry", "operator": "eq", "value": "energy"},
        {"key": "industry", "operator": "neq", "value": "energy"},
        {"key": "industry", "operator": "is_set"},
        {"key": "industry", "operator": "is_not_set"},
        {"key": "industry", "operator": "in", "value": ["energy", "retail"]},
        {"key": "industry", "operator": "contains", "value": "ret"},
        {"key": "size", "operator": "gt", "value": 10},
        {"key": "size", "operator": "eq", "value": 50},
        {"key": "industry", "operator": "regex", "value": "^(energy)?$"},  # matches empty text: unset too
        {"key": "industry", "operator": "regex", "value": "^R"},
    ]
)


def identify_events(identifies: list[tuple[str, int, dict[str, Any]]]) -> list[Ev]:
    # Before the range (group properties hold whatever the insight's dates), by a user of their own.
    return [
        Ev(
            "admin",
            "$groupidentify",
            BASE - timedelta(hours=3) + timedelta(seconds=second),
            {"$groups": {"company": company}, "$group_set": props},
        )
        for company, second, props in identifies
    ]


def group_props(identifies: list[tuple[str, int, dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    latest: dict[str, tuple[int, dict[str, Any]]] = {}
    for company, second, props in identifies:
        if company not in latest or second > latest[company][0]:
            latest[company] = (second, props)
    return {company: props for company, (_, props) in latest.items()}


def matches(condition: dict[str, Any], props: dict[str, Any]) -> bool:
    """The documented operators on one (possibly unset) value."""
    op, value, got = condition["operator"], condition.get("value"), props.get(condition["key"])
    if op == "is_set":
        return got is not None
    if op == "is_not_set":
        return got is None
    if op == "neq":
        return got is None or str(got) != str(value)
    if op == "regex":
        return re.search(value, "" if got is None else str(got)) is not None
    if got is None:
        return False
    if op == "eq":
        return float(got) == value if isinstance(value, int) else str(got) == value
    if op == "in":
        return str(got) in value
    if op == "contains":
        return str(value).lower() in str(got).lower()
    if op == "gt":
        return float(got) > value
    raise AssertionError(op)


def company_of(e: Ev) -> str | None:
    return e.props.get("$groups", {}).get("company")


def kept(events: list[Ev], props: dict[str, dict[str, Any]], condition: dict[str, Any]) -> list[Ev]:
    return [e for e in events if matches(condition, props.get(company_of(e) or "", {}))]


def group_filter(condition: dict[str, Any]) -> dict[str, Any]:
    return {"type": "group", "group_type": "company", **condition}


@SETTINGS
@given(
    events=events_strategy,
    identifies=identify_strategy,
    condition=filter_strategy,
    math=st.sampled_from(["total", "unique_users"]),
)
def test_trend_group_filter_and_breakdown(runtime, events, identifies, condition, math):
    tenant = new_tenant("Europe/Oslo")
    load(runtime, tenant, [*events, *identify_events(identifies)])
    props = group_props(identifies)
    span = {"date_range": {"date_from": iso(BASE), "date_to": iso(RANGE_END)}, "interval": "hour"}
    filtered = run(
        runtime,
        tenant,
        {"kind": "trends", "series": [{"event": "s1", "math": math}], "filters": [group_filter(condition)], **span},
    )
    expected = reference.trends(kept(events, props, condition), "s1", math, "hour", "Europe/Oslo", BASE, RANGE_END)
    assert {p.label: p.value for p in filtered.series[0].points if p.value} == expected.get((), {})

    # A step's own filter (series filters) too.
    in_series = run(
        runtime,
        tenant,
        {"kind": "trends", **span, "series": [{"event": "s1", "math": math, "filters": [group_filter(condition)]}]},
    )
    assert in_series.series[0].total == filtered.series[0].total

    broken = run(
        runtime,
        tenant,
        {
            "kind": "trends",
            "series": [{"event": "s1", "math": math}],
            **span,
            "breakdown": [{"type": "group", "group_type": "company", "property": "industry"}],
        },
    )
    copied = [
        Ev(e.user, e.event, e.at, {"industry": props.get(company_of(e) or "", {}).get("industry")}) for e in events
    ]
    expected_bd = reference.trends(copied, "s1", math, "hour", "Europe/Oslo", BASE, RANGE_END, breakdown="industry")
    got = {tuple(s.breakdown_value): {p.label: p.value for p in s.points if p.value} for s in broken.series}
    assert {k: v for k, v in got.items() if v} == {k: v for k, v in expected_bd.items() if v}


@SETTINGS
@given(
    events=events_strategy,
    identifies=identify_strategy,
    condition=filter_strategy,
    order=st.sampled_from(["ordered", "unordered"]),
    by_company=st.booleans(),
)
def test_funnel_group_filter(runtime, events, identifies, condition, order, by_company):
    tenant = new_tenant("UTC")
    load(runtime, tenant, [*events, *identify_events(identifies)])
    props = group_props(identifies)
    query: dict[str, Any] = {
        "kind": "funnels",
        "steps": [{"event": name} for name in STEPS],
        "order": order,
        "conversion_window": {"value": 60, "unit": "minute"},
        "date_range": {"date_from": iso(BASE), "date_to": iso(RANGE_END)},
        "filters": [group_filter(condition)],
    }
    source = kept(events, props, condition)
    if by_company:  # group properties and group aggregation together
        query["aggregation"] = {"group": "company"}
        source = [Ev(company_of(e) or "", e.event, e.at) for e in source if company_of(e)]
    answer = run(runtime, tenant, query)
    expected = reference.funnel(source, STEPS, order, timedelta(minutes=60), [None] * 3, BASE, RANGE_END)
    assert [step.count for step in answer.funnel[0].steps] == expected


@SETTINGS
@given(events=events_strategy, identifies=identify_strategy, condition=filter_strategy)
def test_retention_and_engagement_group_filter(runtime, events, identifies, condition):
    tenant = new_tenant("UTC")
    load(runtime, tenant, [*events, *identify_events(identifies)])
    props = group_props(identifies)
    source = kept(events, props, condition)
    span = {"date_range": {"date_from": iso(BASE), "date_to": iso(RANGE_END)}, "filters": [group_filter(condition)]}
    answer = run(
        runtime,
        tenant,
        {
            "kind": "retention",
            "start_event": {"event": "s1"},
            "return_event": {"event": "s2"},
            "period": "day",
            "periods": 2,
            **span,
        },
    )
    expected = reference.retention(source, "s1", "s2", "day", 2, "first_time", "UTC", BASE, RANGE_END)
    assert {c.date: [c.size, *(v or 0 for v in c.values[1:])] for c in answer.retention if c.size} == expected

    active = run(runtime, tenant, {"kind": "engagement", "measure": "active_users", "event": "s1", **span})
    dau = active.series[0]
    days = [date.fromisoformat(p.label) for p in dau.points]
    expected_dau = reference.active_users([e for e in source if e.event == "s1"], "UTC", days, RANGE_END)
    assert {p.label: p.value for p in dau.points} == {d: float(v[0]) for d, v in expected_dau.items()}


def test_group_property_filter_is_not_vacuous(runtime):
    """A fixed example: the filter and the breakdown change the answer as documented."""
    tenant = new_tenant("UTC")
    events = [
        Ev("u1", "s1", BASE, {"$groups": {"company": "acme"}}),
        Ev("u2", "s1", BASE, {"$groups": {"company": "globex"}}),
        Ev("u3", "s1", BASE, {"$groups": {"company": "initech"}}),
        Ev("u4", "s1", BASE, {}),
    ]
    identifies = [
        ("acme", 1, {"industry": "energy"}),
        ("acme", 2, {"industry": "retail"}),
        ("globex", 1, {"industry": "energy"}),
    ]
    load(runtime, tenant, [*events, *identify_events(identifies)])
    span = {"date_range": {"date_from": iso(BASE), "date_to": iso(RANGE_END)}}

    def total(condition: dict[str, Any]) -> float:
        query = {"kind": "trends", "series": [{"event": "s1"}], "filters": [group_filter(condition)], **span}
        return float(run(runtime, tenant, query).series[0].total)

    assert total({"key": "industry", "value": "energy"}) == 1  # globex; acme's latest says retail
    assert total({"key": "industry", "value": "retail"}) == 1
    assert total({"key": "industry", "operator": "neq", "value": "energy"}) == 3  # acme, initech, no company
    assert total({"key": "industry", "operator": "is_not_set"}) == 2
    broken = run(
        runtime,
        tenant,
        {
            "kind": "trends",
            "series": [{"event": "s1"}],
            **span,
            "breakdown": [{"type": "group", "group_type": "company", "property": "industry"}],
        },
    )
    assert {s.breakdown_value[0]: s.total for s in broken.series} == {"energy": 1, "retail": 1, "": 2}


def test_every_kind_takes_group_property_filters_and_breakdowns(runtime):
    """Funnels and retention broken down by a group property; paths and engagement filtered on one."""
    tenant = new_tenant("UTC")
    energy, retail = {"$groups": {"company": "acme"}}, {"$groups": {"company": "globex"}}
    events = [
        Ev("u1", "s1", BASE, energy),
        Ev("u1", "s2", BASE + timedelta(minutes=5), energy),
        Ev("u2", "s1", BASE, energy),
        Ev("u3", "s1", BASE, retail),
        Ev("u3", "s2", BASE + timedelta(minutes=5), retail),
        Ev("u3", "s3", BASE + timedelta(minutes=6), retail),
        Ev("u4", "s1", BASE, {}),
    ]
    identifies = [("acme", 1, {"industry": "energy"}), ("globex", 1, {"industry": "retail"})]
    load(runtime, tenant, [*events, *identify_events(identifies)])
    span = {"date_range": {"date_from": iso(BASE), "date_to": iso(RANGE_END)}}
    by_industry = [{"type": "group", "group_type": "company", "property": "industry"}]
    energy_only = [group_filter({"key": "industry", "value": "energy"})]

    funnel = run(
        runtime,
        tenant,
        {"kind": "funnels", "steps": [{"event": "s1"}, {"event": "s2"}], "breakdown": by_industry, **span},
    )
    assert {tuple(f.breakdown_value): [s.count for s in f.steps] for f in funnel.funnel} == {
        ("energy",): [2, 1],
        ("retail",): [1, 1],
        ("",): [1, 0],
    }
    retention = run(
        runtime,
        tenant,
        {
            "kind": "retention",
            "start_event": {"event": "s1"},
            "return_event": {"event": "s2"},
            "period": "day",
            "periods": 1,
            "breakdown": by_industry,
            **span,
        },
    )
    sizes: dict[str, int] = {}
    for cohort in retention.retention:
        value = (getattr(cohort, "breakdown_value", None) or [""])[0]
        sizes[value] = sizes.get(value, 0) + cohort.size
    assert sizes == {"energy": 2, "retail": 1, "": 1}

    paths = run(
        runtime,
        tenant,
        {"kind": "paths", "start_event": "s1", "steps": 3, "include_events": STEPS, "filters": energy_only, **span},
    )
    assert [(link.source, link.target, link.people) for link in paths.links] == [("1_s1", "2_s2", 1)]  # u1 only

    active = run(
        runtime,
        tenant,
        {"kind": "engagement", "measure": "active_users", "event": "s1", "filters": energy_only, **span},
    )
    assert max(p.value for p in active.series[0].points) == 2


@SETTINGS
@given(events=events_strategy, identifies=identify_strategy, condition=filter_strategy)
def test_correlation_group_filter(runtime, events, identifies, condition):
    from analytics_engine.insights import parse_insight_query
    from analytics_engine.insights.correlation import CorrelationOptions, FunnelCorrelationRunner
    from tests.insights import correlation_reference

    tenant = new_tenant("UTC")
    load(runtime, tenant, [*events, *identify_events(identifies)])
    query = parse_insight_query(
        {
            "kind": "funnels",
            "steps": [{"event": name} for name in STEPS],
            "conversion_window": {"value": 60, "unit": "minute"},
            "date_range": {"date_from": iso(BASE), "date_to": iso(RANGE_END)},
            "filters": [group_filter(condition)],
        }
    )
    options = CorrelationOptions(properties=["plan"], min_people=1, limit=500)
    answer = FunnelCorrelationRunner(runtime, tenant, query, options).run()
    source = kept(events, group_props(identifies), condition)
    expected = correlation_reference.correlation(
        source, STEPS, "ordered", timedelta(minutes=60), BASE, RANGE_END, ["plan"], ()
    )
    assert (answer.totals["success"], answer.totals["failure"]) == expected["totals"]
    got = {(r.type, r.event or r.property, r.value): (r.success_count, r.failure_count) for r in answer.correlation}
    assert got == expected["rows"]
