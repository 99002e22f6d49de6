"""The cache's freshness marker (issue 27 item 7): a committed insert bumps the tenant's data version,
which is part of every insight key, so the next read after new events recomputes at once; without
new events the cached answer is served (the TTL still applies) and says when it was computed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from analytics_engine.cache import InProcessCache, bump_data_version, data_version
from tests.insights.reference import Ev
from tests.insights.support import load, new_tenant, run

DAY = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=2)
QUERY = {
    "kind": "trends",
    "series": [{"event": "visit"}],
    "interval": "day",
    "date_range": {"date_from": DAY.date().isoformat(), "date_to": DAY.date().isoformat()},
}


def test_new_events_invalidate_cached_answers_at_once(runtime):
    tenant = new_tenant("UTC")
    load(runtime, tenant, [Ev("a", "visit", DAY + timedelta(hours=1))])
    first = run(runtime, tenant, QUERY)
    again = run(runtime, tenant, QUERY)
    assert (first.cached, again.cached) == (False, True)
    assert again.computed_at == first.computed_at  # a hit says when it was computed
    assert first.series[0].total == 1

    load(runtime, tenant, [Ev("b", "visit", DAY + timedelta(hours=2))])
    fresh = run(runtime, tenant, QUERY)
    assert fresh.cached is False
    assert fresh.series[0].total == 2
    assert fresh.computed_at > first.computed_at


def test_another_tenants_events_leave_the_cache_alone(runtime):
    tenant, other = new_tenant("UTC"), new_tenant("UTC")
    load(runtime, tenant, [Ev("a", "visit", DAY + timedelta(hours=1))])
    run(runtime, tenant, QUERY)
    load(runtime, other, [Ev("z", "visit", DAY + timedelta(hours=1))])
    assert run(runtime, tenant, QUERY).cached is True


def test_version_tokens():
    cache = InProcessCache()
    first = data_version(cache, "tn_a")
    assert first and data_version(cache, "tn_a") == first  # stable until bumped
    bump_data_version(cache, ["tn_a"])
    bumped = data_version(cache, "tn_a")
    assert bumped != first
    assert data_version(cache, "tn_b") != bumped
    cache.delete_prefix("tn_a:")  # a lost version is a new token, never an old one
    assert data_version(cache, "tn_a") not in {first, bumped}
    assert data_version(None, "tn_a") == ""


def test_answers_do_not_pile_up_in_memory_under_a_stream_of_inserts(runtime):
    """Each insert retires the tenant's data version; the in-process cache drops the answers keyed by
    it (tests/cache/test_retired_versions.py) instead of keeping one dead answer per insert."""
    tenant = new_tenant("UTC")
    prefix = f"{tenant.tenant_id}:insight:"
    for n in range(1, 6):
        load(runtime, tenant, [Ev(f"p{n}", "visit", DAY + timedelta(hours=n))])
        assert run(runtime, tenant, QUERY).series[0].total == n
        assert run(runtime, tenant, QUERY).cached is True
        held = [key for key in list(runtime.cache._entries) if key.startswith(prefix)]
        assert len(held) == 1, held
