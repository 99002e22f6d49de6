"""The one validation path for incoming events, whatever carried them (HTTP, NATS, sync).

Hand-written rather than a pydantic model per event: this runs for every event on the hot path and
a plain function is several times faster; the rules are few and listed in docs/ingest.md.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from analytics_engine.config import Settings

EVENT_COLUMNS = ("tenant_id", "event", "distinct_id", "timestamp", "event_id", "received_at", "properties")
ALLOWED_FIELDS = frozenset({"event", "distinct_id", "timestamp", "event_id", "properties"})


@dataclass(frozen=True)
class Limits:
    max_properties: int = 200
    max_property_bytes: int = 8_192
    max_name_length: int = 200
    max_future_skew_ms: int = 3_600_000
    max_past_ms: int = 395 * 86_400_000

    @classmethod
    def from_settings(cls, settings: Settings) -> Limits:
        return cls(
            max_properties=settings.ingest_max_properties,
            max_property_bytes=settings.ingest_max_property_bytes,
            max_name_length=settings.ingest_max_name_length,
            max_future_skew_ms=settings.ingest_max_future_skew_seconds * 1000,
            max_past_ms=settings.ingest_max_past_days * 86_400_000,
        )


@dataclass(slots=True)
class AcceptedEvent:
    tenant_id: str
    event_id: str
    client_event_id: bool  # supplied by the client, so a retry may repeat it
    timestamp_ms: int
    line: bytes  # the JSONEachRow line for the events table


@dataclass(slots=True)
class RejectedEvent:
    tenant_id: str
    position: int
    reason: str
    payload: bytes


@dataclass
class ValidationOutcome:
    accepted: list[AcceptedEvent] = field(default_factory=list)
    rejected: list[RejectedEvent] = field(default_factory=list)


class InvalidEvent(ValueError):
    pass


def format_ms(epoch_ms: int) -> str:
    moment = datetime.fromtimestamp(epoch_ms / 1000, UTC)
    return f"{moment:%Y-%m-%d %H:%M:%S}.{epoch_ms % 1000:03d}"


def parse_timestamp(value: Any) -> int:
    """Epoch milliseconds from an ISO 8601 string (a zone-less one is UTC) or an epoch number
    (seconds below 10^11, milliseconds above)."""
    if isinstance(value, bool):
        raise InvalidEvent("timestamp must be an ISO 8601 string or an epoch number")
    if isinstance(value, int | float):
        millis = value * 1000 if abs(value) < 1e11 else value
        return int(round(millis))
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError as exc:
            raise InvalidEvent(f"timestamp {value[:64]!r} is not ISO 8601") from exc
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return int(round(moment.timestamp() * 1000))
    raise InvalidEvent("timestamp must be an ISO 8601 string or an epoch number")


def _name(event: dict[str, Any], key: str, limits: Limits) -> str:
    value = event.get(key)
    if isinstance(value, int) and not isinstance(value, bool) and key == "distinct_id":
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        raise InvalidEvent(f"'{key}' is required and must be a non-empty string")
    if len(value) > limits.max_name_length:
        raise InvalidEvent(f"'{key}' is longer than {limits.max_name_length} characters")
    return value


def _properties(value: Any, limits: Limits) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidEvent("'properties' must be an object")
    if len(value) > limits.max_properties:
        raise InvalidEvent(f"more than {limits.max_properties} properties")
    for key, item in value.items():
        if not key or len(key) > limits.max_name_length:
            raise InvalidEvent(f"property name {key[:64]!r} is empty or too long")
        if isinstance(item, str):
            if len(item) > limits.max_property_bytes:
                raise InvalidEvent(f"property {key!r} is larger than {limits.max_property_bytes} bytes")
        elif isinstance(item, dict | list):
            if len(orjson.dumps(item)) > limits.max_property_bytes:
                raise InvalidEvent(f"property {key!r} is larger than {limits.max_property_bytes} bytes")
    return value


def validate_one(
    raw: Any, tenant_id: str, limits: Limits, now_ms: int, received_at: str
) -> AcceptedEvent:
    if not isinstance(raw, dict):
        raise InvalidEvent("an event must be a JSON object")
    unknown = raw.keys() - ALLOWED_FIELDS
    if unknown:
        raise InvalidEvent(f"unknown field(s): {', '.join(sorted(map(str, unknown)))[:200]}")
    name = _name(raw, "event", limits)
    distinct_id = _name(raw, "distinct_id", limits)
    raw_ts = raw.get("timestamp")
    timestamp_ms = now_ms if raw_ts is None else parse_timestamp(raw_ts)
    if timestamp_ms > now_ms + limits.max_future_skew_ms:
        raise InvalidEvent("timestamp is too far in the future")
    if timestamp_ms < now_ms - limits.max_past_ms:
        raise InvalidEvent("timestamp is older than the hot retention window")
    raw_id = raw.get("event_id")
    if raw_id is None:
        event_id, client_id = str(uuid.uuid4()), False
    else:
        try:
            event_id, client_id = str(uuid.UUID(str(raw_id))), True
        except ValueError as exc:
            raise InvalidEvent("'event_id' must be a UUID") from exc
    properties = _properties(raw.get("properties"), limits)
    line = orjson.dumps(
        {
            "tenant_id": tenant_id,
            "event": name,
            "distinct_id": distinct_id,
            "timestamp": format_ms(timestamp_ms),
            "event_id": event_id,
            "received_at": received_at,
            "properties": properties,
        }
    )
    return AcceptedEvent(tenant_id, event_id, client_id, timestamp_ms, line)


def validate_events(
    raw_events: list[Any], tenant_id: str, limits: Limits, *, now_ms: int | None = None
) -> ValidationOutcome:
    """Split events into accepted rows and rejections (position, reason, raw payload)."""
    now_ms = now_ms if now_ms is not None else int(datetime.now(UTC).timestamp() * 1000)
    received_at = format_ms(now_ms)
    outcome = ValidationOutcome()
    for position, raw in enumerate(raw_events):
        try:
            outcome.accepted.append(validate_one(raw, tenant_id, limits, now_ms, received_at))
        except InvalidEvent as exc:
            outcome.rejected.append(RejectedEvent(tenant_id, position, str(exc), _payload(raw)))
    return outcome


def _payload(raw: Any) -> bytes:
    if isinstance(raw, bytes):
        return raw
    try:
        return orjson.dumps(raw)
    except TypeError:
        return repr(raw).encode()
