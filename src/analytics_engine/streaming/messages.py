"""From JetStream messages to validated rows: parse, check the tenant, derive missing event ids,
then the one validation path (`ingest.validation.validate_events`) shared with HTTP and sync.

A message body is the HTTP event envelope plus `tenant_id`:

    {"tenant_id": "tn_...", "event": "signup", "distinct_id": "u-1", "properties": {...}}

or, to carry many events of one tenant in one message, `{"tenant_id": "tn_...", "events": [...]}`.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from analytics_engine.ingest.fast_path import MessageIn, accept_events, decode_message
from analytics_engine.ingest.validation import (
    UUID_TEXT,
    AcceptedEvent,
    Limits,
    RejectedEvent,
    canonical_uuid,
    validate_events,
)

# Namespace of event ids derived from a message's identity (uuid5), so that a redelivery yields the
# same id and the writer's duplicate check drops it.
EVENT_ID_NAMESPACE = uuid.UUID("6f1c3c52-8d7e-4c1b-9a57-3f1a4e2b7c90")
MAX_TENANT_ID = 64
SOURCE = "nats"


@dataclass(slots=True)
class Incoming:
    """What the consumer needs of one JetStream message."""

    data: bytes
    stream_seq: int
    msg_id: str | None  # the Nats-Msg-Id header, when the publisher set one


@dataclass
class PreparedBatch:
    accepted: list[AcceptedEvent] = field(default_factory=list)
    rejected: list[tuple[RejectedEvent, str, str]] = field(default_factory=list)
    # Messages whose every event was refused: terminated (never redelivered) after the rejection rows
    # are written. The others are acknowledged.
    terminate: list[int] = field(default_factory=list)
    acknowledge: list[int] = field(default_factory=list)
    per_tenant: dict[str, list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0]))
    max_seq: int = 0

    @property
    def rejected_count(self) -> int:
        return len(self.rejected)


def derived_event_id(identity: str) -> str:
    return str(uuid.uuid5(EVENT_ID_NAMESPACE, identity))


def _identity(item: Incoming, stream_key: str, tenant_id: str) -> str:
    if item.msg_id:
        return f"msgid/{tenant_id}/{item.msg_id}"
    return f"seq/{stream_key}/{item.stream_seq}"


def prepare(
    items: Sequence[Incoming],
    *,
    stream_key: str,
    limits: Limits,
    known_tenants: Callable[[set[str]], set[str]],
    now_ms: int | None = None,
    use_fast_path: bool = True,
) -> PreparedBatch:
    """Validate a batch of messages. `stream_key` names the stream incarnation (name and creation
    time) so derived ids never repeat across a deleted and re-created stream."""
    now_ms = now_ms if now_ms is not None else int(datetime.now(UTC).timestamp() * 1000)
    batch = PreparedBatch()
    # (message index, position in message, raw event) per claimed tenant
    by_tenant: dict[str, list[tuple[int, int, Any]]] = defaultdict(list)
    refused: dict[int, int] = defaultdict(int)  # message index -> events refused
    sizes: list[int] = []

    def refuse(index: int, tenant_id: str, position: int, reason: str, payload: bytes) -> None:
        item = items[index]
        rejection = RejectedEvent(tenant_id, position, reason, payload[:65536])
        batch.rejected.append((rejection, SOURCE, f"{stream_key.split('/')[0]}:{item.stream_seq}"))
        refused[index] += 1
        if tenant_id:
            batch.per_tenant[tenant_id][1] += 1

    def general(index: int, item: Incoming) -> None:
        """Parse one message into dicts for `validate_events` (or refuse it whole)."""
        try:
            body = orjson.loads(item.data)
        except orjson.JSONDecodeError as exc:
            refuse(index, "", 0, f"malformed JSON: {exc}", item.data)
            return
        if type(body) is not dict:
            refuse(index, "", 0, "a message must be a JSON object with 'tenant_id'", item.data)
            return
        tenant_id = body.pop("tenant_id", None)
        if type(tenant_id) is not str or not tenant_id.strip() or len(tenant_id) > MAX_TENANT_ID:
            refuse(index, "", 0, "'tenant_id' is required and must be a tenant id", item.data)
            return
        events = body.pop("events", None)
        if events is not None:
            if body or type(events) is not list or not events:
                refuse(index, tenant_id, 0, "'events' must be a non-empty array and the only other field", item.data)
                return
            sizes[index] = len(events)
            base = _identity(item, stream_key, tenant_id)
            for position, raw in enumerate(events):
                if type(raw) is dict and "event_id" not in raw:
                    raw["event_id"] = derived_event_id(f"{base}/{position}")
                by_tenant[tenant_id].append((index, position, raw))
        else:
            if "event_id" not in body:
                msg_id = item.msg_id
                if msg_id and UUID_TEXT.fullmatch(msg_id):
                    body["event_id"] = canonical_uuid(msg_id)
                else:
                    body["event_id"] = derived_event_id(_identity(item, stream_key, tenant_id))
            by_tenant[tenant_id].append((index, 0, body))

    # The fast path (ingest/fast_path.py, as for HTTP bodies): a many-event message whose events are
    # all plainly valid is decoded by msgspec straight into rows; any other message, or one the fast
    # path declines, takes the general path, which gives each event its verdict.
    fast: list[tuple[int, MessageIn]] = []
    for index, item in enumerate(items):
        batch.max_seq = max(batch.max_seq, item.stream_seq)
        sizes.append(1)
        message = decode_message(item.data, MAX_TENANT_ID) if use_fast_path else None
        if message is not None:
            sizes[index] = len(message.events)
            fast.append((index, message))
        else:
            general(index, item)

    tenants = set(by_tenant) | {message.tenant_id for _, message in fast}
    known = known_tenants(tenants) if tenants else set()
    for index, message in fast:
        tenant_id, item = message.tenant_id, items[index]
        accepted = None
        if tenant_id in known and not limits.suppressed(tenant_id):
            base = _identity(item, stream_key, tenant_id)
            accepted = accept_events(
                message.events,
                tenant_id,
                limits,
                now_ms=now_ms,
                missing_id=lambda position, base=base: derived_event_id(f"{base}/{position}"),  # type: ignore[misc]
            )
        if accepted is None:
            general(index, item)
            continue
        batch.accepted.extend(accepted)
        batch.per_tenant[tenant_id][0] += len(accepted)

    for tenant_id, entries in by_tenant.items():
        if tenant_id not in known:
            for index, position, raw in entries:
                payload = items[index].data if sizes[index] == 1 else _dump(raw)
                refuse(index, tenant_id, position, f"unknown tenant {tenant_id!r}", payload)
            continue
        outcome = validate_events([raw for _, _, raw in entries], tenant_id, limits, now_ms=now_ms)
        batch.accepted.extend(outcome.accepted)
        batch.per_tenant[tenant_id][0] += len(outcome.accepted)
        for rejection in outcome.rejected:
            index, position, _ = entries[rejection.position]
            rejection.position = position
            if sizes[index] == 1:
                rejection.payload = items[index].data[:65536]  # the message as published
            batch.rejected.append((rejection, SOURCE, f"{stream_key.split('/')[0]}:{items[index].stream_seq}"))
            refused[index] += 1
            batch.per_tenant[tenant_id][1] += 1

    for index, size in enumerate(sizes):
        (batch.terminate if refused.get(index, 0) >= size else batch.acknowledge).append(index)
    return batch


def _dump(raw: Any) -> bytes:
    try:
        return orjson.dumps(raw)
    except TypeError:
        return repr(raw).encode()
