"""The fast path of HTTP ingest: a body whose events are all plainly valid, decoded and checked by
msgspec straight into warehouse rows.

Most request bodies hold nothing but well-formed events with flat properties. For those, decoding
into typed structs and encoding rows in C costs about a third of parsing into Python dicts, checking
them field by field and dumping each row again (docs/ingest.md, "Validation"). Anything else
(a body that does not decode into the expected shape, a nested property value, a number that
`validation` would read differently, any rule broken) makes `fast_accept` return None, and the caller
takes the general path (`service.parse_body` + `validation.validate_events`), which gives every event
its own verdict and reason. So this module decides nothing on its own: whatever it accepts, the
general path accepts with the same row (tests/ingest/test_fast_path.py holds the two to that).
"""

from __future__ import annotations

from collections.abc import Callable

import msgspec

from analytics_engine.ingest.validation import (
    UUID_TEXT,
    AcceptedEvent,
    InvalidEvent,
    Limits,
    canonical_uuid,
    epoch_text,
    new_event_ids,
    now_epoch_ms,
    parse_timestamp,
)

# Flat values only: a nested object or array is rare and takes the general path, which measures it.
PropertyValue = str | int | float | bool | None
# orjson, which the general path parses with, reads integers outside this range as floats.
INT_RANGE = range(-(2**63), 2**64)


class EventIn(msgspec.Struct, forbid_unknown_fields=True):
    event: str
    distinct_id: str | int
    timestamp: str | int | float | None = None
    event_id: str | None = None
    properties: dict[str, PropertyValue] | None = None


class EventRow(msgspec.Struct, array_like=True):
    """One line of the events table, as `validation.validate_one` writes it (EVENT_COLUMNS order)."""

    tenant_id: str
    event: str
    distinct_id: str
    timestamp: str
    event_id: str
    received_at: str
    properties: dict[str, PropertyValue] | None


_BODY = msgspec.json.Decoder(list[EventIn] | EventIn)
_LINE = msgspec.json.Decoder(EventIn)
_ROW = msgspec.json.Encoder()


def decode(body: bytes, ndjson: bool) -> list[EventIn] | None:
    try:
        if ndjson:
            return [_LINE.decode(line) for line in body.split(b"\n") if line.strip()]
        decoded = _BODY.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    return decoded if isinstance(decoded, list) else [decoded]


def fast_accept(
    body: bytes,
    ndjson: bool,
    tenant_id: str,
    limits: Limits,
    max_events: int,
    *,
    now_ms: int | None = None,
    suppressed: frozenset[str] | None = None,
) -> list[AcceptedEvent] | None:
    """Every event of the body as an accepted row, or None where the general path must decide (it
    does for every body of a tenant with suppressed ids; by default the tenant's list from `limits`)."""
    if suppressed is None:
        suppressed = limits.suppressed(tenant_id)
    if suppressed:
        return None
    events = decode(body, ndjson)
    if not events or len(events) > max_events:
        return None
    return accept_events(events, tenant_id, limits, now_ms=now_ms)


def accept_events(
    events: list[EventIn],
    tenant_id: str,
    limits: Limits,
    *,
    now_ms: int | None = None,
    missing_id: Callable[[int], str] | None = None,
) -> list[AcceptedEvent] | None:
    """Decoded events as accepted rows, or None where the general path must decide. An event
    without an id gets a fresh random one, or with `missing_id` the id it gives for the event's
    position (NATS: derived from the message, so a redelivery repeats it), which then counts as a
    client id (checked for duplicates), as on the general path."""
    now_ms = now_ms if now_ms is not None else now_epoch_ms()
    received_at = epoch_text(now_ms)
    earliest, latest = limits.earliest_ms(now_ms), now_ms + limits.max_future_skew_ms
    max_name = limits.max_name_length
    missing = 0 if missing_id is not None else sum(1 for event in events if event.event_id is None)
    fresh_ids = iter(new_event_ids(missing))
    accepted: list[AcceptedEvent] = []
    try:
        for position, event in enumerate(events):
            name, distinct_id = event.event, event.distinct_id
            if isinstance(distinct_id, str):
                person = distinct_id
            else:  # the decoder admits only str or int here (bool is not an int to it)
                if distinct_id not in INT_RANGE:
                    return None
                person = str(distinct_id)
            if not (0 < len(name) <= max_name and 0 < len(person) <= max_name) or name.isspace() or person.isspace():
                return None
            timestamp_ms = now_ms if event.timestamp is None else parse_timestamp(event.timestamp)
            if not earliest <= timestamp_ms <= latest:
                return None
            if event.event_id is None and missing_id is not None:
                event_id, client_id = canonical_uuid(missing_id(position)), True
            elif event.event_id is None:
                event_id, client_id = next(fresh_ids), False
            elif UUID_TEXT.fullmatch(event.event_id):
                event_id, client_id = canonical_uuid(event.event_id), True
            else:
                return None
            if event.properties is not None and not _plain_properties(event.properties, limits):
                return None
            row = EventRow(tenant_id, name, person, epoch_text(timestamp_ms), event_id, received_at, event.properties)
            accepted.append(AcceptedEvent(tenant_id, event_id, client_id, timestamp_ms, _ROW.encode(row)))
    except (InvalidEvent, ValueError, OverflowError):
        return None
    return accepted


class MessageIn(msgspec.Struct, forbid_unknown_fields=True):
    """A NATS message carrying many events of one tenant (streaming/messages.py)."""

    tenant_id: str
    events: list[EventIn]


_MESSAGE = msgspec.json.Decoder(MessageIn)


def decode_message(data: bytes, max_tenant_id: int) -> MessageIn | None:
    """`{"tenant_id": ..., "events": [...]}` with plain events, or None (the general path decides)."""
    try:
        message = _MESSAGE.decode(data)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    tenant_id = message.tenant_id
    if not message.events or not tenant_id.strip() or len(tenant_id) > max_tenant_id:
        return None
    return message


def _plain_properties(properties: dict[str, PropertyValue], limits: Limits) -> bool:
    if len(properties) > limits.max_properties:
        return False
    max_name, max_bytes = limits.max_name_length, limits.max_property_bytes
    for key, value in properties.items():
        if not 0 < len(key) <= max_name:
            return False
        kind = type(value)
        if (kind is str and len(value) > max_bytes) or (kind is int and value not in INT_RANGE):  # type: ignore[arg-type]
            return False
    return True
