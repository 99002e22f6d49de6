"""Which tenant ids exist, cached briefly: the consumer checks every message's tenant without a
metadata query per message. A tenant created a moment ago is found by a refresh on a miss."""

from __future__ import annotations

import time

from sqlalchemy import select

from analytics_engine.metadata.db import MetadataDB
from analytics_engine.metadata.models import Tenant


class TenantDirectory:
    def __init__(self, metadata: MetadataDB, ttl_seconds: float = 30.0, miss_refresh_seconds: float = 1.0) -> None:
        self.metadata = metadata
        self.ttl = ttl_seconds
        self.miss_refresh = miss_refresh_seconds
        self._known: frozenset[str] = frozenset()
        self._loaded_at = float("-inf")

    def _load(self) -> None:
        with self.metadata.session() as session:
            self._known = frozenset(session.scalars(select(Tenant.id)).all())
        self._loaded_at = time.monotonic()

    def known(self, tenant_ids: set[str]) -> set[str]:
        """The subset of `tenant_ids` that are tenants. Reloads when the cache is older than the TTL,
        or when an id is missing and the last reload is older than `miss_refresh_seconds`."""
        age = time.monotonic() - self._loaded_at
        if age > self.ttl or (not tenant_ids <= self._known and age > self.miss_refresh):
            self._load()
        return tenant_ids & self._known
