"""Result cache: in-process by default, Redis when `ANALYTICS_CACHE_URL` is set.

    from analytics_engine.cache import cache_key
    key = cache_key(tenant_id, "insight", {"kind": "trends", "query": q.model_dump(), "tz": tz, "v": 1})
    runtime.cache.get(key) / runtime.cache.set(key, body, ttl_seconds=result_ttl(settings, end))

Keys always start with the tenant id; see docs/cache-and-budgets.md.
"""

from __future__ import annotations

from analytics_engine.cache.base import Cache, cache_key, canonical_json, tenant_prefix
from analytics_engine.cache.memory import InProcessCache
from analytics_engine.cache.policy import result_ttl
from analytics_engine.cache.redis_cache import RedisCache
from analytics_engine.cache.versions import bump_data_version, data_version, forget_kept_answers
from analytics_engine.config import Settings

__all__ = [
    "Cache",
    "InProcessCache",
    "RedisCache",
    "build_cache",
    "bump_data_version",
    "cache_key",
    "canonical_json",
    "data_version",
    "forget_kept_answers",
    "result_ttl",
    "tenant_prefix",
]


def build_cache(settings: Settings) -> Cache:
    """Redis when `cache_url` is set, otherwise the bounded in-process LRU."""
    if settings.cache_url:
        if not settings.cache_url.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("ANALYTICS_CACHE_URL must be a redis://, rediss:// or unix:// URL")
        return RedisCache(
            settings.cache_url,
            timeout_seconds=settings.cache_timeout_seconds,
            retry_seconds=settings.cache_retry_seconds,
        )
    return InProcessCache(max_entries=settings.cache_max_entries, max_bytes=settings.cache_max_bytes)
