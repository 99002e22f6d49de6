"""The ingest journal completes half-derived batches and drops batches that never landed.

The crash itself is exercised for real by `tests/bench/test_crash_bench.py` (SIGKILL at random
instants); here each state a kill can leave is built on purpose, so every branch of the replay is
checked deterministically: a view detached during the insert stands for a kill between the
`events` part and that view's part."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from analytics_engine.ingest.consistency import check_derived
from analytics_engine.ingest.journal import IngestJournal
from analytics_engine.ingest.validation import Limits, validate_events
from analytics_engine.ingest.writer import EventWriter, insert_event_rows
from tests.support.factories import events


def batch_body(tenant_id: str, count: int = 50) -> bytes:
    batch = [{**event, "event_id": str(uuid.uuid4())} for event in events("journaled", count, users=7, plan="pro")]
    return b"\n".join(item.line for item in validate_events(batch, tenant_id, Limits()).accepted)


def counts(runtime, tenant_id: str) -> dict[str, int]:  # type: ignore[no-untyped-def]
    table = runtime.warehouse.table
    params = {"t": tenant_id}
    one = lambda sql: int(runtime.warehouse.query(sql, params).scalar() or 0)  # noqa: E731
    return {
        "events": one(f"SELECT count() FROM {table('events')} WHERE tenant_id = {{t:String}}"),
        "event_ids": one(f"SELECT count() FROM {table('event_ids')} WHERE tenant_id = {{t:String}}"),
        "metrics_daily": one(f"SELECT sum(events) FROM {table('metrics_daily')} WHERE tenant_id = {{t:String}}"),
        "metrics_monthly": one(f"SELECT sum(events) FROM {table('metrics_monthly')} WHERE tenant_id = {{t:String}}"),
        "persons": one(f"SELECT sum(event_count) FROM {table('persons')} WHERE tenant_id = {{t:String}}"),
    }


@contextmanager
def views_detached(runtime, names: list[str]) -> Iterator[None]:  # type: ignore[no-untyped-def]
    for name in names:
        runtime.warehouse.command(f"DETACH TABLE {runtime.warehouse.table(name)}")
    try:
        yield
    finally:
        for name in names:
            runtime.warehouse.command(f"ATTACH TABLE {runtime.warehouse.table(name)}")


@pytest.fixture
def writer(runtime, tmp_path) -> EventWriter:  # type: ignore[no-untyped-def]
    return EventWriter(runtime.warehouse, journal=IngestJournal(tmp_path / "journal"))


@pytest.mark.parametrize(
    "missed",
    [["event_ids_mv"], ["metrics_daily_mv", "persons_mv"], ["person_properties_mv", "metrics_monthly_mv"]],
    ids=["ids-missed", "rollups-missed", "properties-missed"],
)
def test_a_batch_that_reached_events_but_not_every_view_is_completed(runtime, writer, missed):
    tenant_id = f"tn_half_{missed[0]}"
    body = batch_body(tenant_id)
    entry = writer.journal.begin(body)  # type: ignore[union-attr]
    with views_detached(runtime, missed):
        insert_event_rows(runtime.warehouse, body, entry.token)
    writer.journal.abandon(entry)  # type: ignore[union-attr]  # the process "died" here
    before = counts(runtime, tenant_id)
    assert before["events"] == 50 and min(before.values()) < 50, before

    assert writer.replay_journal() == 1
    assert counts(runtime, tenant_id) == dict.fromkeys(before, 50)
    assert [m for m in check_derived(runtime.warehouse) if m.tenant_id == tenant_id] == []
    assert writer.journal_status().in_flight == 0


def test_a_batch_that_landed_everywhere_is_not_added_again(runtime, writer):
    tenant_id = "tn_landed"
    body = batch_body(tenant_id)
    entry = writer.journal.begin(body)  # type: ignore[union-attr]
    insert_event_rows(runtime.warehouse, body, entry.token)
    writer.journal.abandon(entry)  # type: ignore[union-attr]  # killed after the insert, before the ack
    assert writer.replay_journal() == 1
    assert counts(runtime, tenant_id) == dict.fromkeys(counts(runtime, tenant_id), 50)


def test_a_batch_that_never_reached_events_is_dropped_for_its_client_to_resend(runtime, writer):
    tenant_id = "tn_never"
    writer.journal.abandon(writer.journal.begin(batch_body(tenant_id)))  # type: ignore[union-attr]
    assert writer.replay_journal() == 1
    assert counts(runtime, tenant_id)["events"] == 0
    assert writer.journal_status().in_flight == 0


def test_a_batch_held_by_a_live_insert_is_left_alone(runtime, writer):
    entry = writer.journal.begin(batch_body("tn_live"))  # type: ignore[union-attr]  # locked: in flight
    try:
        assert writer.replay_journal() == 0
        assert writer.journal_status().in_flight == 1
    finally:
        writer.journal.end(entry)  # type: ignore[union-attr]
    assert writer.journal_status().in_flight == 0


def test_a_failed_insert_is_replayed_before_the_next_duplicate_check(runtime, writer, monkeypatch):
    tenant_id = "tn_failed_insert"
    batch = [{**event, "event_id": str(uuid.uuid4())} for event in events("retried", 20, users=3)]
    accepted = validate_events(batch, tenant_id, Limits()).accepted
    real = insert_event_rows

    def lands_then_fails(warehouse, body, token):  # type: ignore[no-untyped-def]
        with views_detached(runtime, ["event_ids_mv"]):
            real(warehouse, body, token)
        raise ConnectionError("the warehouse went away mid-insert")

    monkeypatch.setattr("analytics_engine.ingest.writer.insert_event_rows", lands_then_fails)
    with pytest.raises(ConnectionError):
        writer.write(accepted)
    monkeypatch.setattr("analytics_engine.ingest.writer.insert_event_rows", real)
    # The client retries: the replay completes `event_ids` first, so the check drops every event.
    assert writer.write(validate_events(batch, tenant_id, Limits()).accepted) == 0
    assert counts(runtime, tenant_id) == dict.fromkeys(counts(runtime, tenant_id), 20)


def test_rows_deduplicated_yet_absent_from_events_are_restored_without_feeding_views_twice(runtime, writer):
    """ClickHouse records a part's token a moment before the part is visible; a kill in between
    loses that part of `events` while the replay still feeds the views. Built here by deleting
    half of a landed batch from `events` only."""
    tenant_id = "tn_restored"
    body = batch_body(tenant_id, count=40)
    entry = writer.journal.begin(body)  # type: ignore[union-attr]
    insert_event_rows(runtime.warehouse, body, entry.token)
    writer.journal.abandon(entry)  # type: ignore[union-attr]
    gone = [line.split(b",")[4].strip(b'"').decode() for line in body.splitlines()[::2]]
    runtime.warehouse.command(
        f"DELETE FROM {runtime.warehouse.table('events')} WHERE event_id IN {{ids:Array(UUID)}}", {"ids": gone}
    )
    assert counts(runtime, tenant_id)["events"] == 20
    assert writer.replay_journal() == 1
    assert counts(runtime, tenant_id) == dict.fromkeys(counts(runtime, tenant_id), 40)
    tables = runtime.warehouse.query(
        "SELECT count() FROM system.tables WHERE database = {db:String} AND name LIKE 'events_restore_%'",
        {"db": runtime.warehouse.database},
    ).scalar()
    assert tables == 0
