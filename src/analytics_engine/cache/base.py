"""The cache contract every implementation meets, and the one way keys are built.

Values are bytes (callers serialise; the insight runner stores its result model as JSON). A key is
`<tenant id>:<namespace>:<sha256 of the canonical JSON payload>`: it always starts with the tenant,
so two tenants can never share an entry, and `delete_prefix("<tenant id>:")` drops one tenant's
entries without touching anyone else's.
"""

from __future__ import annotations

import hashlib
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any, Protocol, runtime_checkable

import orjson

_FORBIDDEN_IN_PARTS = (":", " ", "\n", "*", "?", "[", "]")


@runtime_checkable
class Cache(Protocol):
    """Bytes by key with a time to live. Implementations never raise on a backend failure: a broken
    backend reads as a miss and writes as no-ops (with a log line)."""

    name: str

    def get(self, key: str) -> bytes | None:
        """The value, or None when absent, expired or the backend is unavailable."""

    def set(self, key: str, value: bytes, ttl_seconds: int) -> None:
        """Store `value` for `ttl_seconds` (at least 1)."""

    def delete_prefix(self, prefix: str) -> int:
        """Remove every key starting with `prefix`; returns how many went (best effort)."""

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


def cache_key(tenant_id: str, namespace: str, payload: dict[str, Any]) -> str:
    """`<tenant_id>:<namespace>:<sha256 hex of canonical_json(payload)>`."""
    _check_part("tenant id", tenant_id)
    _check_part("namespace", namespace)
    digest = hashlib.sha256(canonical_json(payload)).hexdigest()
    return f"{tenant_id}:{namespace}:{digest}"


def tenant_prefix(tenant_id: str, namespace: str | None = None) -> str:
    """The prefix of every key of one tenant (and one namespace), for `delete_prefix`."""
    _check_part("tenant id", tenant_id)
    if namespace is None:
        return f"{tenant_id}:"
    _check_part("namespace", namespace)
    return f"{tenant_id}:{namespace}:"
