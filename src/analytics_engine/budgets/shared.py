"""Tenant concurrency counted across replicas (issue 26): with `ANALYTICS_CACHE_URL=redis://...`
every `serve` process admits a tenant's query against one count in Redis instead of its own.

One sorted set per tenant (`<tenant>:budget:running`, keys start with the tenant like every cache
key): a member per running query, scored by when its slot lapses (Redis' own clock). Admission is one
Lua script (drop lapsed slots, count, add when under the limit), so two replicas can never both take
the last slot. A replica that dies holding slots frees them when they lapse: the query's time limit
plus a margin. Redis failing never fails a query: the process falls back to its own count (logged,
retried after `retry_seconds`), which is what a single process always did.
"""

from __future__ import annotations

import threading
import time

import redis
import structlog

log = structlog.get_logger(__name__)

_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local running = redis.call('ZCARD', KEYS[1])
local limit = tonumber(ARGV[1])
if limit > 0 and running >= limit then
  return {0, running}
end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[3])
redis.call('EXPIRE', KEYS[1], math.ceil(tonumber(ARGV[2])) + 60)
return {1, running + 1}
"""
_COUNT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
return redis.call('ZCARD', KEYS[1])
"""


class SharedSlots:
    """Concurrency slots per tenant in Redis; None answers mean "Redis unavailable: count locally"."""

    def __init__(self, url: str, *, timeout_seconds: float = 0.25, retry_seconds: float = 5.0) -> None:
        self.url = url
        self.retry_seconds = retry_seconds
        self._client = redis.Redis.from_url(url, socket_timeout=timeout_seconds, socket_connect_timeout=timeout_seconds)
        self._acquire = self._client.register_script(_ACQUIRE)
        self._count = self._client.register_script(_COUNT)
        self._down_until = 0.0
        self._lock = threading.Lock()

    @staticmethod
    def key(tenant_id: str) -> str:
        return f"{tenant_id}:budget:running"

    def acquire(self, tenant_id: str, slot: str, limit: int, lease_seconds: float) -> tuple[bool, int] | None:
        """Take a slot if fewer than `limit` run (0: no limit): (granted, running including it)."""
        if self._skipping():
            return None
        try:
            granted, running = self._acquire(keys=[self.key(tenant_id)], args=[int(limit), float(lease_seconds), slot])
        except redis.RedisError as exc:
            self._failed(exc)
            return None
        return bool(granted), int(running)

    def release(self, tenant_id: str, slot: str) -> None:
        if self._skipping():
            return
        try:
            self._client.zrem(self.key(tenant_id), slot)
        except redis.RedisError as exc:
            self._failed(exc)  # the slot lapses on its own

    def running(self, tenant_id: str) -> int | None:
        if self._skipping():
            return None
        try:
            return int(self._count(keys=[self.key(tenant_id)]))
        except redis.RedisError as exc:
            self._failed(exc)
            return None

    def _skipping(self) -> bool:
        return time.monotonic() < self._down_until

    def _failed(self, exc: Exception) -> None:
        with self._lock:
            first = self._down_until == 0.0 or time.monotonic() >= self._down_until
            self._down_until = time.monotonic() + self.retry_seconds
        if first:
            log.warning("budgets.shared_slots_unavailable", url=self.url, error=str(exc).splitlines()[0][:200])

    def close(self) -> None:
        self._client.close()
