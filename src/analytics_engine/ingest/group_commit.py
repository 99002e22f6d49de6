"""Group commit: concurrent requests share warehouse inserts.

A request hands its validated events over and waits; a single flusher closes a batch when it holds
`max_events` or its oldest request waited `max_wait_ms`, writes it in a worker thread, then wakes
every request in it with the outcome. Requests that queued up while an insert was running join the
next insert together (up to `max_insert_events`): under load inserts grow, which is what makes the
warehouse fast (measured in docs/ingest.md), while a lone request still waits at most `max_wait_ms`.
The 2xx leaves only after the insert returned, and `close()` flushes what is pending, so an
acknowledged event is never lost. One insert at a time keeps the duplicate check exact.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import structlog

from analytics_engine.ingest.validation import AcceptedEvent, RejectedEvent
from analytics_engine.ingest.writer import EventWriter

log = structlog.get_logger(__name__)


@dataclass
class _Pending:
    accepted: list[AcceptedEvent]
    rejected: list[tuple[RejectedEvent, str, str]]
    done: asyncio.Future[int] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class GroupCommitter:
    def __init__(
        self,
        writer: EventWriter,
        *,
        max_events: int = 1000,
        max_wait_ms: int = 10,
        max_insert_events: int = 20_000,
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
        self._closing = False

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="group-commit")

    async def submit(
        self,
        accepted: list[AcceptedEvent],
        rejected: list[tuple[RejectedEvent, str, str]] = (),  # type: ignore[assignment]
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
        return await pending.done

    async def close(self) -> None:
        self._closing = True
        self._wakeup.set()
        self._full.set()
        if self._task is not None:
            await self._task

    async def _run(self) -> None:
        while True:
            if not self._queue:
                if self._closing:
                    return
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            if self._queued_events < self.max_events and not self._closing:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._full.wait(), self.max_wait)
            await self._flush(self._take_batch())

    def _take_batch(self) -> list[_Pending]:
        batch: list[_Pending] = []
        count = 0
        while self._queue and (
            not batch
            or count + len(self._queue[0].accepted) + len(self._queue[0].rejected) <= self.max_insert_events
        ):
            item = self._queue.pop(0)
            batch.append(item)
            count += len(item.accepted) + len(item.rejected)
        self._queued_events -= count
        if self._queued_events < self.max_events and not self._closing:
            self._full.clear()
        return batch

    async def _flush(self, batch: list[_Pending]) -> None:
        accepted = [event for item in batch for event in item.accepted]
        rejected = [entry for item in batch for entry in item.rejected]
        try:
            await asyncio.to_thread(self.writer.write, accepted, rejected)
        except Exception as exc:
            log.error("ingest.batch_failed", error=str(exc), events=len(accepted))
            for item in batch:
                if not item.done.done():
                    item.done.set_exception(exc)
            return
        for item in batch:
            if not item.done.done():
                item.done.set_result(len(item.accepted))
        if self.on_commit is not None and accepted:
            try:
                await self.on_commit(dict(Counter(event.tenant_id for event in accepted)))
            except Exception as exc:
                log.warning("ingest.on_commit_failed", error=str(exc))


def publish_commits(bus: object) -> Callable[[dict[str, int]], Awaitable[None]]:
    """An `on_commit` that publishes `ingest.batch.committed` ({"events": n}) per tenant on the bus."""

    async def publish(counts: dict[str, int]) -> None:
        for tenant_id, events in counts.items():
            await bus.publish("ingest.batch.committed", {"events": events}, tenant_id=tenant_id)  # type: ignore[attr-defined]

    return publish
