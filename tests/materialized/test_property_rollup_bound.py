"""Issue 18 bound on the property rollup: its view (which every tenant's inserts pay for) reads only
the string columns admitted at their backfill, at most `property_rollup_max_columns` (first come), each
with at most `property_rollup_max_values` distinct values in one (tenant, event, UTC hour). A column
left out stays materialized: its trends are served raw from the column, with the same answers, and
its API answer says why it is not rolled up."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from analytics_engine.config import Settings
from analytics_engine.ingest.validation import Limits, validate_events
from analytics_engine.insights import parse_insight_query
from analytics_engine.insights.trends import TrendsRunner
from analytics_engine.materialized.schemas import MaterializedPropertyCreate, MaterializedPropertyPublic
from analytics_engine.runtime import Runtime
from analytics_engine.tenants.service import TenantContext
from tests.conftest import build_settings
from tests.materialized.conftest import MAX_COLUMNS, MAX_PER_TENANT, real_tenant

MAX_ROLLED_UP = 2
MAX_VALUES = 5
START = datetime(2026, 3, 2, 10, tzinfo=UTC)
RANGE = {"date_from": "2026-03-01", "date_to": "2026-03-04"}


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory, warehouse_path: Path) -> Settings:
    return build_settings(
        tmp_path_factory.mktemp("data"),
        warehouse_path,
        materialized_refresh_seconds=0,
        materialized_max_per_tenant=MAX_PER_TENANT,
        materialized_max_columns=MAX_COLUMNS,
        property_rollup_max_columns=MAX_ROLLED_UP,
        property_rollup_max_values=MAX_VALUES,
    )


@pytest.fixture(scope="module")
def tenant(runtime: Runtime) -> TenantContext:
    """Twelve `signup` events in one hour: twelve emails (over the gate), two plans, two countries,
    two browsers (under it); materialized in this order: plan, email, country, browser."""
    ctx = real_tenant(runtime)
    raw = [
        {
            "event": "signup",
            "distinct_id": f"u{i % 7}",
            "timestamp": (START + timedelta(minutes=i)).isoformat(),
            "properties": {
                "email": f"user{i}@example.com",
                "plan": "pro" if i % 3 else "free",
                "country": "no" if i % 2 else "se",
                "browser": "firefox" if i % 4 else "chrome",
            },
            "event_id": str(uuid.uuid4()),
        }
        for i in range(12)
    ]
    outcome = validate_events(raw, ctx.tenant_id, Limits())
    assert not outcome.rejected
    runtime.writer.write(outcome.accepted)
    return ctx


@pytest.fixture(scope="module")
def created(runtime: Runtime, tenant: TenantContext) -> dict[str, MaterializedPropertyPublic]:
    made = {}
    for path in ("plan", "email", "country", "browser"):
        made[path] = runtime.materialized.create(tenant.tenant_id, MaterializedPropertyCreate(path=path), wait=True)
        assert made[path].state == "ready", made[path]
    return made


def _trend(runtime: Runtime, tenant: TenantContext, path: str, value: str, *, rollups: bool) -> Any:
    query = {
        "kind": "trends",
        "series": [{"event": "signup"}],  # unique users read raw events (exact) whatever the rollup
        "filters": [{"key": path, "operator": "neq", "value": value}],
        "breakdown": [path],
        "date_range": RANGE,
    }
    runner = TrendsRunner(runtime, tenant, parse_insight_query(query))
    runner.allow_rollups = rollups
    result = runner.run(refresh=True)
    series = sorted(
        (s.label, tuple(s.breakdown_value or ()), s.total, tuple(p.value for p in s.points)) for s in result.series
    )
    return result.served_by, series


def test_high_cardinality_column_is_not_rolled_up_and_served_raw(
    runtime: Runtime, tenant: TenantContext, created: dict[str, MaterializedPropertyPublic]
) -> None:
    email = created["email"]
    assert (email.rolled_up, email.rollup_reason) == (False, "too_many_values")
    assert email.rollup_message and "ANALYTICS_PROPERTY_ROLLUP_MAX_VALUES" in email.rollup_message
    assert email.column not in (runtime.materialized.rollup.view_columns() or [])
    assert email.column not in runtime.materialized.rollup.covered(ttl_seconds=0)
    served, got = _trend(runtime, tenant, "email", "user3@example.com", rollups=True)
    raw_served, expected = _trend(runtime, tenant, "email", "user3@example.com", rollups=False)
    assert (served, raw_served) == ("raw", "raw")
    assert got == expected
    assert len(got) == 11  # eleven emails left by the filter (none lost)


def test_low_cardinality_column_is_still_served_by_the_property_rollup(
    runtime: Runtime, tenant: TenantContext, created: dict[str, MaterializedPropertyPublic]
) -> None:
    plan = created["plan"]
    assert (plan.rolled_up, plan.rollup_reason, plan.rollup_message) == (True, None, None)
    served, got = _trend(runtime, tenant, "plan", "free", rollups=True)
    _, expected = _trend(runtime, tenant, "plan", "free", rollups=False)
    assert served == "property_rollup"
    assert got == expected


def test_the_cap_on_rolled_up_columns_is_honoured_first_come(
    runtime: Runtime, tenant: TenantContext, created: dict[str, MaterializedPropertyPublic]
) -> None:
    """plan and country take the two slots (email, refused by the gate, takes none); browser comes
    after them: materialized, not rolled up, served raw with the same answer."""
    country, browser = created["country"], created["browser"]
    assert country.rolled_up is True
    assert (browser.rolled_up, browser.rollup_reason) == (False, "column_cap")
    assert browser.rollup_message and "ANALYTICS_PROPERTY_ROLLUP_MAX_COLUMNS" in browser.rollup_message
    assert runtime.materialized.rollup.view_columns() == sorted([created["plan"].column, country.column])
    served, got = _trend(runtime, tenant, "browser", "chrome", rollups=True)
    _, expected = _trend(runtime, tenant, "browser", "chrome", rollups=False)
    assert served == "raw"
    assert got == expected
    # GET and list say the same.
    listed = {p.path: p for p in runtime.materialized.list(tenant.tenant_id).items}
    assert (listed["browser"].rolled_up, listed["browser"].rollup_reason) == (False, "column_cap")
    assert runtime.materialized.get(tenant.tenant_id, country.id).rolled_up is True


def test_a_number_column_says_it_is_not_a_string(runtime: Runtime, tenant: TenantContext) -> None:
    other = real_tenant(runtime)
    made = runtime.materialized.create(other.tenant_id, MaterializedPropertyCreate(path="amount", type="number"))
    assert (made.rolled_up, made.rollup_reason) == (False, "not_string")


def test_a_rolled_up_column_that_grows_later_is_reported(
    runtime: Runtime, tenant: TenantContext, created: dict[str, MaterializedPropertyPublic]
) -> None:
    """The gate is measured once; a rolled-up column with more values since is reported (not taken out)."""
    assert runtime.materialized.report_grown() == {}
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=2)
    raw = [
        {
            "event": "signup",
            "distinct_id": f"g{i}",
            "timestamp": (hour + timedelta(minutes=i)).isoformat(),
            "properties": {"plan": f"plan-{i}"},
            "event_id": str(uuid.uuid4()),
        }
        for i in range(MAX_VALUES + 3)
    ]
    runtime.writer.write(validate_events(raw, tenant.tenant_id, Limits()).accepted)
    assert runtime.materialized.report_grown() == {created["plan"].column: MAX_VALUES + 3}
    assert runtime.materialized.get(tenant.tenant_id, created["plan"].id).rolled_up is True


def test_start_up_decides_columns_made_before_the_bound(
    runtime: Runtime, tenant: TenantContext, created: dict[str, MaterializedPropertyPublic]
) -> None:
    """A column rolled up before the bound (in the view, backfilled, not decided): the start-up pass
    measures it, takes it out of the view with its rows, and says why; the cap is applied again."""
    from analytics_engine.materialized.models import MaterializedColumn

    email, browser = created["email"].column, created["browser"].column
    service = runtime.materialized
    with runtime.metadata.session() as session:
        column = session.get(MaterializedColumn, email)
        assert column is not None
        column.rollup, column.rollup_detail = None, None
    service.rollup.sync_view([*service._admitted(), email])  # what main's view read
    service.rollup.backfill(email)
    assert email in service.rollup.covered(ttl_seconds=0)
    assert service.get(tenant.tenant_id, created["email"].id).rollup_reason == "pending"

    assert service.cover_ready_columns() == [email, browser]
    assert email not in (service.rollup.view_columns() or [])
    assert email not in service.rollup.covered(ttl_seconds=0)
    assert service.get(tenant.tenant_id, created["email"].id).rollup_reason == "too_many_values"
    assert service.get(tenant.tenant_id, created["browser"].id).rollup_reason == "column_cap"
    served, got = _trend(runtime, tenant, "email", "user3@example.com", rollups=True)
    assert (served, got) == _trend(runtime, tenant, "email", "user3@example.com", rollups=False)
