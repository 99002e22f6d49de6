"""Per-tenant data versions: the freshness marker in every result cache key.

The ingest writer calls `bump_data_version` after an insert into `events` committed; every cached
answer's key holds the tenant's current version, so the next read after new events misses and
recomputes at once instead of serving an answer up to its TTL stale. The TTL still bounds an
entry's life (and covers what does not bump: see docs/cache-and-budgets.md).

The version lives in the cache itself (`<tenant>:dataversion:current`), so with Redis every process
of a deployment sees a bump by any of them; with the in-process cache only the process that wrote.
A bump stores a fresh random token rather than incrementing, so it needs no read-modify-write; a
missing token (never bumped, evicted, expired, or the cache unavailable) is created afresh, and an
old token is never reused: a lost version costs misses, never a stale answer.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable

from analytics_engine.cache.base import Cache

NAMESPACE = "dataversion"
# Far longer than any result TTL (24 h by default), so a live token outlives every entry keyed by it.
VERSION_TTL_SECONDS = 30 * 86_400


def _key(tenant_id: str) -> str:
    return f"{tenant_id}:{NAMESPACE}:current"


def data_version(cache: Cache | None, tenant_id: str) -> str:
    """The tenant's current data version (created on first use)."""
    if cache is None:
        return ""
    found = cache.get(_key(tenant_id))
    if found is not None:
        return found.decode()
    token = secrets.token_hex(8)
    cache.set(_key(tenant_id), token.encode(), VERSION_TTL_SECONDS)
    return token


def bump_data_version(cache: Cache | None, tenant_ids: Iterable[str]) -> None:
    """New data for these tenants: every answer cached before is no longer found, and the cache may
    drop those answers (the in-process cache does; see `Cache.retire_data_version`)."""
    if cache is None:
        return
    for tenant_id in set(tenant_ids):
        old = cache.get(_key(tenant_id)) if cache.retires_answers else None
        cache.set(_key(tenant_id), secrets.token_hex(8).encode(), VERSION_TTL_SECONDS)
        if old is not None:
            cache.retire_data_version(tenant_id, old.decode())


# Answers kept across data versions on purpose (dashboards' last known answers, shown labelled with
# their age while a fresh one computes: dashboards/render.py). A bump does not hide them; an erasure
# must, so it calls `forget_kept_answers` too.
KEPT_NAMESPACES = ("widgetlast",)


def forget_kept_answers(cache: Cache | None, tenant_ids: Iterable[str]) -> None:
    """Drop these tenants' answers that outlive a data version (after an erasure: no answer computed
    with the erased people's events may be shown again, not even labelled as old)."""
    if cache is None:
        return
    for tenant_id in set(tenant_ids):
        for namespace in KEPT_NAMESPACES:
            cache.delete_prefix(f"{tenant_id}:{namespace}:")
