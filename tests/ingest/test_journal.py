"""The ingest journal completes half-derived batches and drops batches that never landed.

The crash itself is exercised for real by `tests/bench/test_crash_bench.py` (SIGKILL at random
instants); here each state a kill can leave is built on purpose, so every branch of the replay is
checked deterministically: a view detached during the insert stands for a kill between the
`events` part and that view's part."""

from __future__ import annotations

import threading
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
    [
        ["event_ids_mv"],
        ["metrics_daily_mv", "persons_mv"],
        ["person_properties_mv", "metrics_monthly_mv"],
        ["person_weeks_mv", "taxonomy_properties_mv"],
    ],
    ids=["ids-missed", "rollups-missed", "properties-missed", "preaggregations-missed"],
)
def test_a_batch_that_reached_events_but_not_every_view_is_completed(runtime, writer, missed):
    tenant_id = f"tn_half_{missed[0]}"
    body = batch_body(tenant_id)
    entry = writer.journal.begin(body)  # type: ignore[union-attr]
    with views_detached(runtime, missed):
        insert_event_rows(runtime.warehouse, body, entry.token)
    writer.journal.abandon(entry)  # type: ignore[union-attr]  # the process "died" here
    before = counts(runtime, tenant_id)
    assert before["events"] == 50
    assert [m for m in check_derived(runtime.warehouse) if m.tenant_id == tenant_id], "a view should have missed"

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


def test_a_batch_cut_short_while_journaled_is_never_replayed(runtime, writer):
    """A kill while the journal file was being written: the insert never began."""
    body = batch_body("tn_cut_short")
    (writer.journal.folder / "cut.partial").write_bytes(body[: len(body) // 2])  # type: ignore[union-attr]
    assert writer.replay_journal() == 0
    assert list(writer.journal.folder.iterdir()) == []  # type: ignore[union-attr]
    assert counts(runtime, "tn_cut_short")["events"] == 0


@pytest.mark.parametrize(
    "table", ["event_ids", "metrics_daily", "persons", "person_properties", "person_weeks", "taxonomy_properties"]
)
def test_a_derived_part_lost_after_its_token_was_recorded_is_recomputed(runtime, writer, table):
    """A table can record a part's token and lose the part to a kill: the replay's insert then
    skips that table. Built by removing the tenant's rows from one derived table after the insert;
    the replay recomputes the batch's rows of every derived table from `events`."""
    tenant_id = f"tn_lost_{table}"
    body = batch_body(tenant_id)
    entry = writer.journal.begin(body)  # type: ignore[union-attr]
    insert_event_rows(runtime.warehouse, body, entry.token)
    writer.journal.abandon(entry)  # type: ignore[union-attr]
    runtime.warehouse.command(
        f"ALTER TABLE {runtime.warehouse.table(table)} DELETE WHERE tenant_id = {{t:String}} "
        "SETTINGS mutations_sync = 2",
        {"t": tenant_id},
    )
    assert [m.table for m in check_derived(runtime.warehouse) if m.tenant_id == tenant_id]
    assert writer.replay_journal() == 1
    assert [m for m in check_derived(runtime.warehouse) if m.tenant_id == tenant_id] == []
    assert counts(runtime, tenant_id) == dict.fromkeys(counts(runtime, tenant_id), 50)


def test_views_that_landed_before_events_are_undone_and_the_resent_batch_counts_once(runtime, writer):
    """ClickHouse may commit a view's part before the `events` part of the same insert: a kill in
    between leaves derived rows (and the ids in the duplicate check) of a batch `events` lacks. The
    replay drops the batch for its client to resend and removes those rows, so the resend is
    neither refused as a duplicate nor counted twice. Built by deleting the batch from `events`."""
    tenant_id = "tn_views_first"
    batch = [{**event, "event_id": str(uuid.uuid4())} for event in events("views_first", 30, users=4)]
    body = b"\n".join(item.line for item in validate_events(batch, tenant_id, Limits()).accepted)
    entry = writer.journal.begin(body)  # type: ignore[union-attr]
    insert_event_rows(runtime.warehouse, body, entry.token)
    writer.journal.abandon(entry)  # type: ignore[union-attr]
    runtime.warehouse.command(
        f"ALTER TABLE {runtime.warehouse.table('events')} DELETE WHERE tenant_id = {{t:String}} "
        "SETTINGS mutations_sync = 2",
        {"t": tenant_id},
    )
    assert writer.replay_journal() == 1
    assert counts(runtime, tenant_id) == dict.fromkeys(counts(runtime, tenant_id), 0)
    assert writer.write(validate_events(batch, tenant_id, Limits()).accepted) == 30
    assert counts(runtime, tenant_id) == dict.fromkeys(counts(runtime, tenant_id), 30)
    assert [m for m in check_derived(runtime.warehouse) if m.tenant_id == tenant_id] == []


def test_a_replay_waits_for_running_inserts_and_holds_new_ones_back(writer):
    """The replay recomputes derived rows from `events`: an insert landing meanwhile would be
    counted twice, so the writer's gate lets a replay run alone."""
    gate = writer._gate
    order: list[str] = []
    replaying, finish_replay, late_inserted = threading.Event(), threading.Event(), threading.Event()

    def replay() -> None:
        with gate.alone():
            order.append("replay")
            replaying.set()
            finish_replay.wait(5)

    def late_insert() -> None:
        with gate.shared():
            order.append("late insert")
            late_inserted.set()

    with gate.shared():
        replayer = threading.Thread(target=replay)
        replayer.start()
        assert not replaying.wait(0.3)  # waits for the running insert
        order.append("insert done")
    assert replaying.wait(5)
    inserter = threading.Thread(target=late_insert)
    inserter.start()
    assert not late_inserted.wait(0.3)  # a new insert waits while the replay holds the gate
    finish_replay.set()
    assert late_inserted.wait(5)
    replayer.join(5)
    inserter.join(5)
    assert order == ["insert done", "replay", "late insert"]
