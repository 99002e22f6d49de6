"""The property rollup stays equal to `events` wherever derived tables are mended: an erasure (its
partition swap), the rebuild of a replayed batch (lifecycle/derived.py), `ingest verify`, and a
column dropped (the view first, then the column: inserts keep working)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from analytics_engine.ingest.consistency import check_derived
from analytics_engine.ingest.validation import Limits, validate_events
from analytics_engine.insights import parse_insight_query
from analytics_engine.insights.trends import TrendsRunner
from analytics_engine.lifecycle.derived import Affected, rebuild
from analytics_engine.materialized.models import MaterializedColumn
from analytics_engine.materialized.schemas import MaterializedPropertyCreate
from analytics_engine.privacy.schemas import ErasureCreate
from analytics_engine.runtime import Runtime
from analytics_engine.tenants.service import TenantContext
from tests.materialized.conftest import real_tenant

START = (datetime.now(UTC) - timedelta(days=3)).replace(minute=0, second=0, microsecond=0)


def _write(runtime: Runtime, tenant: TenantContext, people: tuple[str, ...], path: str, n: int = 60) -> None:
    raw = [
        {
            "event": ("view", "buy")[i % 2],
            "distinct_id": people[i % len(people)],
            "timestamp": (START + timedelta(minutes=37 * i)).isoformat(),
            "properties": {path: ("pro", "free", "")[i % 3]} if i % 4 else {},
        }
        for i in range(n)
    ]
    outcome = validate_events(raw, tenant.tenant_id, Limits())
    runtime.writer.write(outcome.accepted)


def _both(runtime: Runtime, tenant: TenantContext, path: str) -> tuple[Any, Any, str]:
    query = parse_insight_query(
        {
            "kind": "trends",
            "series": [{"event": "view", "math": "total"}],  # unique users read raw events (exact)
            "breakdown": [path],
            "date_range": {"date_from": "-5d"},
        }
    )
    answers = []
    for rollups in (True, False):
        runner = TrendsRunner(runtime, tenant, query)
        runner.allow_rollups = rollups
        result = runner.run(refresh=True)
        answers.append((result.served_by, sorted((s.label, s.total) for s in result.series)))
    return answers[0][1], answers[1][1], answers[0][0]


def _mismatches(runtime: Runtime, tenant: TenantContext) -> list[str]:
    return [
        m.describe()
        for m in check_derived(runtime.warehouse)
        if m.table == "metrics_by_property" and m.tenant_id == tenant.tenant_id
    ]


def _materialize(runtime: Runtime, tenant: TenantContext, path: str) -> str:
    created = runtime.materialized.create(tenant.tenant_id, MaterializedPropertyCreate(path=path), wait=True)
    assert created.state == "ready"
    return created.column


def test_erasure_recomputes_the_property_rollup(runtime: Runtime) -> None:
    tenant = real_tenant(runtime)
    path = f"tier_{uuid.uuid4().hex[:6]}"
    _write(runtime, tenant, ("gone", "a", "b"), path)
    _materialize(runtime, tenant, path)  # the backfill computes the rows of the events above
    _write(runtime, tenant, ("gone", "c"), path, n=20)  # the view writes these
    assert _mismatches(runtime, tenant) == []
    accepted = runtime.privacy.request(tenant.tenant_id, ErasureCreate(distinct_id="gone"), wait=True)
    assert runtime.privacy.get(tenant.tenant_id, accepted.id).status == "completed"
    rolled, raw, served = _both(runtime, tenant, path)
    assert served == "property_rollup"
    assert rolled == raw
    assert _mismatches(runtime, tenant) == []


def test_rebuild_of_a_replayed_batch_mends_the_property_rollup(runtime: Runtime) -> None:
    """Rows landed twice (a replay whose views' parts were kept) are deleted and computed again."""
    tenant = real_tenant(runtime)
    path = f"tier_{uuid.uuid4().hex[:6]}"
    column = _materialize(runtime, tenant, path)
    _write(runtime, tenant, ("a", "b"), path)
    scope = runtime.warehouse.for_tenant(tenant.tenant_id, background=True)
    table = runtime.warehouse.table("metrics_by_property")
    scope.command(
        f"INSERT INTO {table} SELECT * FROM {table} WHERE tenant_id = {{tenant_id:String}} AND property = {{c:String}}",
        {"c": column},
    )
    assert _mismatches(runtime, tenant) != []
    days = scope.query(
        f"SELECT DISTINCT event, toDate(timestamp) FROM {runtime.warehouse.table('events')} "
        "WHERE tenant_id = {tenant_id:String}"
    ).rows
    rebuild(scope, Affected(days=[(str(e), d) for e, d in days]))
    assert _mismatches(runtime, tenant) == []
    rolled, raw, served = _both(runtime, tenant, path)
    assert served == "property_rollup" and rolled == raw


def test_a_dropped_column_leaves_the_view_first(runtime: Runtime) -> None:
    tenant = real_tenant(runtime)
    path = f"tier_{uuid.uuid4().hex[:6]}"
    column = _materialize(runtime, tenant, path)
    assert column in (runtime.materialized.rollup.view_columns() or [])
    item = runtime.materialized.list(tenant.tenant_id).items[0]
    runtime.materialized.delete(tenant.tenant_id, item.id)
    with runtime.metadata.session() as session:
        job_id = session.get(MaterializedColumn, column).job_id  # type: ignore[union-attr]
    runtime.runner.run_now(job_id, wait=True)
    assert column not in (runtime.materialized.rollup.view_columns() or [])
    assert column not in runtime.materialized.rollup.covered(ttl_seconds=0)
    _write(runtime, tenant, ("a",), path, n=5)  # inserts still work without the column
    rows = runtime.warehouse.for_tenant(tenant.tenant_id).query(
        f"SELECT count() FROM {runtime.warehouse.table('metrics_by_property')} "
        "WHERE tenant_id = {tenant_id:String} AND property = {c:String}",
        {"c": column},
    )
    assert rows.scalar() == 0
    rolled, raw, served = _both(runtime, tenant, path)
    assert served == "raw" and rolled == raw


def _rollup_events(runtime: Runtime, tenant_id: str, column: str) -> tuple[int, int]:
    """(hour rows' events, day rows' events) of the tenant for one column."""
    figures = []
    for table in ("metrics_by_property", "metrics_by_property_days"):
        sql = (
            f"SELECT sum(events) FROM {runtime.warehouse.table(table)} "
            "WHERE tenant_id = {t:String} AND property = {c:String}"
        )
        figures.append(int(runtime.warehouse.query(sql, {"t": tenant_id, "c": column}).scalar() or 0))
    return figures[0], figures[1]


def test_a_replayed_batch_lands_once_in_the_property_rollup(runtime: Runtime, tmp_path: Any) -> None:
    """Crash consistency (issue 17): a batch whose `events` part landed but not the property view's
    part is completed by the journal replay; a batch that landed everywhere is not added again (the
    writer's deduplication token reaches the view's tables)."""
    from analytics_engine.ingest.journal import IngestJournal
    from analytics_engine.ingest.writer import EventWriter, insert_event_rows
    from tests.ingest.test_journal import batch_body, views_detached

    owner = real_tenant(runtime)
    column = _materialize(runtime, owner, "plan")  # the journal batches carry plan="pro"
    writer = EventWriter(runtime.warehouse, journal=IngestJournal(tmp_path / "journal"))
    for detached in ([], ["metrics_by_property_mv"]):
        tenant_id = f"tn_prop_{uuid.uuid4().hex[:8]}"
        body = batch_body(tenant_id)
        entry = writer.journal.begin(body)  # type: ignore[union-attr]
        with views_detached(runtime, detached):
            insert_event_rows(runtime.warehouse, body, entry.token)
        writer.journal.abandon(entry)  # type: ignore[union-attr]  # the process "died" here
        assert _rollup_events(runtime, tenant_id, column) == ((0, 0) if detached else (50, 50))
        assert writer.replay_journal() == 1
        assert _rollup_events(runtime, tenant_id, column) == (50, 50)
        mine = [m for m in check_derived(runtime.warehouse) if m.tenant_id == tenant_id]
        assert [m for m in mine if m.table.startswith("metrics_by_property")] == []
