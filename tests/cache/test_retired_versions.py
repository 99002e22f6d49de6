"""Answers keyed by a data version leave the in-process cache when the version is retired (new
events): a steady stream of inserts must not fill memory with answers no read can ask for again."""

from __future__ import annotations

import pytest

from analytics_engine.cache import InProcessCache, bump_data_version, cache_key, data_version
from analytics_engine.cache.base import key_data_version


@pytest.mark.parametrize(
    ("tenant_id", "namespace", "version", "parsed"),
    [
        ("tn_a", "insight", "0123abcd", ("tn_a", "0123abcd")),
        ("tn@odd", "insight", "beef", ("tn@odd", "beef")),  # an '@' in the tenant id is not the mark
        ("tn_a", "insight", None, None),
        ("tn@odd", "ns@odd", None, None),
        ("tn_a", "insight", "", None),  # no cache, no version
    ],
)
def test_the_data_version_is_read_back_from_the_key(tenant_id, namespace, version, parsed) -> None:  # type: ignore[no-untyped-def]
    key = cache_key(tenant_id, namespace, {"q": 1}, data_version=version)
    assert key.startswith(f"{tenant_id}:{namespace}:")
    assert key_data_version(key) == parsed


def test_a_version_holding_the_mark_is_refused() -> None:
    with pytest.raises(ValueError):
        cache_key("tn_a", "insight", {}, data_version="a@b")


def test_retiring_a_version_drops_its_answers_only() -> None:
    cache = InProcessCache()
    old = cache_key("tn_a", "insight", {"q": 1}, data_version="v1")
    other_query = cache_key("tn_a", "widget", {"q": 2}, data_version="v1")
    newer = cache_key("tn_a", "insight", {"q": 1}, data_version="v2")
    other_tenant = cache_key("tn_b", "insight", {"q": 1}, data_version="v1")
    kept = cache_key("tn_a", "widgetlast", {"q": 1})
    for key in (old, other_query, newer, other_tenant, kept):
        cache.set(key, b"x" * 10, 60)

    assert cache.retire_data_version("tn_a", "v1") == 2
    assert cache.get(old) is None and cache.get(other_query) is None
    assert cache.get(newer) == cache.get(other_tenant) == cache.get(kept) == b"x" * 10
    assert (len(cache), cache.size_bytes) == (3, 30)
    assert cache.retire_data_version("tn_a", "v1") == 0


def test_an_answer_of_a_retired_version_arriving_late_is_not_stored() -> None:
    cache = InProcessCache()
    cache.retire_data_version("tn_a", "v1")
    late = cache_key("tn_a", "insight", {"q": 1}, data_version="v1")
    current = cache_key("tn_a", "insight", {"q": 1}, data_version="v2")
    cache.set(late, b"old", 60)
    cache.set(current, b"new", 60)
    assert cache.get(late) is None
    assert cache.get(current) == b"new"


def test_evicted_and_deleted_entries_leave_the_version_index() -> None:
    cache = InProcessCache(max_entries=2)
    keys = [cache_key("tn_a", "insight", {"q": i}, data_version="v1") for i in range(5)]
    for key in keys:
        cache.set(key, b"x", 60)
    assert len(cache) == 2
    cache.delete_prefix("tn_a:")
    assert cache.retire_data_version("tn_a", "v1") == 0
    assert len(cache) == 0 and cache.size_bytes == 0


def test_a_bump_drops_the_tenants_answers_read_before() -> None:
    cache = InProcessCache()
    version = data_version(cache, "tn_a")
    answer = cache_key("tn_a", "insight", {"q": 1}, data_version=version)
    cache.set(answer, b"x", 60)
    bump_data_version(cache, ["tn_a"])
    assert cache.get(answer) is None
    assert len(cache) == 1  # the new version's token only
