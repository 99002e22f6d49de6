"""The rules for incoming events, whatever carried them (HTTP, NATS, sync): the general path, which
gives every event its own verdict and reason. (HTTP bodies of plainly valid events take
`fast_path` first, which accepts only what this accepts.)

Hand-written rather than a pydantic model per event: this runs for every event on the hot path and
a plain function is several times faster; the rules are few and listed in docs/ingest.md.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import orjson

from analytics_engine.config import Settings
from analytics_engine.lifecycle.window import hot_window_start_ms
from analytics_engine.privacy.receipt import subject_hash

# A row of the events table travels as one JSONCompactEachRow line: these values in this order.
# ClickHouse reads it ~0.5 us per event cheaper than a JSONEachRow object (no key to match per value).
EVENT_COLUMNS = ("tenant_id", "event", "distinct_id", "timestamp", "event_id", "received_at", "properties")
EVENT_ROW_FORMAT = "JSONCompactEachRow"
UUID_TEXT = re.compile(r"[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}")
# The RFC 4122 variant bits (10xx) over a random hex digit.
_VARIANT = {digit: "89ab"[int(digit, 16) & 3] for digit in "0123456789abcdef"}
ALLOWED_FIELDS = frozenset({"event", "distinct_id", "timestamp", "event_id", "properties"})


@dataclass(frozen=True)
class Limits:
    max_properties: int = 200
    max_property_bytes: int = 8_192
    max_name_length: int = 200
    max_future_skew_ms: int = 3_600_000
    max_past_ms: int = 395 * 86_400_000
    # The hot tier's whole months (lifecycle/window.py); 0: no month rule (data generation). An
    # older event is refused: the table would keep it only until the tiering job moves its month.
    hot_retention_months: int = 0
    # The tenant's ids erased with suppression (SHA-256 of tenant and id: privacy/suppression.py),
    # looked up per batch. Every ingest path (HTTP, NATS, sync) validates with the process's limits,
    # so every path refuses them; None (generators, tests): no list.
    suppression: Callable[[str], frozenset[str]] | None = field(default=None, compare=False, repr=False)

    def suppressed(self, tenant_id: str) -> frozenset[str]:
        """The suppression list of this tenant (empty without a lookup)."""
        return self.suppression(tenant_id) if self.suppression is not None else frozenset()

    def earliest_ms(self, now_ms: int) -> int:
        """The oldest timestamp accepted at `now_ms`: the later of `max_past_ms` ago and the start of
        the oldest hot month."""
        earliest = now_ms - self.max_past_ms
        if self.hot_retention_months:
            earliest = max(earliest, _hot_start(now_ms // 60_000, self.hot_retention_months))
        return earliest

    def too_old(self, now_ms: int) -> str:
        """The rejection reason of an event older than `earliest_ms`."""
        start = datetime.fromtimestamp(self.earliest_ms(now_ms) / 1000, UTC)
        return (
            f"timestamp is older than the hot retention window (events from {start:%Y-%m-%dT%H:%M:%SZ} on "
            "are accepted; older ones would not be kept)"
        )

    @classmethod
    def from_settings(cls, settings: Settings, suppression: Callable[[str], frozenset[str]] | None = None) -> Limits:
        return cls(
            max_properties=settings.ingest_max_properties,
            max_property_bytes=settings.ingest_max_property_bytes,
            max_name_length=settings.ingest_max_name_length,
            max_future_skew_ms=settings.ingest_max_future_skew_seconds * 1000,
            max_past_ms=settings.ingest_max_past_days * 86_400_000,
            hot_retention_months=settings.hot_retention_months,
            suppression=suppression,
        )


@dataclass(slots=True)
class AcceptedEvent:
    tenant_id: str
    event_id: str
    client_event_id: bool  # supplied by the client, so a retry may repeat it
    timestamp_ms: int
    line: bytes  # the events row: a JSONCompactEachRow line, values in EVENT_COLUMNS order


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
    """Human-readable UTC text for a `DateTime64(3, 'UTC')` parameter."""
    moment = datetime.fromtimestamp(epoch_ms / 1000, UTC)
    return f"{moment:%Y-%m-%d %H:%M:%S}.{epoch_ms % 1000:03d}"


def now_epoch_ms() -> int:
    return int(datetime.now(UTC).timestamp() * 1000)


def new_event_ids(count: int) -> list[str]:
    """`count` random (version 4) UUIDs in canonical text, from one read of the OS's random source:
    several times cheaper than `str(uuid.uuid4())` each, which showed in ingest profiles."""
    digits = os.urandom(16 * count).hex()
    ids = []
    for start in range(0, 32 * count, 32):
        h = digits[start : start + 32]
        ids.append(f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:]}")
    return ids


def epoch_text(epoch_ms: int) -> str:
    """`seconds.millis`: the cheapest text ClickHouse reads exactly into `DateTime64(3)`."""
    seconds, millis = divmod(epoch_ms, 1000)
    return f"{seconds}.{millis:03d}"


def parse_timestamp(value: Any) -> int:
    """Epoch milliseconds from an ISO 8601 string (a zone-less one is UTC) or an epoch number
    (seconds below 10^11, milliseconds above)."""
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError as exc:
            raise InvalidEvent(f"timestamp {value[:64]!r} is not ISO 8601") from exc
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return round(moment.timestamp() * 1000)
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return round(value * 1000 if abs(value) < 1e11 else value)
    raise InvalidEvent("timestamp must be an ISO 8601 string or an epoch number")


def _name(value: Any, key: str, max_length: int) -> str:
    if type(value) is not str:
        if key == "distinct_id" and type(value) is int:
            return str(value)
        raise InvalidEvent(f"'{key}' is required and must be a non-empty string")
    if not value or len(value) > max_length or value.isspace():
        if len(value) > max_length:
            raise InvalidEvent(f"'{key}' is longer than {max_length} characters")
        raise InvalidEvent(f"'{key}' is required and must be a non-empty string")
    return value


def _check_properties(value: Any, limits: Limits) -> None:
    if type(value) is not dict:
        raise InvalidEvent("'properties' must be an object")
    if len(value) > limits.max_properties:
        raise InvalidEvent(f"more than {limits.max_properties} properties")
    max_bytes, max_name = limits.max_property_bytes, limits.max_name_length
    for key, item in value.items():
        if not key or len(key) > max_name:
            raise InvalidEvent(f"property name {key[:64]!r} is empty or too long")
        kind = type(item)
        if kind is str:
            if len(item) > max_bytes:
                raise InvalidEvent(f"property {key!r} is larger than {max_bytes} bytes")
        elif (kind is dict or kind is list) and len(orjson.dumps(item)) > max_bytes:
            raise InvalidEvent(f"property {key!r} is larger than {max_bytes} bytes")


def validate_one(
    raw: Any,
    tenant_id: str,
    limits: Limits,
    now_ms: int,
    received_at: str,
    suppressed: frozenset[str] = frozenset(),
) -> AcceptedEvent:
    if type(raw) is not dict:
        raise InvalidEvent("an event must be a JSON object")
    if not ALLOWED_FIELDS.issuperset(raw):
        unknown = sorted(map(str, raw.keys() - ALLOWED_FIELDS))
        raise InvalidEvent(f"unknown field(s): {', '.join(unknown)[:200]}")
    name = _name(raw.get("event"), "event", limits.max_name_length)
    distinct_id = _name(raw.get("distinct_id"), "distinct_id", limits.max_name_length)
    if suppressed and subject_hash(tenant_id, distinct_id) in suppressed:
        raise InvalidEvent("distinct_id was erased with suppression: its events are refused (docs/privacy.md)")
    raw_ts = raw.get("timestamp")
    timestamp_ms = now_ms if raw_ts is None else parse_timestamp(raw_ts)
    if timestamp_ms > now_ms + limits.max_future_skew_ms:
        raise InvalidEvent("timestamp is too far in the future")
    if timestamp_ms < limits.earliest_ms(now_ms):
        raise InvalidEvent(limits.too_old(now_ms))
    raw_id = raw.get("event_id")
    if raw_id is None:
        # A fresh id cannot repeat: nothing to check for duplicates. (Made here, not by a column
        # DEFAULT: chDB evaluated generateUUIDv4() once per block, which merged distinct events.)
        event_id, client_id = new_event_ids(1)[0], False
    else:
        if type(raw_id) is not str or not UUID_TEXT.fullmatch(raw_id):
            raise InvalidEvent("'event_id' must be a UUID")
        event_id, client_id = canonical_uuid(raw_id), True
    properties = raw.get("properties")
    if properties is not None:
        _check_properties(properties, limits)
    row = (tenant_id, name, distinct_id, epoch_text(timestamp_ms), event_id, received_at, properties)
    return AcceptedEvent(tenant_id, event_id, client_id, timestamp_ms, orjson.dumps(row))


@lru_cache(maxsize=4)
def _hot_start(now_minute: int, months: int) -> int:
    return hot_window_start_ms(now_minute * 60_000, months)


def event_row(line: bytes) -> dict[str, Any]:
    """An `AcceptedEvent.line` as {column: value} (missing properties are null, stored as {})."""
    return dict(zip(EVENT_COLUMNS, orjson.loads(line), strict=True))


def canonical_uuid(text: str) -> str:
    """Lower-case, dashed form of a UUID already matched by `UUID_TEXT`."""
    if len(text) == 36 and text.islower():
        return text
    digits = text.replace("-", "").lower()
    return f"{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:]}"


def validate_events(
    raw_events: list[Any],
    tenant_id: str,
    limits: Limits,
    *,
    now_ms: int | None = None,
    suppressed: frozenset[str] | None = None,
) -> ValidationOutcome:
    """Split events into accepted rows and rejections (position, reason, raw payload). `suppressed`:
    SHA-256 of ids erased with suppression (privacy/), whose events are refused; by default the
    tenant's list from `limits` (so HTTP, NATS and sync all refuse them)."""
    if suppressed is None:
        suppressed = limits.suppressed(tenant_id)
    now_ms = now_ms if now_ms is not None else now_epoch_ms()
    received_at = epoch_text(now_ms)
    outcome = ValidationOutcome()
    for position, raw in enumerate(raw_events):
        try:
            outcome.accepted.append(validate_one(raw, tenant_id, limits, now_ms, received_at, suppressed))
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
