"""The Redis cache (`ANALYTICS_CACHE_URL=redis://host:6379/0`), shared by every process of a
deployment. Redis failing never fails a request: an error reads as a miss and writes as a no-op,
logged once, and for `retry_seconds` afterwards the cache is skipped without touching the network
(so an outage costs no timeouts on the hot path); then one call tries again.
"""

from __future__ import annotations

import contextlib
import threading
import time

import redis
import structlog

from analytics_engine.cache.metrics import CACHE_ERRORS, CACHE_LOOKUPS

log = structlog.get_logger(__name__)

_GLOB_SPECIAL = str.maketrans({c: f"\\{c}" for c in "\\*?[]^"})


class RedisCache:
    name = "redis"
    retires_answers = False

    def __init__(
        self,
        url: str,
        *,
        timeout_seconds: float = 0.25,
        retry_seconds: float = 5.0,
        max_value_bytes: int = 64 * 1024 * 1024,
    ) -> None:
        self.url = url
        self.retry_seconds = retry_seconds
        self.max_value_bytes = max_value_bytes
        self._client = redis.Redis.from_url(
            url,
            socket_timeout=timeout_seconds,
            socket_connect_timeout=timeout_seconds,
            health_check_interval=30,
        )
        self._down_until = 0.0
        self._lock = threading.Lock()
        self.errors = 0

    # --- the contract --------------------------------------------------------------------------
    def get(self, key: str) -> bytes | None:
        if self._skipping():
            CACHE_LOOKUPS.labels("redis", "unavailable").inc()
            return None
        try:
            value = self._client.get(key)
        except redis.RedisError as exc:
            self._failed("get", exc)
            CACHE_LOOKUPS.labels("redis", "unavailable").inc()
            return None
        self._recovered()
        CACHE_LOOKUPS.labels("redis", "miss" if value is None else "hit").inc()
        return value if value is None else value.encode() if isinstance(value, str) else bytes(value)

    def set(self, key: str, value: bytes, ttl_seconds: int) -> None:
        if len(value) > self.max_value_bytes or self._skipping():
            return
        try:
            self._client.set(key, value, ex=max(1, int(ttl_seconds)))
        except redis.RedisError as exc:
            self._failed("set", exc)
            return
        self._recovered()

    def retire_data_version(self, tenant_id: str, old: str) -> int:
        return 0  # the entries keyed by `old` expire by their TTL, in Redis's memory, not ours

    def delete_prefix(self, prefix: str) -> int:
        if not prefix:
            raise ValueError("refusing to delete every key: give a prefix")
        if self._skipping():
            return 0
        removed = 0
        try:
            batch: list[bytes] = []
            for key in self._client.scan_iter(match=prefix.translate(_GLOB_SPECIAL) + "*", count=1000):
                batch.append(key)
                if len(batch) >= 500:
                    removed += int(self._client.unlink(*batch))
                    batch.clear()
            if batch:
                removed += int(self._client.unlink(*batch))
        except redis.RedisError as exc:
            self._failed("delete_prefix", exc)
            return removed
        self._recovered()
        return removed

    def close(self) -> None:
        with contextlib.suppress(redis.RedisError):
            self._client.close()

    def ping(self) -> bool:
        try:
            return bool(self._client.ping())
        except redis.RedisError:
            return False

    # --- degradation ---------------------------------------------------------------------------
    def _skipping(self) -> bool:
        return self._down_until > time.monotonic()

    def _failed(self, operation: str, exc: Exception) -> None:
        self.errors += 1
        CACHE_ERRORS.labels("redis").inc()
        with self._lock:
            self._down_until = time.monotonic() + self.retry_seconds
        log.warning(
            "cache.redis_unavailable",
            operation=operation,
            error=str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__,
            retry_in_seconds=self.retry_seconds,
            note="served as a cache miss",
        )

    def _recovered(self) -> None:
        if self._down_until:
            with self._lock:
                if self._down_until:
                    self._down_until = 0.0
                    log.info("cache.redis_recovered", url=_redact(self.url))


def _redact(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    if "@" in rest:
        rest = "***@" + rest.split("@", 1)[1]
    return f"{scheme}{sep}{rest}"
