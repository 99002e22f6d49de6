"""The cache contract, run against both implementations: the in-process LRU and the real Redis."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from analytics_engine.cache import (
    Cache,
    InProcessCache,
    RedisCache,
    build_cache,
    cache_key,
    result_ttl,
    tenant_prefix,
)
from analytics_engine.config import Settings
from tests.support.services import REDIS, require_service

REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture(params=["memory", "redis"])
def cache(request: pytest.FixtureRequest) -> Iterator[Cache]:
    if request.param == "memory":
        implementation: Cache = InProcessCache(max_entries=100)
    else:
        require_service("Redis", REDIS)
        implementation = RedisCache(REDIS_URL)
    yield implementation
    implementation.close()


@pytest.fixture
def tenant() -> str:
    """A unique tenant id per test: every key of the test starts with it (no clash on shared Redis)."""
    return f"tn_test{uuid.uuid4().hex[:16]}"


def test_set_then_get_roundtrips_bytes(cache: Cache, tenant: str) -> None:
    key = cache_key(tenant, "insight", {"kind": "trends"})
    assert cache.get(key) is None
    cache.set(key, b"\x00\xffresult", ttl_seconds=60)
    assert cache.get(key) == b"\x00\xffresult"
    cache.set(key, b"newer", ttl_seconds=60)
    assert cache.get(key) == b"newer"


def test_delete_prefix_drops_only_that_tenant(cache: Cache, tenant: str) -> None:
    other = tenant + "x"
    mine = [cache_key(tenant, "insight", {"n": n}) for n in range(3)]
    theirs = cache_key(other, "insight", {"n": 0})
    for key in [*mine, theirs]:
        cache.set(key, b"v", ttl_seconds=60)
    # `other` starts with `tenant`'s text, but the prefix ends at the colon, so it is untouched.
    assert cache.delete_prefix(tenant_prefix(tenant)) == 3
    assert all(cache.get(key) is None for key in mine)
    assert cache.get(theirs) == b"v"
    cache.delete_prefix(tenant_prefix(other))


def test_delete_prefix_by_namespace(cache: Cache, tenant: str) -> None:
    insight = cache_key(tenant, "insight", {"q": 1})
    dashboard = cache_key(tenant, "dashboard", {"q": 1})
    cache.set(insight, b"a", ttl_seconds=60)
    cache.set(dashboard, b"b", ttl_seconds=60)
    assert cache.delete_prefix(tenant_prefix(tenant, "insight")) == 1
    assert cache.get(insight) is None
    assert cache.get(dashboard) == b"b"
    cache.delete_prefix(tenant_prefix(tenant))


def test_entries_expire(cache: Cache, tenant: str) -> None:
    key = cache_key(tenant, "insight", {"ttl": True})
    if isinstance(cache, InProcessCache):
        now = [1000.0]
        cache = InProcessCache(max_entries=10, clock=lambda: now[0])
        cache.set(key, b"v", ttl_seconds=5)
        now[0] += 4.9
        assert cache.get(key) == b"v"
        now[0] += 0.2
        assert cache.get(key) is None
        assert len(cache) == 0
    else:
        cache.set(key, b"v", ttl_seconds=1)
        assert cache.get(key) == b"v"
        ttl = cache._client.pttl(key)  # type: ignore[attr-defined]
        assert 0 < ttl <= 1000


def test_concurrent_use_is_safe(cache: Cache, tenant: str) -> None:
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            for i in range(50):
                key = cache_key(tenant, "insight", {"worker": n, "i": i % 10})
                cache.set(key, f"{n}-{i}".encode(), ttl_seconds=60)
                value = cache.get(key)
                assert value is not None and value.startswith(f"{n}-".encode())
        except BaseException as exc:  # collected and re-raised in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    cache.delete_prefix(tenant_prefix(tenant))


# --- keys ------------------------------------------------------------------------------------------
def test_key_starts_with_tenant_and_hashes_canonical_payload() -> None:
    one = cache_key("tn_a", "insight", {"b": 1, "a": [1, 2], "when": datetime(2026, 1, 1, tzinfo=UTC)})
    same = cache_key("tn_a", "insight", {"when": datetime(2026, 1, 1, tzinfo=UTC), "a": [1, 2], "b": 1})
    tenant, namespace, digest = one.split(":")
    assert (tenant, namespace, len(digest)) == ("tn_a", "insight", 64)
    assert one == same  # key order does not matter
    assert cache_key("tn_b", "insight", {"b": 1, "a": [1, 2], "when": datetime(2026, 1, 1, tzinfo=UTC)}) != one
    assert cache_key("tn_a", "insight", {"b": 2, "a": [1, 2], "when": datetime(2026, 1, 1, tzinfo=UTC)}) != one
    assert cache_key("tn_a", "insight", {"tz": "Europe/Oslo"}) != cache_key("tn_a", "insight", {"tz": "UTC"})


@pytest.mark.parametrize("tenant_id", ["", "a:b", "a b", "a*", "tn?"])
def test_key_refuses_ambiguous_tenant_ids(tenant_id: str) -> None:
    with pytest.raises(ValueError, match="tenant id"):
        cache_key(tenant_id, "insight", {})


# --- the in-process bounds -------------------------------------------------------------------------
def test_lru_evicts_least_recently_used_by_count() -> None:
    cache = InProcessCache(max_entries=3)
    for name in "abc":
        cache.set(f"t:n:{name}", name.encode(), ttl_seconds=60)
    assert cache.get("t:n:a") == b"a"  # a is now the most recent
    cache.set("t:n:d", b"d", ttl_seconds=60)
    assert cache.get("t:n:b") is None
    assert [cache.get(f"t:n:{n}") for n in "acd"] == [b"a", b"c", b"d"]


def test_lru_bounds_total_bytes() -> None:
    cache = InProcessCache(max_entries=100, max_bytes=1000)
    for n in range(5):
        cache.set(f"t:n:{n}", b"x" * 300, ttl_seconds=60)
    assert cache.size_bytes <= 1000
    assert len(cache) == 3
    assert cache.get("t:n:4") is not None and cache.get("t:n:0") is None
    cache.set("t:n:huge", b"x" * 2000, ttl_seconds=60)  # bigger than the whole cache: not stored
    assert cache.get("t:n:huge") is None and len(cache) == 3


# --- Redis failing degrades to misses --------------------------------------------------------------
def test_unreachable_redis_is_a_miss_with_a_log_line(caplog: pytest.LogCaptureFixture, capsys) -> None:  # type: ignore[no-untyped-def]
    cache = RedisCache("redis://127.0.0.1:1/0", timeout_seconds=0.2, retry_seconds=60)
    cache.set("t:n:k", b"v", ttl_seconds=60)  # no exception
    assert cache.get("t:n:k") is None
    assert cache.delete_prefix("t:") == 0
    assert cache.errors == 1  # after the first failure the cache is skipped without network calls
    captured = capsys.readouterr()
    assert "cache.redis_unavailable" in captured.out + captured.err + caplog.text


def test_redis_recovers_after_the_retry_pause(tenant: str) -> None:
    require_service("Redis", REDIS)
    cache = RedisCache(REDIS_URL, retry_seconds=0.0)
    cache._failed("get", RuntimeError("simulated"))  # as if the previous call had failed
    key = cache_key(tenant, "insight", {})
    cache.set(key, b"v", ttl_seconds=30)
    assert cache.get(key) == b"v"
    assert cache._down_until == 0.0
    cache.delete_prefix(tenant_prefix(tenant))


# --- choosing and TTL policy -----------------------------------------------------------------------
def test_build_cache_picks_by_url(tmp_path) -> None:  # type: ignore[no-untyped-def]
    assert isinstance(build_cache(Settings(data_dir=tmp_path)), InProcessCache)
    redis_cache = build_cache(Settings(data_dir=tmp_path, cache_url=REDIS_URL))
    assert isinstance(redis_cache, RedisCache)
    redis_cache.close()
    with pytest.raises(ValueError, match="redis://"):
        build_cache(Settings(data_dir=tmp_path, cache_url="http://nope"))


def test_closed_ranges_stay_longer(tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings = Settings(data_dir=tmp_path, cache_ttl_seconds=60, cache_ttl_closed_seconds=3600)
    now = datetime(2026, 3, 1, 12, tzinfo=UTC)
    assert result_ttl(settings, None, now) == 60
    assert result_ttl(settings, now + timedelta(days=1), now) == 60
    assert result_ttl(settings, now - timedelta(minutes=5), now) == 60  # late events still arrive
    assert result_ttl(settings, now - timedelta(days=2), now) == 3600
    assert result_ttl(settings, datetime(2026, 2, 1), now) == 3600  # naive means UTC


def test_lookups_are_counted_for_prometheus(tenant: str) -> None:
    from analytics_engine.cache.metrics import CACHE_LOOKUPS

    hits, misses = CACHE_LOOKUPS.labels("memory", "hit"), CACHE_LOOKUPS.labels("memory", "miss")
    before = (hits._value.get(), misses._value.get())
    cache = InProcessCache()
    key = cache_key(tenant, "insight", {})
    cache.get(key)
    cache.set(key, b"v", ttl_seconds=60)
    cache.get(key)
    assert (hits._value.get() - before[0], misses._value.get() - before[1]) == (1, 1)
