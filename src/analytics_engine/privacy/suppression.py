"""The suppression list: SHA-256 of ids erased with `suppress`, whose later events ingest refuses on
every path, HTTP, NATS and sync (with the reason, kept in rejected events): the process's ingest
`Limits` (core.py) carry `suppressed` as their lookup, and `validation.validate_events` and the
HTTP fast path consult it. Read per tenant from the metadata database and
kept for REFRESH_SECONDS; an erasure in this process forgets its tenant's entry at once, other
processes see it within REFRESH_SECONDS."""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING

from sqlalchemy import select

from analytics_engine.privacy.models import Suppression

if TYPE_CHECKING:
    from analytics_engine.metadata.db import MetadataDB

REFRESH_SECONDS = 5.0
_cache: dict[str, tuple[float, frozenset[str]]] = {}
_lock = threading.Lock()


def suppressed(metadata: MetadataDB, tenant_id: str) -> frozenset[str]:
    now = time.monotonic()
    with _lock:
        cached = _cache.get(tenant_id)
    if cached is not None and now - cached[0] <= REFRESH_SECONDS:
        return cached[1]
    with metadata.session() as session:
        hashes = frozenset(session.scalars(select(Suppression.subject_hash).where(Suppression.tenant_id == tenant_id)))
    with _lock:
        _cache[tenant_id] = (now, hashes)
    return hashes


def forget(tenant_id: str) -> None:
    with _lock:
        _cache.pop(tenant_id, None)
