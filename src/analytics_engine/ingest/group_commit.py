"""Group commit: concurrent requests share warehouse inserts.

A request hands its validated events over and waits. A single flusher closes a batch when it holds
`max_events` or its oldest request waited `max_wait_ms` and checks it for duplicates
(`EventWriter.claim`) in a worker thread; checked batches wait for the inserter, which writes all of
them that are ready as one insert (up to `max_insert_events`), then wakes every request in it with the
outcome. So the next batches are checked while an insert runs (the check cost about a quarter of the
insert path when it ran in between, docs/ingest.md), and requests that arrived meanwhile still join
the next insert together: under load inserts grow, which is what makes the warehouse fast, while a
lone request waits at most `max_wait_ms`. Up to `max_concurrent_inserts` inserts run at a time, a
further one only for a backlog of half an insert or more, so inserts stay large while both cores can
work on them; the claims keep the duplicate check exact whatever runs side by side. While an insert
runs, requests are not checked as they come but gathered and checked together shortly before that
insert is expected to end (from the last inserts' and checks' durations), or once they fill half an
insert: the duplicate check's look-up costs about the same whatever number of ids it carries (it reads
`event_ids`' granules for them, about the whole table for a few thousand random ids), so one
check of 10,000 ids costs a fraction of ten checks of 1,000 (docs/benchmarks.md, "Soak at 20k"),
and the requests still join the next insert. The 2xx leaves
only after the insert returned, and `close()` flushes what is pending, so an acknowledged event is
never lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import structlog

from analytics_engine.ingest.validation import AcceptedEvent, RejectedEvent
from analytics_engine.ingest.writer import Claim, EventWriter

log = structlog.get_logger(__name__)


@dataclass
class _Pending:
    accepted: list[AcceptedEvent]
    rejected: list[tuple[RejectedEvent, str, str]]
    done: asyncio.Future[int] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


@dataclass
class _Checked:
    batch: list[_Pending]
    claim: Claim

    @property
    def size(self) -> int:
        return sum(len(item.accepted) + len(item.rejected) for item in self.batch)


class GroupCommitter:
    def __init__(
        self,
        writer: EventWriter,
        *,
        max_events: int = 1000,
        max_wait_ms: int = 10,
        max_insert_events: int = 40_000,
        max_concurrent_inserts: int = 2,
        gather_checks: bool = True,
        on_commit: Callable[[dict[str, int]], Awaitable[None]] | None = None,
    ) -> None:
        self.writer = writer
        # Told {tenant_id: events} after each successful insert (live dashboards listen).
        self.on_commit = on_commit
        self.max_events = max_events
        self.max_insert_events = max(max_insert_events, max_events)
        self.max_wait = max_wait_ms / 1000
        self._queue: list[_Pending] = []
        self._queued_events = 0
        self._wakeup = asyncio.Event()
        self._full = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._checked: list[_Checked] = []
        self.max_concurrent_inserts = max(1, max_concurrent_inserts)
        self._inserters: set[asyncio.Task[None]] = set()
        self._running_inserters = 0  # counted from spawn to exit, in step with the decision to exit
        self._closing = False
        # Gathering while an insert runs: the last inserts' and checks' durations (smoothed), when
        # the newest insert began, and a wake-up for an insert that ended or a queue of half an insert.
        self._insert_seconds: float | None = None
        self._check_seconds: float | None = None
        self._insert_began = 0.0
        self._gather_wakeup = asyncio.Event()
        self.gather_checks = gather_checks

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="group-commit")

    async def submit(
        self,
        accepted: list[AcceptedEvent],
        rejected: Sequence[tuple[RejectedEvent, str, str]] = (),
    ) -> int:
        """Wait until these events are in the warehouse; returns how many were new."""
        if self._closing:
            raise RuntimeError("the ingest writer is shutting down")
        if not accepted and not rejected:
            return 0
        pending = _Pending(list(accepted), list(rejected))
        self._queue.append(pending)
        self._queued_events += len(accepted) + len(rejected)
        self._wakeup.set()
        if self._queued_events >= self.max_events:
            self._full.set()
        if self._queued_events >= self.max_insert_events // 2:
            self._gather_wakeup.set()
        return await pending.done

    async def close(self) -> None:
        self._closing = True
        self._wakeup.set()
        self._full.set()
        self._gather_wakeup.set()
        if self._task is not None:
            await self._task

    async def _run(self) -> None:
        while True:
            if not self._queue:
                if self._closing:
                    while self._inserters:
                        await asyncio.gather(*self._inserters)
                    return
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            if self._queued_events < self.max_events and not self._closing:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._full.wait(), self.max_wait)
            await self._gather()
            await self._check(self._take_batch())

    def _gather_for(self) -> float:
        """Seconds to keep gathering before checking what is queued: while an insert runs that no new
        inserter would join, until the check would end about when that insert does; 0 when idle, with
        no durations measured yet (the first inserts), or with half an insert queued."""
        if (
            not self.gather_checks
            or self._closing
            or self._running_inserters == 0
            or self._insert_seconds is None
            or self._check_seconds is None
            or self._queued_events >= self.max_insert_events // 2
        ):
            return 0.0
        ends = self._insert_began + self._insert_seconds
        return ends - self._check_seconds - time.monotonic()

    async def _gather(self) -> None:
        """Once: an insert that ends early wakes it, and what gathered is checked then, even if the
        inserter went on to the next insert at once (waiting for that one too would miss it)."""
        self._gather_wakeup.clear()
        if (wait := self._gather_for()) > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._gather_wakeup.wait(), wait)

    def _take_batch(self) -> list[_Pending]:
        batch: list[_Pending] = []
        count = 0
        while self._queue and (
            not batch or count + len(self._queue[0].accepted) + len(self._queue[0].rejected) <= self.max_insert_events
        ):
            item = self._queue.pop(0)
            batch.append(item)
            count += len(item.accepted) + len(item.rejected)
        self._queued_events -= count
        if self._queued_events < self.max_events and not self._closing:
            self._full.clear()
        return batch

    async def _check(self, batch: list[_Pending]) -> None:
        accepted = [event for item in batch for event in item.accepted]
        started = time.monotonic()
        try:
            claim = await asyncio.to_thread(self.writer.claim, accepted)
        except Exception as exc:
            log.error("ingest.check_failed", error=str(exc), events=len(accepted))
            _fail(batch, exc)
            return
        self._check_seconds = _smoothed(self._check_seconds, time.monotonic() - started)
        self._checked.append(_Checked(batch, claim))
        if self._running_inserters == 0 or (
            self._running_inserters < self.max_concurrent_inserts and self._backlog_fills_an_insert()
        ):
            self._running_inserters += 1
            inserter = asyncio.create_task(self._insert_checked(), name="group-commit-insert")
            self._inserters.add(inserter)
            inserter.add_done_callback(self._inserters.discard)

    def _backlog_fills_an_insert(self) -> bool:
        """Another insert runs beside the one in flight only for a backlog of half an insert or more:
        small inserts cost the warehouse more per event than they gain by running side by side."""
        return sum(checked.size for checked in self._checked) >= self.max_insert_events // 2

    async def _insert_checked(self) -> None:
        try:
            await self._insert_while_checked()
        finally:
            self._running_inserters -= 1

    async def _insert_while_checked(self) -> None:
        while self._checked:
            if self._running_inserters > 1 and not self._backlog_fills_an_insert():
                # The other inserter takes this backlog when its insert returns: no await lies between
                # this test and the count going down, so the two can never both leave it behind.
                return
            group = [self._checked.pop(0)]
            size = group[0].size
            while self._checked and size + self._checked[0].size <= self.max_insert_events:
                size += self._checked[0].size
                group.append(self._checked.pop(0))
            batch = [item for checked in group for item in checked.batch]
            fresh = [event for checked in group for event in checked.claim.fresh]
            rejected = [entry for item in batch for entry in item.rejected]
            began = self._insert_began = time.monotonic()
            try:
                await asyncio.to_thread(self.writer.insert, fresh, rejected)
            except Exception as exc:
                log.error("ingest.batch_failed", error=str(exc), events=len(fresh))
                _fail(batch, exc)
                continue
            finally:
                self.writer.release(checked.claim for checked in group)
                self._gather_wakeup.set()  # what gathered meanwhile is checked now
            self._insert_seconds = _smoothed(self._insert_seconds, time.monotonic() - began)
            for item in batch:
                if not item.done.done():
                    item.done.set_result(len(item.accepted))
            accepted = [event for item in batch for event in item.accepted]
            if self.on_commit is not None and accepted:
                try:
                    await self.on_commit(dict(Counter(event.tenant_id for event in accepted)))
                except Exception as exc:
                    log.warning("ingest.on_commit_failed", error=str(exc))


def _smoothed(previous: float | None, latest: float) -> float:
    return latest if previous is None else 0.7 * previous + 0.3 * latest


def _fail(batch: list[_Pending], exc: Exception) -> None:
    for item in batch:
        if not item.done.done():
            item.done.set_exception(exc)


def publish_commits(bus: object) -> Callable[[dict[str, int]], Awaitable[None]]:
    """An `on_commit` that publishes `ingest.batch.committed` ({"events": n}) per tenant on the bus."""

    async def publish(counts: dict[str, int]) -> None:
        for tenant_id, events in counts.items():
            await bus.publish("ingest.batch.committed", {"events": events}, tenant_id=tenant_id)  # type: ignore[attr-defined]

    return publish
