"""`EventBus`: what the service tells the rest of the platform (`export.completed`,
`cohort.evaluated`, `analytics.alert.triggered`, ...). Every event shares one envelope; the subject
carries the version: type `export.completed`, version `v1` -> `analytics.export.completed.v1`."""

from __future__ import annotations

import asyncio
import fnmatch
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, Protocol

import structlog
from pydantic import BaseModel, Field

log = structlog.get_logger(__name__)
SUBJECT_PREFIX = "analytics"


class OutgoingEvent(BaseModel):
    type: str = Field(description="What happened, e.g. `export.completed`.")
    version: str = Field("v1", description="Schema version of `data`.")
    id: str = Field(default_factory=lambda: str(uuid.uuid4()), description="Unique id (dedup key).")
    tenant_id: str | None = Field(None, description="The tenant concerned; null for platform events.")
    time: datetime = Field(default_factory=lambda: datetime.now(UTC))
    data: dict[str, Any] = Field(default_factory=dict)

    @property
    def subject(self) -> str:
        return subject_for(self.type, self.version)


def subject_for(event_type: str, version: str = "v1") -> str:
    name = event_type if event_type.startswith(f"{SUBJECT_PREFIX}.") else f"{SUBJECT_PREFIX}.{event_type}"
    return f"{name}.{version}"


Handler = Callable[[OutgoingEvent], Awaitable[None]]


class EventBus(Protocol):
    async def publish(
        self, event_type: str, data: dict[str, Any], *, tenant_id: str | None, version: str = "v1"
    ) -> OutgoingEvent: ...

    def subscribe(self, pattern: str, handler: Handler) -> Callable[[], None]:
        """Call `handler` for each event whose type matches `pattern` (fnmatch, e.g. `export.*`);
        returns a function that unsubscribes."""
        ...

    async def close(self) -> None: ...


class InProcessBus:
    """Delivers to subscribers in this process; a slow or failing subscriber never blocks publish."""

    def __init__(self) -> None:
        self._subscribers: list[tuple[str, Handler]] = []
        self.published: list[OutgoingEvent] = []  # recent history, for /admin views and tests
        self._tasks: set[asyncio.Task[None]] = set()

    async def publish(
        self, event_type: str, data: dict[str, Any], *, tenant_id: str | None, version: str = "v1"
    ) -> OutgoingEvent:
        event = OutgoingEvent(type=event_type, version=version, tenant_id=tenant_id, data=data)
        self.deliver(event)
        return event

    def deliver(self, event: OutgoingEvent) -> None:
        self.published.append(event)
        del self.published[:-1000]
        for pattern, handler in list(self._subscribers):
            if fnmatch.fnmatchcase(event.type, pattern):
                task = asyncio.get_running_loop().create_task(self._call(handler, event))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    @staticmethod
    async def _call(handler: Handler, event: OutgoingEvent) -> None:
        try:
            await handler(event)
        except Exception as exc:
            log.warning("bus.subscriber_failed", type=event.type, error=str(exc))

    def subscribe(self, pattern: str, handler: Handler) -> Callable[[], None]:
        entry = (pattern, handler)
        self._subscribers.append(entry)
        return lambda: self._subscribers.remove(entry) if entry in self._subscribers else None

    async def close(self) -> None:
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
