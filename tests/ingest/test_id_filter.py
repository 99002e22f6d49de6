"""The duplicate check's in-process id filter: ids it does not know skip `event_ids`, ids it may hold
are looked up, and a duplicate is refused whatever the filter says, across a restart too."""

from __future__ import annotations

import uuid

import pytest
from fastapi.testclient import TestClient

from analytics_engine.api.app import create_app
from analytics_engine.ingest.id_filter import IdFilter
from analytics_engine.ingest.validation import Limits, validate_events
from analytics_engine.ingest.writer import insert_event_rows
from analytics_engine.runtime import Runtime
from tests.conftest import ADMIN_KEY, build_settings
from tests.support.clickhouse import server_url
from tests.support.factories import events, make_tenant

embedded_only = pytest.mark.skipif(server_url() is not None, reason="the id filter is for the embedded warehouse only")


def keys(tenant_id: str, n: int) -> list[tuple[str, str]]:
    return [(tenant_id, str(uuid.uuid4())) for _ in range(n)]


def small_filter(max_ids: int = 100_000, clock=None, **kwargs) -> IdFilter:  # type: ignore[no-untyped-def]
    extra = {"clock": clock} if clock else {}
    id_filter = IdFilter(max_ids, block_ids=1_000, block_bits=1 << 15, window_seconds=100.0, **extra, **kwargs)
    id_filter.loaded = True
    return id_filter


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def test_added_ids_are_reported_and_unknown_ones_rarely():
    id_filter = small_filter()
    known = keys("tn_a", 5_000)
    id_filter.add(known)
    assert id_filter.may_contain(known) == known  # never under-reports
    unknown = keys("tn_a", 20_000)
    assert len(id_filter.may_contain(unknown)) < 200  # 32 bits per id: well under 1% false positives
    # The same ids of another tenant are other ids.
    assert len(id_filter.may_contain([("tn_b", event_id) for _, event_id in known])) < 50
    status = id_filter.status()
    assert status.ids == 5_000 and status.blocks == 5 and status.bytes == 5 * 4096 and status.bytes_per_id == 4.1


def test_a_filter_not_loaded_sends_every_id_to_the_table():
    id_filter = IdFilter(1_000)
    batch = keys("tn_a", 10)
    assert id_filter.may_contain(batch) == batch


def test_blocks_leave_once_their_newest_id_left_the_window():
    clock = Clock()
    id_filter = small_filter(clock=clock)
    id_filter.add(keys("tn_a", 2_500))  # blocks of 1,000: 3 blocks
    clock.now += 50
    recent = keys("tn_a", 10)
    id_filter.add(recent)
    clock.now += 60  # the first three blocks' ids are 110 s old, the last ones 60 s
    assert id_filter.may_contain(recent) == recent
    assert id_filter.status().ids == 510  # the third block took the recent ids: it stays
    assert id_filter.status().complete


def test_the_memory_bound_makes_every_id_go_to_the_table_until_the_dropped_ids_leave_the_window():
    clock = Clock()
    id_filter = small_filter(max_ids=2_000, clock=clock)
    old = keys("tn_a", 2_000)
    id_filter.add(old)
    clock.now += 10
    id_filter.add(keys("tn_a", 1))  # a third block: the oldest, its ids still in the window, is dropped
    assert id_filter.status().ids == 1_001 and not id_filter.status().complete
    unknown = keys("tn_a", 5)
    assert id_filter.may_contain(unknown) == unknown
    clock.now += 95  # the dropped block's newest id has left the window
    assert id_filter.status().complete
    assert id_filter.may_contain(old[:1_000]) == []  # those ids were in the dropped block only


def accepted(tenant_id: str, ids: list[str]):  # type: ignore[no-untyped-def]
    batch = [{**event, "event_id": event_id} for event, event_id in zip(events("f", len(ids)), ids, strict=True)]
    return validate_events(batch, tenant_id, Limits()).accepted


def event_id_lookups(runtime, monkeypatch) -> list[str]:  # type: ignore[no-untyped-def]
    statements: list[str] = []
    original = runtime.writer.platform.query

    def spy(sql: str, *args, **kwargs):  # type: ignore[no-untyped-def]
        if runtime.warehouse.table("event_ids") in sql:
            statements.append(sql)
        return original(sql, *args, **kwargs)

    monkeypatch.setattr(runtime.writer.platform, "query", spy)
    return statements


@embedded_only
def test_ids_the_filter_does_not_know_skip_the_table_and_known_ones_are_refused(runtime, monkeypatch):
    lookups = event_id_lookups(runtime, monkeypatch)
    ids = [str(uuid.uuid4()) for _ in range(50)]
    assert runtime.writer.write(accepted("tn_filter", ids)) == 50
    assert lookups == []  # new ids: no look-up in event_ids (the old code looked up every batch)
    assert runtime.writer.write(accepted("tn_filter", [*ids[:20], str(uuid.uuid4())])) == 1
    assert len(lookups) == 1  # the filter knew the 20: looked up, found, refused
    status = runtime.writer.id_filter.status()
    assert status.loaded and status.complete and status.ids >= 71 and status.bytes_per_id is not None


@embedded_only
def test_a_duplicate_is_refused_over_http_across_a_restart(tmp_path, warehouse_path):
    settings = build_settings(tmp_path, warehouse_path)
    admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
    batch = [dict(e, event_id=str(uuid.uuid4())) for e in events("restart", 40)]
    with TestClient(create_app(settings)) as client:
        tenant = make_tenant(client, admin, "filtered")
        tenant.ingest(batch)
        tenant.ingest(batch)
        assert tenant.count() == 40
    with TestClient(create_app(settings)) as client:  # a new process: the filter is loaded from event_ids
        tenant.client = client
        assert tenant.ingest([*batch[:25], dict(batch[0], event_id=str(uuid.uuid4()))])["accepted"] == 26
        assert tenant.count() == 41
        status = client.get("/v1/admin/ingest/status", headers=admin).json()["derived_tables"]["id_filter"]
        assert status["loaded"] and status["complete"] and status["ids"] >= 41


@embedded_only
def test_a_batch_left_in_the_journal_by_a_crash_is_known_after_the_restart(tmp_path, warehouse_path):
    """The insert landed but the process died before the journal entry was removed (so before the
    acknowledgement): the restart replays it, then loads the filter, so a retry is refused."""
    settings = build_settings(tmp_path, warehouse_path)
    first = Runtime.build(settings)
    ids = [str(uuid.uuid4()) for _ in range(30)]
    body = b"\n".join(event.line for event in accepted("tn_crash", ids))
    entry = first.writer.journal.begin(body, None)  # type: ignore[union-attr]
    insert_event_rows(first.warehouse, body, entry.token)
    first.writer.journal.abandon(entry)  # type: ignore[union-attr]  # ...and the process dies: its lock goes
    first.metadata.dispose()
    restarted = Runtime.build(settings)
    assert restarted.writer.replayed_batches == 1
    assert restarted.writer.write(accepted("tn_crash", ids)) == 0
    assert restarted.writer.id_filter is not None and restarted.writer.id_filter.status().ids >= 30
    restarted.metadata.dispose()


def test_the_filter_is_off_with_a_server_dsn_or_a_zero_bound(tmp_path, warehouse_path):
    from analytics_engine.core import id_filter_for

    assert id_filter_for(build_settings(tmp_path, warehouse_path, warehouse_dsn="http://127.0.0.1:8123")) is None
    assert id_filter_for(build_settings(tmp_path, warehouse_path, ingest_id_filter_max_ids=0)) is None
