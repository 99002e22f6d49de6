"""Versioned membership: a reader running while evaluations write new versions only ever sees a
complete version; old versions are pruned; `cohort_condition` binds one published version."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta

import orjson
import pytest

from analytics_engine.cohorts.filters import cohort_condition
from analytics_engine.cohorts.schemas import CohortCreate, CohortUpdate, Group
from analytics_engine.errors import NotFound
from analytics_engine.ingest.validation import EVENT_COLUMNS
from analytics_engine.tenants.schemas import TenantCreate

AS_OF = datetime(2026, 3, 10, tzinfo=UTC)


def load(runtime, tenant_id: str, users: int, per_user: int, event: str = "buy") -> None:  # type: ignore[no-untyped-def]
    lines = []
    for u in range(users):
        for k in range(per_user):
            moment = AS_OF - timedelta(hours=1 + k, minutes=u % 50)
            stamp = moment.strftime("%Y-%m-%d %H:%M:%S.000")
            lines.append(
                orjson.dumps(
                    {
                        "tenant_id": tenant_id,
                        "event": event,
                        "distinct_id": f"user-{u:05d}",
                        "timestamp": stamp,
                        "event_id": str(uuid.uuid4()),
                        "received_at": stamp,
                        "properties": {"k": k},
                    }
                )
            )
    runtime.warehouse.insert_json_rows(runtime.warehouse.table("events"), list(EVENT_COLUMNS), b"\n".join(lines))


def definition(count: int) -> Group:
    return Group(
        type="group",
        criteria=[
            {"type": "event", "event": "buy", "operator": "at_least", "count": count, "window": {"last_days": 3}}
        ],
    )


def test_concurrent_reader_never_sees_a_partial_version(runtime) -> None:  # type: ignore[no-untyped-def]
    tenant = runtime.tenants.create(TenantCreate(name=f"conc-{uuid.uuid4().hex[:8]}"))
    # user-i bought (i % 4) + 1 times: thresholds 1..4 give sizes 20000, 15000, 10000, 5000
    for extra in range(4):
        load(runtime, tenant.id, 20_000 if extra == 0 else 20_000 - 5_000 * extra, 1)
    service = runtime.cohorts
    cohort = service.create(tenant.id, CohortCreate(name="buyers", definition=definition(1)))
    service.evaluate(tenant.id, cohort.id, as_of=AS_OF)
    # Small insert blocks: each version lands as many parts, so a half-written version is visible
    # in the table for a while; readers must still never see one.
    service.insert_settings = {
        "max_block_size": 1000,
        "max_insert_block_size": 1000,
        "min_insert_block_size_rows": 1000,
    }
    # The reader's view of every complete version, filled in as versions are published.
    sizes: dict[int, int] = {}
    seen: list[tuple[int, int]] = []
    stop = threading.Event()
    errors: list[BaseException] = []

    def reader() -> None:
        try:
            while not stop.is_set():
                sql, params = cohort_condition(runtime, tenant.id, cohort.id, False)
                version = next(v for k, v in params.items() if k.endswith("_v"))
                count = runtime.warehouse.query(
                    f"SELECT uniqExact(distinct_id) FROM {runtime.warehouse.table('persons')} "
                    f"WHERE tenant_id = {{tenant_id:String}} AND {sql}",
                    {"tenant_id": tenant.id, **params},
                ).scalar()
                seen.append((version, count))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=reader) for _ in range(2)]
    for thread in threads:
        thread.start()
    try:
        for round_ in range(6):
            threshold = (round_ % 4) + 1
            service.update(tenant.id, cohort.id, CohortUpdate(definition=definition(threshold)))
            result = service.evaluate(tenant.id, cohort.id, as_of=AS_OF)
            sizes[result.version] = result.size
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
    assert not errors, errors
    sizes[1] = 20_000
    assert len(seen) > 5
    versions_seen = {v for v, _ in seen}
    assert len(versions_seen) >= 2, versions_seen
    for version, count in seen:
        assert count == sizes[version], (version, count, sizes)
    assert set(sizes.values()) == {20_000, 15_000, 10_000, 5_000}


def test_old_versions_are_pruned_and_condition_is_tenant_bound(runtime) -> None:  # type: ignore[no-untyped-def]
    tenant = runtime.tenants.create(TenantCreate(name=f"prune-{uuid.uuid4().hex[:8]}"))
    other = runtime.tenants.create(TenantCreate(name=f"other-{uuid.uuid4().hex[:8]}"))
    load(runtime, tenant.id, 30, 2)
    service = runtime.cohorts
    cohort = service.create(tenant.id, CohortCreate(name="b", definition=definition(2)))
    for _ in range(5):
        service.evaluate(tenant.id, cohort.id, as_of=AS_OF)
    kept = runtime.settings.cohort_versions_kept
    stored = runtime.warehouse.query(
        f"SELECT DISTINCT version FROM {runtime.warehouse.table('cohort_users')} "
        "WHERE tenant_id = {t:String} AND cohort_id = {c:String} ORDER BY version",
        {"t": tenant.id, "c": cohort.id},
    ).rows
    assert [r[0] for r in stored] == list(range(5 - kept + 1, 6))
    states = {v.version: v.state for v in service.versions(tenant.id, cohort.id)}
    assert states[5] == "complete" and states[1] == "pruned"

    sql_a, params_a = cohort_condition(runtime, tenant.id, cohort.id, False)
    sql_b, params_b = cohort_condition(runtime, tenant.id, cohort.id, True)
    assert not set(params_a) & set(params_b)  # unique names: both fit in one query
    both = runtime.warehouse.query(
        f"SELECT uniqExactIf(distinct_id, {sql_a}), uniqExactIf(distinct_id, {sql_b}) "
        f"FROM {runtime.warehouse.table('persons')} "
        "WHERE tenant_id = {tenant_id:String}",
        {"tenant_id": tenant.id, **params_a, **params_b},
    ).rows[0]
    assert tuple(both) == (30, 0)
    with pytest.raises(NotFound):
        cohort_condition(runtime, other.id, cohort.id, False)
    with pytest.raises(NotFound):
        cohort_condition(runtime, tenant.id, "coh_missing", False)
