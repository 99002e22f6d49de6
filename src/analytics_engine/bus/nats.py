"""`NatsBus`: the outgoing event bus on NATS JetStream (chosen when `ANALYTICS_BUS_URL` is set).

- `publish()` never waits for NATS: the event goes to local subscribers at once and into an outbox;
  a background sender publishes it to JetStream (stream `ANALYTICS_OUT`, subjects `analytics.>`,
  created if missing) as the envelope JSON on `analytics.<type>.<version>` with
  `Nats-Msg-Id = <event id>`, waiting for JetStream's acknowledgement. A failed publish stays in the
  outbox and is retried with backoff; a retry of an event JetStream already stored is dropped by
  the stream's duplicate window (same `Nats-Msg-Id`). The outbox is bounded (oldest dropped, logged
  and counted) so a long NATS outage cannot exhaust memory.
- `subscribe()` handlers receive events published in this process (immediately) and events that
  other processes publish to `analytics.>` (through a NATS subscription); an event is delivered once.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable
from typing import Any

import nats
import orjson
import structlog
from nats.js.api import RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import NotFoundError
from prometheus_client import Counter

from analytics_engine.bus.base import SUBJECT_PREFIX, EventBus, Handler, InProcessBus, OutgoingEvent
from analytics_engine.config import Settings

log = structlog.get_logger(__name__)
BUS_PUBLISH_FAILURES = Counter(
    "analytics_bus_publish_failures_total", "Outgoing events dropped because the NATS outbox was full.", ["type"]
)


def build_bus(settings: Settings) -> EventBus:
    """NATS JetStream when `bus_url` is set, otherwise in-process."""
    if settings.bus_url:
        return NatsBus(settings.bus_url, stream=settings.bus_stream)
    return InProcessBus()


class NatsBus:
    def __init__(
        self,
        url: str,
        *,
        stream: str = "ANALYTICS_OUT",
        max_outbox: int = 10_000,
        retry_max_seconds: float = 30.0,
        stream_max_age_hours: int = 168,
    ) -> None:
        self.url = url
        self.stream = stream
        self.max_outbox = max_outbox
        self.retry_max_seconds = retry_max_seconds
        self.stream_max_age_hours = stream_max_age_hours
        self._local = InProcessBus()
        self._outbox: deque[OutgoingEvent] = deque()
        self._own: deque[str] = deque(maxlen=50_000)
        self._own_set: set[str] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self.nc: Any = None
        self.js: Any = None
        self.last_error: str | None = None

    @property
    def published(self) -> list[OutgoingEvent]:
        return self._local.published

    @property
    def connected(self) -> bool:
        return self.nc is not None and self.nc.is_connected

    # --- EventBus ------------------------------------------------------------------------------
    async def publish(
        self, event_type: str, data: dict[str, Any], *, tenant_id: str | None, version: str = "v1"
    ) -> OutgoingEvent:
        event = OutgoingEvent(type=event_type, version=version, tenant_id=tenant_id, data=data)
        self._remember(event.id)
        self._local.deliver(event)
        if len(self._outbox) >= self.max_outbox:
            dropped = self._outbox.popleft()
            BUS_PUBLISH_FAILURES.labels(dropped.type).inc()
            log.error("bus.outbox_full", dropped=dropped.id, type=dropped.type, url=self.url)
        self._outbox.append(event)
        await self.start()
        assert self._wake is not None
        self._wake.set()
        return event

    def subscribe(self, pattern: str, handler: Handler) -> Callable[[], None]:
        return self._local.subscribe(pattern, handler)

    async def start(self) -> None:
        """Start the background connection and sender in the running loop (idempotent)."""
        loop = asyncio.get_running_loop()
        if self._task is not None and self._loop is loop and not self._task.done():
            return
        self._loop = loop
        self._closing = False
        self._wake = asyncio.Event()
        self._task = loop.create_task(self._run(), name="nats-bus")

    async def flush(self, timeout: float = 5.0) -> bool:
        """Wait until the outbox is empty (or `timeout`); True when everything was published."""
        deadline = asyncio.get_running_loop().time() + timeout
        while self._outbox and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.02)
        return not self._outbox

    async def close(self) -> None:
        if self._task is not None and self._loop is asyncio.get_running_loop():
            if self._outbox and not await self.flush(5.0):
                log.error("bus.unpublished_at_close", events=len(self._outbox), url=self.url)
            await self._stop_sender()
        self._task = None
        await self._disconnect()
        await self._local.close()

    # --- internals -----------------------------------------------------------------------------
    async def _stop_sender(self) -> None:
        """Stop the sender task, and never wait on it unbounded.

        Python 3.11's `asyncio.wait_for` can swallow a cancellation that arrives just as the awaited
        connect finishes (fixed in 3.12), and the sender would then go on retrying forever. So the
        loop also checks `_closing`, and the cancellation is repeated until the task has ended.
        """
        task = self._task
        assert task is not None and self._wake is not None
        self._closing = True
        self._wake.set()
        for _ in range(20):
            task.cancel()
            done, _pending = await asyncio.wait({task}, timeout=0.5)
            if done:
                break
        else:
            log.error("bus.sender_did_not_stop", url=self.url)
        if task.done() and not task.cancelled():
            with contextlib.suppress(Exception):
                task.result()  # retrieved so that asyncio does not log it as never retrieved

    def _remember(self, event_id: str) -> None:
        if len(self._own) == self._own.maxlen:
            self._own_set.discard(self._own[0])
        self._own.append(event_id)
        self._own_set.add(event_id)

    def _backoff(self, attempt: int) -> float:
        return min(self.retry_max_seconds, 0.5 * 2.0 ** min(attempt - 1, 16))

    async def _run(self) -> None:
        attempt = 0
        while not self._closing:
            try:
                if not self.connected:
                    await self._connect()
                attempt = 0
                await self._send_outbox()
                assert self._wake is not None
                if not self._outbox:
                    self._wake.clear()
                    await self._wake.wait()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                attempt += 1
                delay = self._backoff(attempt)
                self.last_error = f"{type(exc).__name__}: {exc or 'no answer'}"
                log.warning(
                    "bus.nats_unavailable",
                    url=self.url,
                    error=self.last_error,
                    retry_in=round(delay, 1),
                    outbox=len(self._outbox),
                )
                if not self.connected:
                    await self._disconnect()
                await asyncio.sleep(delay)

    async def _connect(self) -> None:
        await self._disconnect()
        self.nc = await nats.connect(
            servers=[u.strip() for u in self.url.split(",") if u.strip()],
            connect_timeout=2,
            allow_reconnect=False,  # reconnects are ours, with backoff (see _run)
            max_reconnect_attempts=1,
            reconnect_time_wait=0.1,
            closed_cb=self._on_closed,
            name="analytics-engine bus",
        )
        self.js = self.nc.jetstream(timeout=5)
        await self._ensure_stream()
        await self.nc.subscribe(f"{SUBJECT_PREFIX}.>", cb=self._on_message)
        log.info("bus.connected", url=self.url, stream=self.stream)

    async def _ensure_stream(self) -> None:
        try:
            await self.js.stream_info(self.stream)
        except NotFoundError:
            try:
                await self.js.add_stream(
                    StreamConfig(
                        name=self.stream,
                        subjects=[f"{SUBJECT_PREFIX}.>"],
                        retention=RetentionPolicy.LIMITS,
                        storage=StorageType.FILE,
                        max_age=self.stream_max_age_hours * 3600,
                        duplicate_window=120,
                    )
                )
            except Exception as exc:  # e.g. another stream already captures analytics.>
                log.warning("bus.stream_not_created", stream=self.stream, error=str(exc))

    async def _send_outbox(self) -> None:
        while self._outbox:
            event = self._outbox[0]
            payload = orjson.dumps(event.model_dump(mode="json"))
            await self.js.publish(event.subject, payload, headers={"Nats-Msg-Id": event.id})
            if self._outbox and self._outbox[0] is event:
                self._outbox.popleft()

    async def _on_closed(self) -> None:
        if self._wake is not None:
            self._wake.set()  # the sender loop notices and reconnects (with backoff)

    async def _on_message(self, msg: Any) -> None:
        try:
            event = OutgoingEvent.model_validate_json(msg.data)
        except Exception as exc:
            log.warning("bus.bad_message", subject=msg.subject, error=str(exc))
            return
        if event.id in self._own_set:
            return  # published here; local subscribers already have it
        self._local.deliver(event)

    async def _disconnect(self) -> None:
        nc, self.nc, self.js = self.nc, None, None
        if nc is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(nc.close(), 5)
