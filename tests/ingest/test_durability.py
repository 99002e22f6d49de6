"""Nothing acknowledged is lost: shutdown flushes pending batches, and a restart keeps all data."""

from __future__ import annotations

import asyncio

from fastapi.testclient import TestClient

from analytics_engine.api.app import create_app
from analytics_engine.ingest.group_commit import GroupCommitter
from analytics_engine.ingest.validation import Limits, validate_events
from analytics_engine.runtime import Runtime
from tests.conftest import ADMIN_KEY, build_settings
from tests.support.factories import events, make_tenant


def test_restart_keeps_everything(tmp_path, warehouse_path):
    settings = build_settings(tmp_path, warehouse_path)
    admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
    with TestClient(create_app(settings)) as client:
        tenant = make_tenant(client, admin, "durable")
        tenant.ingest(events("kept", 120, users=7))
        tenant.ingest([{"event": "", "distinct_id": "u"}])
    with TestClient(create_app(settings)) as client:
        tenant.client = client
        assert tenant.count() == 120
        assert len(tenant.get("/v1/events/rejected").json()) == 1


def test_close_flushes_pending_batches(runtime):
    tenant_id = "tn_flush"
    outcome = validate_events(events("pending", 30), tenant_id, Limits())

    async def scenario() -> int:
        committer = GroupCommitter(runtime.writer, max_events=10_000, max_wait_ms=60_000)
        committer.start()
        waiting = asyncio.ensure_future(committer.submit(outcome.accepted))
        await asyncio.sleep(0.05)
        assert not waiting.done()  # the batch is neither full nor old: it waits...
        await committer.close()  # ...until shutdown flushes it
        return await waiting

    assert asyncio.run(scenario()) == 30
    stored = runtime.warehouse.query(
        f"SELECT count() FROM {runtime.warehouse.table('events')} WHERE tenant_id = {{t:String}}",
        {"t": tenant_id},
    ).scalar()
    assert stored == 30


def test_runtime_builds_twice_on_the_same_database(settings):
    first = Runtime.build(settings)
    second = Runtime.build(settings)
    assert second.warehouse.ping() and first.warehouse.ping()
    first.metadata.dispose()
    second.metadata.dispose()
