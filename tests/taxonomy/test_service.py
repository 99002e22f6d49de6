"""The taxonomy against a plain-Python reference on random events: per event name the volume and
first and last UTC day; per property path (nested keys flattened) its JSON types with events per
type, volume, events it came with, first and last seen. Then annotations and hidden names."""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analytics_engine.errors import NotFound
from analytics_engine.taxonomy.schemas import AnnotationUpdate
from analytics_engine.tenants.schemas import TenantCreate
from analytics_engine.tenants.service import TenantContext
from tests.insights.reference import Ev
from tests.insights.support import load, new_tenant

BASE = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)

values = st.one_of(
    st.none(), st.sampled_from(["pro", "free"]), st.integers(0, 9), st.booleans(), st.just(2.5), st.just([1, 2])
)
props = st.fixed_dictionaries(
    {},
    optional={
        "plan": values,
        "amount": values,
        "utm": st.fixed_dictionaries({"source": st.sampled_from(["ad", "seo"])}),
    },
)
events_strategy = st.lists(
    st.builds(
        lambda user, name, minutes, p: Ev(f"u{user}", name, BASE + timedelta(minutes=minutes), p),
        st.integers(0, 3),
        st.sampled_from(["signup", "purchase", "view"]),
        st.integers(-3000, 3000),
        props,
    ),
    min_size=1,
    max_size=25,
)


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, list):
        return "array"
    return "string"


def _paths(properties: dict[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    out = []
    for key, value in properties.items():
        if isinstance(value, dict):
            out += _paths(value, f"{prefix}{key}.")
        elif value is not None:  # a null is no type: the key is not stored
            out.append((prefix + key, _json_type(value)))
    return out


def reference(events: list[Ev]) -> tuple[dict[str, Any], dict[str, Any]]:
    names: dict[str, list[datetime]] = defaultdict(list)
    keys: dict[str, list[tuple[str, str, datetime]]] = defaultdict(list)
    for e in events:
        names[e.event].append(e.at)
        for path, type_ in _paths(e.props):
            keys[path].append((type_, e.event, e.at))
    expected_events = {n: (len(ts), min(ts).date(), max(ts).date()) for n, ts in names.items()}
    expected_props = {}
    for key, items in keys.items():
        per_type: dict[str, int] = defaultdict(int)
        per_event: dict[str, int] = defaultdict(int)
        for type_, event, _ in items:
            per_type[type_] += 1
            per_event[event] += 1
        expected_props[key] = (
            sorted(per_type.items(), key=lambda kv: (-kv[1], kv[0])),
            len(items),
            sorted(per_event, key=lambda e: (-per_event[e], e)),
            min(at for *_, at in items),
            max(at for *_, at in items),
        )
    return expected_events, expected_props


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(events=events_strategy)
def test_taxonomy_matches_the_events(runtime, events):
    tenant = new_tenant()
    load(runtime, tenant, events)
    found = runtime.taxonomy.get(tenant.tenant_id)
    expected_events, expected_props = reference(events)
    assert {e.name: (e.volume, e.first_seen, e.last_seen) for e in found.events} == expected_events
    got = {
        p.key: ([(t.type, t.events) for t in p.types], p.volume, p.event_names, p.first_seen, p.last_seen)
        for p in found.properties
    }
    assert got == expected_props
    assert {w.subject for w in found.warnings if w.kind == "type_changed"} == {
        key for key, (types, *_) in expected_props.items() if len(types) > 1
    }


def _registered(runtime: Any) -> TenantContext:
    """A tenant of the metadata database (annotations belong to one)."""
    created = runtime.tenants.create(TenantCreate(name=f"taxonomy {uuid.uuid4().hex[:8]}"))
    return TenantContext(created.id, created.name, "UTC", frozenset({"read"}), "key")


def test_annotations_and_hidden_names(runtime):
    tenant = _registered(runtime)
    load(runtime, tenant, [Ev("u0", "signup", BASE, {"plan": "pro"}), Ev("u1", "signup", BASE, {"plan": 7})])
    service = runtime.taxonomy
    saved = service.update(
        tenant.tenant_id, "event", "signup", AnnotationUpdate(description="A volunteer joined", tags=["core", "core "])
    )
    assert saved.tags == ["core"] and saved.verified is False
    service.update(tenant.tenant_id, "event", "signup", AnnotationUpdate(verified=True))
    (entry,) = service.get(tenant.tenant_id).events
    assert (entry.description, entry.tags, entry.verified) == ("A volunteer joined", ["core"], True)
    service.update(tenant.tenant_id, "property", "plan", AnnotationUpdate(hidden=True))
    shown = service.get(tenant.tenant_id)
    assert shown.properties == [] and shown.warnings == []  # the hidden key's type warning goes with it
    everything = service.get(tenant.tenant_id, include_hidden=True)
    assert [p.key for p in everything.properties] == ["plan"] and everything.properties[0].hidden
    assert [w.kind for w in everything.warnings] == ["type_changed"]
    with pytest.raises(NotFound):
        service.update(tenant.tenant_id, "event", "never_sent", AnnotationUpdate(hidden=True))
    other = new_tenant()
    assert runtime.taxonomy.get(other.tenant_id).events == []  # another tenant sees nothing of it
