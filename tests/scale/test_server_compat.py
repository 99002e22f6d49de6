"""The ClickHouse server compatibility suite (issue 26): what must hold on a server that the embedded
chDB cannot show. Runs only with ANALYTICS_TEST_CLICKHOUSE_URL (and the cluster part with
ANALYTICS_TEST_CLICKHOUSE_CLUSTER); skipped loudly otherwise, in CI too (tests/support/clickhouse.py).
With the URL set, the whole warehouse/ingest/insights suites run against the server as well:
`ANALYTICS_TEST_CLICKHOUSE_URL=http://... pytest tests/warehouse tests/ingest tests/insights tests/scale`."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from analytics_engine.ingest.consistency import check_derived
from analytics_engine.ingest.validation import Limits, validate_events
from analytics_engine.ingest.writer import insert_event_rows
from analytics_engine.warehouse import Warehouse
from analytics_engine.warehouse.migrations import migrate, migration_files
from tests.support.clickhouse import require_clickhouse_server, server_cluster
from tests.support.factories import events

pytestmark = pytest.mark.clickhouse_server


def test_the_suite_runs_on_a_server(runtime):
    assert not runtime.warehouse.embedded
    assert runtime.warehouse.ping()
    applied = {
        row[0] for row in runtime.warehouse.query(f"SELECT id FROM {runtime.warehouse.table('schema_migrations')}").rows
    }
    assert applied == {name for name, _ in migration_files()}


def test_a_replayed_batch_lands_once_in_events_and_every_derived_table(runtime):
    tenant_id = f"tn_srv_{uuid.uuid4().hex[:6]}"
    batch = [{**e, "event_id": str(uuid.uuid4())} for e in events("replayed", 40, users=5, plan="pro")]
    body = b"\n".join(item.line for item in validate_events(batch, tenant_id, Limits()).accepted)
    token = uuid.uuid4().hex
    insert_event_rows(runtime.warehouse, body, token)
    insert_event_rows(runtime.warehouse, body, token)  # the retry
    count = runtime.warehouse.query(
        f"SELECT count() FROM {runtime.warehouse.table('events')} WHERE tenant_id = {{t:String}}", {"t": tenant_id}
    ).scalar()
    assert count == 40
    assert [m for m in check_derived(runtime.warehouse) if m.tenant_id == tenant_id] == []


def test_http_ingest_and_an_insight_on_the_server(new_tenant):
    tenant = new_tenant()
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=5)
    tenant.ingest(events("signup", 6, users=3, start=start, step=timedelta(hours=1)))
    answer = tenant.post(
        "/v1/insights/trends",
        json={
            "series": [{"event": "signup"}],
            "date_range": {"date_from": (start - timedelta(days=1)).date().isoformat()},
        },
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["series"][0]["total"] == 6


def test_the_cluster_form_of_the_migrations_runs_on_the_cluster():
    url = require_clickhouse_server()
    cluster = server_cluster()
    if cluster is None:
        pytest.skip(
            "SKIPPED LOUDLY: ANALYTICS_TEST_CLICKHOUSE_CLUSTER is unset: the cluster DDL was not run on a server"
        )
    database = f"cl_{uuid.uuid4().hex[:8]}"
    warehouse = Warehouse(url, database, cluster=cluster)
    try:
        assert migrate(warehouse) == [name for name, _ in migration_files()]
        engines = dict(
            warehouse.query("SELECT name, engine FROM system.tables WHERE database = {d:String}", {"d": database}).rows
        )
        assert engines["events"] == "Distributed"
        assert engines["events_local"] == "ReplicatedReplacingMergeTree"
        assert migrate(warehouse) == []  # idempotent: the log is cluster-wide
    finally:
        warehouse.command(f"DROP DATABASE IF EXISTS `{database}` ON CLUSTER '{cluster}' SYNC")
        warehouse.close()


def test_serve_workers_answer_alike_from_one_warehouse(tmp_path):
    """`serve --workers 3` on a server DSN with PostgreSQL, Redis and NATS: events ingested through
    whichever worker takes each request are counted by every worker's next answer (the data version
    lives in Redis), and every answer agrees."""
    from tests.scale.serve_replicas import make_tenant, start_replica, stop_replica
    from tests.support.postgres import postgres_schema_url

    url = require_clickhouse_server()
    with postgres_schema_url() as metadata_url:
        database = f"wk_{uuid.uuid4().hex[:8]}"
        replica = start_replica(
            tmp_path / "workers",
            metadata_url,
            "workers",
            ("--workers", "3"),
            ANALYTICS_WAREHOUSE_DSN=url,
            ANALYTICS_WAREHOUSE_DATABASE=database,
        )
        try:
            import httpx

            _, headers = make_tenant(replica)
            start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=2)
            query = {"series": [{"event": "w"}], "date_range": {"date_from": (start - timedelta(days=1)).isoformat()}}
            for sent in range(1, 13):
                body = {"event": "w", "distinct_id": f"u{sent}", "timestamp": start.isoformat()}
                assert httpx.post(f"{replica.url}/v1/events", json=body, headers=headers, timeout=30).status_code < 300
                totals = {
                    httpx.post(f"{replica.url}/v1/insights/trends", json=query, headers=headers, timeout=60).json()[
                        "series"
                    ][0]["total"]
                    for _ in range(4)
                }
                assert totals == {sent}, totals
        finally:
            stop_replica(replica)
            Warehouse(url, database).command(f"DROP DATABASE IF EXISTS `{database}`")
