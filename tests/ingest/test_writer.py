"""The duplicate check is exact whatever writes side by side: a claim holds its client ids until
released, and a second writer bringing one of them waits, then looks it up."""

from __future__ import annotations

import asyncio
import threading
import uuid

import pytest

from analytics_engine.ingest.group_commit import GroupCommitter
from analytics_engine.ingest.validation import Limits, event_row, validate_events
from analytics_engine.ingest.writer import EventWriter
from tests.support.factories import events


def with_ids(batch: list[dict], ids: list[str]) -> list[dict]:
    return [{**event, "event_id": event_id} for event, event_id in zip(batch, ids, strict=True)]


def accepted(tenant_id: str, name: str, ids: list[str]):
    return validate_events(with_ids(events(name, len(ids)), ids), tenant_id, Limits()).accepted


def stored(runtime, tenant_id: str) -> int:
    return runtime.warehouse.query(
        f"SELECT count() FROM {runtime.warehouse.table('events')} WHERE tenant_id = {{t:String}}", {"t": tenant_id}
    ).scalar()


@pytest.mark.parametrize("holder_lands", [True, False], ids=["holder-lands", "holder-fails"])
def test_a_held_id_waits_for_its_holder(runtime, holder_lands):
    tenant_id = f"tn_hold_{holder_lands}"
    shared = str(uuid.uuid4())
    writer = runtime.writer
    first = writer.claim(accepted(tenant_id, "first", [shared]))
    second: dict = {}
    waiter = threading.Thread(target=lambda: second.update(claim=writer.claim(accepted(tenant_id, "second", [shared]))))
    waiter.start()
    waiter.join(0.3)
    assert waiter.is_alive(), "a claim on a held id must wait for the holder"
    if holder_lands:
        writer.insert(first.fresh)
    writer.release([first])
    waiter.join(10)
    assert not waiter.is_alive()
    # Landed: the id is now stored, so the second claim drops it. Failed: the second one writes it.
    assert [event.event_id for event in second["claim"].fresh] == ([] if holder_lands else [shared])
    writer.release([second["claim"]])


def test_an_abandoned_claim_is_taken_over(runtime, monkeypatch):
    monkeypatch.setattr("analytics_engine.ingest.writer.HOLD_TIMEOUT_SECONDS", 0.2)
    shared = str(uuid.uuid4())
    abandoned = runtime.writer.claim(accepted("tn_abandoned", "first", [shared]))  # never released
    second = runtime.writer.claim(accepted("tn_abandoned", "second", [shared]))
    assert [event.event_id for event in second.fresh] == [shared]
    runtime.writer.release([second, abandoned])


def test_concurrent_writers_store_each_id_once(runtime):
    tenant_id = "tn_race"
    rounds, writers = 15, 4
    ids = [str(uuid.uuid4()) for _ in range(rounds)]
    barrier = threading.Barrier(writers)

    def write_all(worker: int) -> None:
        for event_id in ids:
            barrier.wait()
            # Each writer sends the shared id plus one of its own: as if a retry raced the original.
            runtime.writer.write(accepted(tenant_id, "race", [event_id, str(uuid.uuid4())]))

    threads = [threading.Thread(target=write_all, args=(worker,)) for worker in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert stored(runtime, tenant_id) == rounds + rounds * writers


def test_group_commit_checks_the_next_batch_while_one_is_inserted(runtime):
    """Checks run ahead of the insert in flight; inserts stay one at a time and every request is answered."""
    log: list[str] = []
    inserting = threading.Event()
    proceed = threading.Event()

    class SlowWriter(EventWriter):
        def claim(self, batch):
            log.append(f"check {event_row(batch[0].line)['event']}")
            return super().claim(batch)

        def insert(self, fresh, rejected=()):
            log.append(f"insert {len(fresh)}")
            inserting.set()
            assert proceed.wait(10)
            super().insert(fresh, rejected)
            log.append("inserted")

    tenant_id = "tn_pipeline"

    async def scenario() -> list[int]:
        committer = GroupCommitter(SlowWriter(runtime.warehouse), max_events=1, max_wait_ms=1, max_concurrent_inserts=1)
        committer.start()
        first = asyncio.ensure_future(committer.submit(accepted(tenant_id, "aaaaa", [str(uuid.uuid4())])))
        await asyncio.to_thread(inserting.wait, 10)
        later = []
        for checks, name in ((2, "bbbbb"), (3, "ccccc")):
            later.append(asyncio.ensure_future(committer.submit(accepted(tenant_id, name, [str(uuid.uuid4())]))))
            while sum(entry.startswith("check") for entry in log) < checks:
                await asyncio.sleep(0.01)
        proceed.set()
        answers = await asyncio.gather(first, *later)
        await committer.close()
        return answers

    assert asyncio.run(scenario()) == [1, 1, 1]
    # Both later batches were checked while the first insert was held, then went in as one insert.
    assert log == ["check aaaaa", "insert 1", "check bbbbb", "check ccccc", "inserted", "insert 2", "inserted"]
    assert stored(runtime, tenant_id) == 3


def test_a_second_insert_runs_beside_the_first_only_for_a_large_backlog(runtime):
    """With two inserts allowed and inserts of 4 events, a backlog of 1 waits for the insert in
    flight, a backlog of 2 (half an insert) starts the second, and every request is answered."""
    log: list[str] = []
    release = {name: threading.Event() for name in ("a", "b", "c")}

    class HeldWriter(EventWriter):
        def insert(self, fresh, rejected=()):
            name = event_row(fresh[0].line)["event"]
            log.append(f"insert {name} x{len(fresh)}")
            assert release[name].wait(10)
            super().insert(fresh, rejected)

    tenant_id = "tn_two_inserts"

    def submit(committer, name, count):
        return asyncio.ensure_future(
            committer.submit(accepted(tenant_id, name, [str(uuid.uuid4()) for _ in range(count)]))
        )

    async def until(condition) -> None:
        for _ in range(500):
            if condition():
                return
            await asyncio.sleep(0.01)
        raise AssertionError(f"timed out; log: {log}")

    async def scenario() -> list[int]:
        committer = GroupCommitter(
            HeldWriter(runtime.warehouse), max_events=1, max_wait_ms=1, max_insert_events=4, max_concurrent_inserts=2
        )
        committer.start()
        requests = [submit(committer, "a", 1)]
        await until(lambda: log == ["insert a x1"])
        requests.append(submit(committer, "b", 1))
        await asyncio.sleep(0.3)
        assert log == ["insert a x1"], "a backlog under half an insert waits for the insert in flight"
        requests.append(submit(committer, "b", 1))
        await until(lambda: log == ["insert a x1", "insert b x2"])
        requests.append(submit(committer, "c", 1))
        release["b"].set()
        release["a"].set()
        release["c"].set()
        answers = await asyncio.gather(*requests)
        await committer.close()
        return answers

    assert asyncio.run(scenario()) == [1, 1, 1, 1]
    assert sorted(log) == ["insert a x1", "insert b x2", "insert c x1"]
    assert stored(runtime, tenant_id) == 4


@pytest.mark.parametrize("broken", ["claim", "insert"])
def test_a_failed_check_or_insert_is_reported_not_acknowledged(runtime, broken):
    class BrokenWriter(EventWriter):
        def claim(self, batch):
            if broken == "claim":
                raise RuntimeError("warehouse unreachable")
            return super().claim(batch)

        def insert(self, fresh, rejected=()):
            raise RuntimeError("disk full")

    async def scenario() -> str:
        committer = GroupCommitter(BrokenWriter(runtime.warehouse), max_events=1, max_wait_ms=1)
        committer.start()
        try:
            await committer.submit(accepted("tn_broken", "lost", [str(uuid.uuid4())]))
        except RuntimeError as exc:
            return str(exc)
        finally:
            await committer.close()
        return "acknowledged"

    assert asyncio.run(scenario()) == ("warehouse unreachable" if broken == "claim" else "disk full")
    assert stored(runtime, "tn_broken") == 0


def test_stored_ids_are_found_across_lookup_chunks(runtime, monkeypatch):
    """The look-up binds the ids' high halves as one hex run; ClickHouse's own `id_high` must match
    it for every id, in every chunk, and only the tenant's own ids count."""
    monkeypatch.setattr("analytics_engine.ingest.writer.LOOKUP_CHUNK", 7)
    ids = [str(uuid.uuid4()) for _ in range(20)] + ["ffffffff-ffff-4fff-bfff-ffffffffffff", str(uuid.UUID(int=1))]
    runtime.writer.write(accepted("tn_lookup", "first", ids))
    runtime.writer.write(accepted("tn_lookup_other", "first", ids[:5]))
    retry = runtime.writer.claim(accepted("tn_lookup", "again", [*ids, str(uuid.uuid4())]))
    runtime.writer.release([retry])
    assert len(retry.fresh) == 1 and retry.fresh[0].event_id not in ids
    assert stored(runtime, "tn_lookup") == len(ids)
