"""The fast path accepts only what the general path accepts, with the same rows."""

from __future__ import annotations

import msgspec
import orjson
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from analytics_engine.datagen.generator import GeneratorSpec, generate_events
from analytics_engine.ingest.fast_path import fast_accept
from analytics_engine.ingest.service import parse_body
from analytics_engine.ingest.validation import Limits, event_row, validate_events

NOW = 1_780_000_000_000
LIMITS = Limits(max_properties=4, max_property_bytes=12, max_name_length=10)
MAX_EVENTS = 20

names = st.one_of(st.text(max_size=12), st.sampled_from(["", " ", "signup"]), st.integers(), st.none())
people = st.one_of(names, st.integers(min_value=-(2**70), max_value=2**70), st.booleans())
timestamps = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=NOW - 400 * 86_400_000, max_value=NOW + 7_200_000),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(["2026-05-28T20:26:40Z", "2026-05-28 20:26:40.5", "2026-05-28T22:26:40+02:00", "soon", ""]),
)
event_ids = st.one_of(
    st.none(),
    st.uuids().map(str),
    st.uuids().map(lambda u: str(u).upper()),
    st.uuids().map(lambda u: u.hex),
    st.sampled_from(["not-a-uuid", 7, ""]),
)
flat_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=16),
)
values = st.one_of(flat_values, st.lists(flat_values, max_size=3), st.dictionaries(st.text(max_size=3), flat_values))
properties = st.one_of(st.none(), st.dictionaries(st.text(max_size=12), values, max_size=6), st.just([1]))
events = st.fixed_dictionaries(
    {"event": names, "distinct_id": people},
    optional={
        "timestamp": timestamps,
        "event_id": event_ids,
        "properties": properties,
        "extra": st.just(1),
    },
)

# Mostly valid events, so that many examples take the fast path and get compared.
plain_events = st.fixed_dictionaries(
    {
        "event": st.sampled_from(["signup", "purchase", "é"]),
        "distinct_id": st.one_of(st.text(min_size=1, max_size=10), st.integers(min_value=-5, max_value=10**12)),
    },
    optional={
        "timestamp": st.one_of(
            st.integers(min_value=NOW - 86_400_000, max_value=NOW), st.just("2026-05-28T20:26:40.123+01:00")
        ),
        "event_id": st.one_of(st.none(), st.uuids().map(str), st.uuids().map(lambda u: str(u).upper())),
        "properties": st.dictionaries(st.text(min_size=1, max_size=10), flat_values, max_size=4),
    },
)


def general_path(body: bytes, ndjson: bool) -> tuple[list, list]:
    raw, broken = parse_body(body, "application/x-ndjson" if ndjson else "application/json", MAX_EVENTS)
    outcome = validate_events(raw, "tn", LIMITS, now_ms=NOW)
    return outcome.accepted, [*broken, *outcome.rejected]


def rows(accepted) -> list[dict]:
    """The rows as ClickHouse reads them; a server-made id is random, so only its presence counts."""
    parsed = []
    for item in accepted:
        row = event_row(item.line)
        if not item.client_event_id:
            assert row.pop("event_id") == item.event_id
        parsed.append((row, item.tenant_id, item.client_event_id, item.timestamp_ms))
    return parsed


def render(batch: list[dict], shape: str) -> bytes:
    """msgspec writes integers of any size, as a client may send them."""
    if shape == "ndjson":
        return b"\n\n".join(msgspec.json.encode(event) for event in batch) + b"\n"
    return msgspec.json.encode(batch[0] if shape == "object" else batch)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    batch=st.lists(st.one_of(plain_events, plain_events, events), min_size=1, max_size=4),
    shape=st.sampled_from(["array", "object", "ndjson"]),
)
@example(batch=[{"event": "e", "distinct_id": 2**64}], shape="array")
@example(batch=[{"event": "e", "distinct_id": "u", "properties": {"n": 2**64}}], shape="array")
def test_fast_path_agrees_with_the_general_path(batch, shape):
    body = render(batch, shape)
    fast = fast_accept(body, shape == "ndjson", "tn", LIMITS, MAX_EVENTS, now_ms=NOW)
    if fast is None:
        return  # the general path decides; nothing to compare
    accepted, rejected = general_path(body, shape == "ndjson")
    assert rejected == []
    assert rows(fast) == rows(accepted)


@pytest.mark.parametrize(
    "body",
    [
        b'{"event":"e","distinct_id":"u","properties":{"big":1e400}}',
        b'{"event":"e","distinct_id":"u","properties":{"nested":{"a":1}}}',
        b'{"event":"e","distinct_id":"u","properties":{"":1}}',
        b'{"event":"e","distinct_id":"u","unknown":1}',
        b'{"event":"e","distinct_id":"u","event_id":"nope"}',
        b'[{"event":"e","distinct_id":"u"},{"event":"","distinct_id":"u"}]',
        b'{"event":"e","distinct_id":"u","timestamp":"yesterday"}',
        b"[]",
        b"[" + b",".join([b'{"event":"e","distinct_id":"u"}'] * (MAX_EVENTS + 1)) + b"]",
    ],
)
def test_anything_unusual_goes_to_the_general_path(body):
    assert fast_accept(body, False, "tn", LIMITS, MAX_EVENTS, now_ms=NOW) is None


def test_repeated_keys_read_as_the_general_path_reads_them():
    body = b'{"event":"a","event":"b","distinct_id":"u","properties":{"k":1,"k":2}}'
    fast = fast_accept(body, False, "tn", LIMITS, MAX_EVENTS, now_ms=NOW)
    assert fast is not None, "msgspec, like orjson, keeps the last of repeated keys"
    assert rows(fast) == rows(general_path(body, False)[0])
    assert event_row(fast[0].line)["event"] == "b" and event_row(fast[0].line)["properties"] == {"k": 2}


def test_generated_events_take_the_fast_path():
    batch = list(generate_events(GeneratorSpec(events=500, days=30, seed=3)))
    now_ms = max(event_time_ms(event) for event in batch) + 1000
    body = orjson.dumps(batch)
    fast = fast_accept(body, False, "tn", Limits(), 1000, now_ms=now_ms)
    assert fast is not None and len(fast) == 500
    slow = validate_events(orjson.loads(body), "tn", Limits(), now_ms=now_ms)
    assert rows(fast) == rows(slow.accepted)


def event_time_ms(event: dict) -> int:
    from analytics_engine.ingest.validation import parse_timestamp

    return parse_timestamp(event["timestamp"])
