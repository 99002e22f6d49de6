"""BudgetService against the real metadata database and warehouse: the gate, the settings it hands
ClickHouse, accounting that survives a restart, and over-budget reads named in the error."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from analytics_engine.budgets import BudgetService, BudgetUpdate
from analytics_engine.errors import BudgetExceeded, NotFound, QueryTimeout
from analytics_engine.metadata.models import Tenant
from analytics_engine.runtime import Runtime


@pytest.fixture
def tenant_id(runtime: Runtime) -> str:
    with runtime.metadata.session() as session:
        tenant = Tenant(name=f"budget-{datetime.now(UTC).timestamp()}")
        session.add(tenant)
        session.flush()
        return tenant.id


@pytest.fixture
def service(runtime: Runtime) -> BudgetService:
    """A service of its own (no background flusher interference: flushes are explicit here)."""
    return BudgetService(runtime.metadata, runtime.settings, flush_seconds=3600)


def test_defaults_come_from_settings(service: BudgetService, tenant_id: str) -> None:
    limits = service.limits(tenant_id)
    settings = service.settings
    assert limits.max_concurrent_queries == settings.budget_max_concurrent_queries
    assert limits.query_seconds_per_day == settings.budget_query_seconds_per_day
    assert service.query_settings(tenant_id) == {
        "max_execution_time": settings.budget_max_execution_time,
        "max_rows_to_read": settings.budget_max_rows_to_read,
        "max_bytes_to_read": settings.budget_max_bytes_to_read,
        "read_overflow_mode": "throw",
        "timeout_overflow_mode": "throw",
    }


def test_overrides_replace_defaults_and_null_resets(service: BudgetService, tenant_id: str) -> None:
    budget = service.set_budget(tenant_id, BudgetUpdate(max_rows_to_read=1000, max_concurrent_queries=1))
    assert budget.overrides == {"max_rows_to_read": 1000, "max_concurrent_queries": 1}
    assert service.query_settings(tenant_id)["max_rows_to_read"] == 1000
    budget = service.set_budget(tenant_id, BudgetUpdate(max_concurrent_queries=2))
    assert budget.overrides == {"max_concurrent_queries": 2}
    assert budget.limits.max_rows_to_read == service.settings.budget_max_rows_to_read
    with pytest.raises(NotFound):
        service.set_budget("tn_nope", BudgetUpdate())


def test_concurrency_gate(service: BudgetService, tenant_id: str) -> None:
    service.set_budget(tenant_id, BudgetUpdate(max_concurrent_queries=2))
    with service.admit(tenant_id), service.admit(tenant_id):
        assert service.running(tenant_id) == 2
        with pytest.raises(BudgetExceeded) as refused, service.admit(tenant_id):
            pass
        assert refused.value.retry_after == 1
        assert refused.value.details["limit"] == "max_concurrent_queries"
        assert refused.value.details["limit_value"] == 2
    assert service.running(tenant_id) == 0
    with service.admit(tenant_id):  # slots free again
        pass
    usage = service.usage(tenant_id).usage
    assert (usage.queries, usage.rejected, usage.running) == (3, 1, 0)


def test_concurrency_gate_holds_across_threads(service: BudgetService, tenant_id: str) -> None:
    service.set_budget(tenant_id, BudgetUpdate(max_concurrent_queries=3))
    inside, release = threading.Barrier(4), threading.Event()
    refused: list[BudgetExceeded] = []
    peak: list[int] = []

    def query() -> None:
        try:
            with service.admit(tenant_id):
                peak.append(service.running(tenant_id))
                inside.wait(timeout=5)
                release.wait(timeout=5)
        except BudgetExceeded as exc:
            refused.append(exc)
            inside.wait(timeout=5)

    threads = [threading.Thread(target=query) for _ in range(4)]
    for thread in threads:
        thread.start()
    release.set()
    for thread in threads:
        thread.join()
    assert len(refused) == 1 and max(peak) <= 3
    assert service.running(tenant_id) == 0


def test_daily_seconds_refuse_until_midnight(runtime: Runtime, tenant_id: str) -> None:
    moment = datetime(2026, 3, 29, 22, 0, 30, tzinfo=UTC)
    service = BudgetService(runtime.metadata, runtime.settings, clock=lambda: moment, flush_seconds=3600)
    service.set_budget(tenant_id, BudgetUpdate(query_seconds_per_day=10))
    with service.admit(tenant_id):
        service.record(tenant_id, 6.0, 100, 1000)
    with service.admit(tenant_id):  # 6 < 10: still admitted, and this one goes over
        service.record(tenant_id, 5.0, 100, 1000)
    with pytest.raises(BudgetExceeded) as refused, service.admit(tenant_id):
        pass
    assert refused.value.details["limit"] == "query_seconds_per_day"
    assert refused.value.details["used"] == 11.0
    assert refused.value.retry_after == 2 * 3600 - 30 + 1  # to 00:00 UTC, rounded up
    usage = service.usage(tenant_id)
    assert usage.usage.queries == 2 and usage.usage.rejected == 1
    assert usage.usage.read_rows == 200 and usage.usage.read_bytes == 2000
    assert usage.remaining.query_seconds == 0
    assert usage.resets_at == datetime(2026, 3, 30, tzinfo=UTC)


def test_unrecorded_admission_charges_wall_time(service: BudgetService, tenant_id: str) -> None:
    with pytest.raises(QueryTimeout), service.admit(tenant_id):
        raise QueryTimeout("simulated")
    usage = service.usage(tenant_id).usage
    assert usage.queries == 1 and usage.query_seconds >= 0
    with service.admit(tenant_id):
        service.record(tenant_id, 2.5, 1, 1)
    assert service.usage(tenant_id).usage.queries == 2  # recorded once, not twice
    assert service.usage(tenant_id).usage.query_seconds >= 2.5


def test_usage_survives_a_restart_and_adds_up_across_processes(runtime: Runtime, tenant_id: str) -> None:
    first = BudgetService(runtime.metadata, runtime.settings, flush_seconds=3600)
    second = BudgetService(runtime.metadata, runtime.settings, flush_seconds=3600)
    first.record(tenant_id, 1.5, 10, 100)
    second.record(tenant_id, 0.5, 5, 50)
    assert first.flush() == 1 and second.flush() == 1
    first.record(tenant_id, 1.0, 1, 1)
    first.close()  # writes what is pending
    restarted = BudgetService(runtime.metadata, runtime.settings, flush_seconds=3600)
    usage = restarted.usage(tenant_id).usage
    assert (usage.queries, usage.query_seconds, usage.read_rows, usage.read_bytes) == (3, 3.0, 16, 151)


def test_background_flusher_writes(runtime: Runtime, tenant_id: str) -> None:
    service = BudgetService(runtime.metadata, runtime.settings, flush_seconds=0.05)
    service.record(tenant_id, 0.25, 1, 1)
    deadline = datetime.now(UTC) + timedelta(seconds=5)
    while datetime.now(UTC) < deadline:
        if BudgetService(runtime.metadata, runtime.settings).usage(tenant_id).usage.queries == 1:
            break
    else:
        pytest.fail("usage never reached the database")
    service.close()


def test_record_result_reads_the_clickhouse_summary(service: BudgetService, tenant_id: str, runtime: Runtime) -> None:
    result = runtime.warehouse.query("SELECT sum(number) FROM numbers(100000)")
    service.record_result(tenant_id, result)
    usage = service.usage(tenant_id).usage
    assert usage.read_rows == int(result.summary["read_rows"]) and usage.read_rows > 0
    assert 0 < usage.query_seconds < 30


# --- ClickHouse enforces the per-query limits, and the error names the limit ---------------------
def test_rows_limit_is_a_429_naming_max_rows_to_read(service: BudgetService, tenant_id: str, runtime: Runtime) -> None:
    service.set_budget(tenant_id, BudgetUpdate(max_rows_to_read=1000))
    with pytest.raises(BudgetExceeded) as refused:
        runtime.warehouse.query(
            "SELECT sum(number) FROM numbers_mt(1000000)", settings=service.query_settings(tenant_id)
        )
    assert refused.value.details == {"limit": "max_rows_to_read", "clickhouse_code": 158}
    assert refused.value.status_code == 429


def test_bytes_limit_is_a_429_naming_max_bytes_to_read(
    service: BudgetService, tenant_id: str, runtime: Runtime
) -> None:
    service.set_budget(tenant_id, BudgetUpdate(max_bytes_to_read=1000))
    with pytest.raises(BudgetExceeded) as refused:
        runtime.warehouse.query(
            "SELECT sum(number) FROM numbers_mt(1000000)", settings=service.query_settings(tenant_id)
        )
    assert refused.value.details["limit"] == "max_bytes_to_read"


def test_time_limit_is_a_timeout_naming_max_execution_time(
    service: BudgetService, tenant_id: str, runtime: Runtime
) -> None:
    service.set_budget(tenant_id, BudgetUpdate(max_execution_time=0.2))
    with pytest.raises(QueryTimeout) as stopped:
        runtime.warehouse.query(
            "SELECT count() FROM numbers(1000000000) WHERE sipHash64(number) % 7 = 1",
            settings=service.query_settings(tenant_id),
        )
    assert stopped.value.details["limit"] == "max_execution_time"
