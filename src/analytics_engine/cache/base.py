"""The cache contract every implementation meets, and the one way keys are built.

Values are bytes (callers serialise; the insight runner stores its result model as JSON). A key is
`<tenant id>:<namespace>:<sha256 of the canonical JSON payload>`: it always starts with the tenant,
so two tenants can never share an entry, and `delete_prefix("<tenant id>:")` drops one tenant's
entries without touching anyone else's. An answer computed from the tenant's data at one data version
(cache/versions.py) carries it at the end, `...:<sha256>@<version>`, so a cache that holds its
entries in memory can drop them when the version is retired (no read can ask for them again).
"""

from __future__ import annotations

import hashlib
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any, Protocol, runtime_checkable

import orjson

_FORBIDDEN_IN_PARTS = (":", " ", "\n", "*", "?", "[", "]")
_VERSION_MARK = "@"  # never in a digest (hex), so the last one in a key starts its data version


@runtime_checkable
class Cache(Protocol):
    """Bytes by key with a time to live. Implementations never raise on a backend failure: a broken
    backend reads as a miss and writes as no-ops (with a log line)."""

    name: str
    # Whether `retire_data_version` drops anything (the in-process cache): a bump reads the old
    # version only then, so Redis pays no extra round trip per insert.
    retires_answers: bool

    def get(self, key: str) -> bytes | None:
        """The value, or None when absent, expired or the backend is unavailable."""

    def set(self, key: str, value: bytes, ttl_seconds: int) -> None:
        """Store `value` for `ttl_seconds` (at least 1)."""

    def delete_prefix(self, prefix: str) -> int:
        """Remove every key starting with `prefix`; returns how many went (best effort)."""

    def retire_data_version(self, tenant_id: str, old: str) -> int:
        """The tenant's data version `old` was replaced: entries keyed by it can never be
        asked for again. A cache may drop them (and refuse to store any that arrive late); returns
        how many went. Redis leaves them to their TTL (its memory is not the service's)."""

    def close(self) -> None:
        """Release connections."""


def _default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal | Enum):
        return str(value.value if isinstance(value, Enum) else value)
    if isinstance(value, set | frozenset):
        return sorted(value, key=repr)
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    raise TypeError(f"cannot put {type(value).__name__} in a cache key payload")


def canonical_json(payload: dict[str, Any]) -> bytes:
    """The payload as JSON with sorted keys and no whitespace: equal payloads give equal bytes."""
    return orjson.dumps(payload, default=_default, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)


def _check_part(kind: str, value: str) -> None:
    if not value or any(char in value for char in _FORBIDDEN_IN_PARTS):
        raise ValueError(f"cache key {kind} must be non-empty without ':', spaces or glob characters: {value!r}")


def cache_key(tenant_id: str, namespace: str, payload: dict[str, Any], *, data_version: str | None = None) -> str:
    """`<tenant_id>:<namespace>:<sha256 hex of canonical_json(payload)>`, then `@<data_version>`
    when the entry was computed from the tenant's data at that version."""
    _check_part("tenant id", tenant_id)
    _check_part("namespace", namespace)
    digest = hashlib.sha256(canonical_json(payload)).hexdigest()
    if not data_version:  # no version (or no cache to hold one: `data_version(None, ...)` is "")
        return f"{tenant_id}:{namespace}:{digest}"
    _check_part("data version", data_version)
    if _VERSION_MARK in data_version:
        raise ValueError(f"cache key data version must not hold {_VERSION_MARK!r}: {data_version!r}")
    return f"{tenant_id}:{namespace}:{digest}{_VERSION_MARK}{data_version}"


def key_data_version(key: str) -> tuple[str, str] | None:
    """(tenant id, data version) of a key built with `data_version`; None for any other key."""
    head, mark, version = key.rpartition(_VERSION_MARK)
    if not mark or not version or ":" in version:  # an '@' of the tenant id or namespace is not the mark
        return None
    return head.partition(":")[0], version


def tenant_prefix(tenant_id: str, namespace: str | None = None) -> str:
    """The prefix of every key of one tenant (and one namespace), for `delete_prefix`."""
    _check_part("tenant id", tenant_id)
    if namespace is None:
        return f"{tenant_id}:"
    _check_part("namespace", namespace)
    return f"{tenant_id}:{namespace}:"
