"""Random events and the pieces shared by the property tests comparing pre-aggregated answers with raw
ones (tests/insights/test_person_bitmaps_property.py, test_trend_bitmaps_property.py): four people
over ~3 weeks around Europe/Berlin's latest daylight-saving change, zones with and without DST or
whole hours, late and repeated batches, and static cohorts."""

from __future__ import annotations

import random
import uuid
from datetime import timedelta
from typing import Any

from hypothesis import strategies as st

from analytics_engine.cohorts.schemas import CohortCreate
from analytics_engine.tenants.schemas import TenantCreate
from analytics_engine.tenants.service import TenantContext
from tests.insights.reference import Ev
from tests.insights.support import load, new_tenant, recent_dst_change, run

# Europe/Berlin's latest change: the data spans ~3 weeks around it.
CHANGE = recent_dst_change("Europe/Berlin", min_age_days=20)
BASE = CHANGE - timedelta(days=10)
USERS = [f"u{i}" for i in range(4)]
ZONES = ["Europe/Berlin", "America/Sao_Paulo", "UTC", "Asia/Kolkata"]
HALF_HOUR_ZONES = {"Asia/Kolkata"}

DAY0 = BASE.replace(hour=0, minute=0, second=0, microsecond=0)
# UTC hours near local midnights: Berlin 22-23, Sao Paulo 03, Kolkata 18:30, UTC 00
HOURS = [0, 2, 3, 4, 12, 18, 21, 22, 23]


def random_events(seed: int, count: int) -> list[Ev]:
    """`count` events of 4 people over 22 days, dense enough that every cohort and day has people."""
    rng = random.Random(seed)
    return [
        Ev(
            rng.choice(USERS),
            rng.choice(["signup", "visit", "visit", "other"]),
            DAY0 + timedelta(days=rng.randint(0, 21), hours=rng.choice(HOURS), minutes=rng.choice([0, 1, 29, 30, 59])),
            {},
        )
        for _ in range(count)
    ]


def numbers(answer: Any) -> Any:
    return answer.series, answer.totals, answer.retention


def stored_tenant(runtime: Any, zone: str) -> TenantContext:
    """A tenant with a metadata row (cohorts belong to one)."""
    tenant = runtime.tenants.create(TenantCreate(name=f"pre-{uuid.uuid4().hex[:8]}", timezone=zone))
    return TenantContext(tenant.id, tenant.name, zone, frozenset({"read"}), "key")


def make_cohort(runtime: Any, tenant: Any, members: list[str]) -> str:
    created = runtime.cohorts.create(
        tenant.tenant_id, CohortCreate(name=f"c-{uuid.uuid4().hex[:6]}", kind="static", distinct_ids=members)
    )
    return str(created.id)


def range_strategy() -> Any:
    # local dates around the change; sometimes a start at minute 30 (not a whole hour: raw)
    return st.tuples(st.integers(0, 12), st.integers(1, 10), st.booleans())


def loaded_tenant(runtime: Any, zone: str, seed: int, count: int, twice: bool, stored: bool) -> Any:
    """A tenant (`stored`: with a metadata row, for cohorts) holding `count` random events: two thirds
    first, then the rest with times throughout (late events), and with `twice` five of them again."""
    tenant = stored_tenant(runtime, zone) if stored else new_tenant(zone)
    events = random_events(seed, count)
    first, late = events[: count * 2 // 3], events[count * 2 // 3 :]
    load(runtime, tenant, first)
    load(runtime, tenant, late)
    if twice:
        load(runtime, tenant, first[:5])  # written again: new ids, the same people, events and times
    return tenant


def cohort_filters(runtime: Any, tenant: Any, operator: str | None, members: list[str]) -> list[dict[str, Any]]:
    """No filter, or one on a new static cohort of `members` (`in` or `not_in`)."""
    if operator is None:
        return []
    return [{"type": "cohort", "cohort_id": make_cohort(runtime, tenant, members), "operator": operator}]


# The random cases every test here draws (a test adds its own query's strategies beside these).
CASE_STRATEGIES: dict[str, Any] = {
    "seed": st.integers(0, 2**32),
    "count": st.integers(5, 80),
    "twice": st.booleans(),
    "zone": st.sampled_from(ZONES),
    "dates": range_strategy(),
    "cohort": st.sampled_from([None, "in", "not_in"]),
    "members": st.lists(st.sampled_from(USERS), min_size=1, max_size=3, unique=True),
}


def by_path(runtime: Any, tenant: Any, query: dict[str, Any]) -> tuple[Any, Any, Any]:
    """The answer with the person bitmaps, with them switched off (`person_weeks` or raw), and with
    every pre-aggregation off (raw); the settings are restored whatever happens."""
    try:
        runtime.settings.person_bitmaps = True
        bitmaps = run(runtime, tenant, query, refresh=True)
        runtime.settings.person_bitmaps = False
        off = run(runtime, tenant, query, refresh=True)
        runtime.settings.preaggregations = False
        raw = run(runtime, tenant, query, refresh=True)
    finally:
        runtime.settings.person_bitmaps = True
        runtime.settings.preaggregations = True
    assert (raw.served_by, raw.served_from) == ("raw", None)
    return bitmaps, off, raw
