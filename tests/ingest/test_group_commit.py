"""Group commit gathers the requests that arrive while an insert runs and checks them together
shortly before that insert is expected to end: the duplicate check's look-up costs about the same
for 1,000 ids as for 10,000, so one check instead of one per request (docs/benchmarks.md)."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid

import pytest

from analytics_engine.ingest.group_commit import GroupCommitter
from analytics_engine.ingest.validation import event_row
from analytics_engine.ingest.writer import EventWriter
from tests.ingest.test_writer import accepted, stored

INSERT_SECONDS = 1.5  # every insert is held this long, so durations are known after the first


class TimedWriter(EventWriter):
    """Logs each check's events and each insert's; an insert takes INSERT_SECONDS, or until its
    event name's gate opens when one is given."""

    def __init__(self, warehouse, gates: dict[str, threading.Event] | None = None) -> None:
        super().__init__(warehouse)
        self.log: list[str] = []
        self.gates = gates or {}

    def claim(self, batch):
        self.log.append(f"check {len(batch)}")
        return super().claim(batch)

    def insert(self, fresh, rejected=()):
        name = event_row(fresh[0].line)["event"]
        self.log.append(f"insert {name} x{len(fresh)}")
        gate = self.gates.get(name)
        if gate is not None:
            assert gate.wait(20)
        else:
            time.sleep(INSERT_SECONDS)
        super().insert(fresh, rejected)


def submit(committer: GroupCommitter, tenant_id: str, name: str, count: int = 1) -> asyncio.Future[int]:
    return asyncio.ensure_future(committer.submit(accepted(tenant_id, name, [str(uuid.uuid4()) for _ in range(count)])))


async def until(condition, log: list[str]) -> None:
    for _ in range(2000):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"timed out; log: {log}")


@pytest.mark.parametrize("arrivals", [2, 5])
def test_requests_arriving_during_an_insert_are_checked_once_and_join_the_next_insert(runtime, arrivals):
    writer = TimedWriter(runtime.warehouse)
    tenant_id = f"tn_gather_{arrivals}"

    async def scenario() -> list[int]:
        committer = GroupCommitter(writer, max_events=1, max_wait_ms=1, max_concurrent_inserts=1)
        committer.start()
        assert await submit(committer, tenant_id, "warmup") == 1  # the durations are known from here
        first = submit(committer, tenant_id, "first")
        await until(lambda: "insert first x1" in writer.log, writer.log)
        later = []
        for _ in range(arrivals):  # spaced well beyond max_wait: the old code checked each on its own
            later.append(submit(committer, tenant_id, "later"))
            await asyncio.sleep(0.05)
        answers = await asyncio.gather(first, *later)
        await committer.close()
        return answers

    assert asyncio.run(scenario()) == [1] * (arrivals + 1)
    assert writer.log == [
        "check 1",
        "insert warmup x1",
        "check 1",
        "insert first x1",
        f"check {arrivals}",
        f"insert later x{arrivals}",
    ]
    assert stored(runtime, tenant_id) == arrivals + 2


def test_half_an_insert_queued_is_checked_at_once_not_at_the_insert_end(runtime):
    gates = {"held": threading.Event()}
    writer = TimedWriter(runtime.warehouse, gates)
    tenant_id = "tn_gather_half"

    async def scenario() -> list[int]:
        committer = GroupCommitter(writer, max_events=1, max_wait_ms=1, max_insert_events=8, max_concurrent_inserts=1)
        committer.start()
        assert await submit(committer, tenant_id, "warmup") == 1
        held = submit(committer, tenant_id, "held")
        await until(lambda: "insert held x1" in writer.log, writer.log)
        big = submit(committer, tenant_id, "big", 4)  # half of max_insert_events
        await until(lambda: writer.log[-1] == "check 4", writer.log)
        assert not gates["held"].is_set()  # checked while the insert in flight is still held
        gates["held"].set()
        answers = await asyncio.gather(held, big)
        await committer.close()
        return answers

    assert asyncio.run(scenario()) == [1, 4]
    assert writer.log[-2:] == ["check 4", "insert big x4"]
    assert stored(runtime, tenant_id) == 6
