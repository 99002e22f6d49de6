"""The firehose consumer: a JetStream durable pull consumer feeding the warehouse.

Loop: pull messages until a batch holds `batch_max_events` events or its first message waited
`batch_max_seconds`; validate (one path with HTTP); insert through `EventWriter` (duplicate check on
event ids) in a worker thread; only then acknowledge the messages (and terminate the refused ones,
whose rejection rows were written by the same insert), record the checkpoint and publish
`ingest.batch.committed`. Pulling and validating go on while an insert runs; batches closed
meanwhile join the next insert (up to `max_insert_events`), like HTTP group commit. Inserts run one
at a time, which keeps the duplicate check exact.

Failure handling:
- NATS unreachable (at start or later): logged with the URL, retried with exponential backoff up to
  `retry_max_seconds`; the process does not exit.
- Insert failed: every message of the batch is nak'ed with a delay that grows with consecutive
  failures; nothing is acknowledged, nothing is lost.
- Worker killed: unacknowledged messages come back after `ack_wait_seconds`; their event ids are
  the same (client ids, or derived from Nats-Msg-Id / stream sequence), so they count once.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import nats
import orjson
import structlog
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import NotFoundError

from analytics_engine.config import Settings
from analytics_engine.ingest.validation import Limits
from analytics_engine.ingest.writer import EventWriter
from analytics_engine.observability import metrics as core_metrics
from analytics_engine.streaming import metrics
from analytics_engine.streaming.checkpoints import CheckpointStore
from analytics_engine.streaming.messages import Incoming, PreparedBatch, prepare
from analytics_engine.streaming.tenants import TenantDirectory

log = structlog.get_logger(__name__)

LAG_INTERVAL_SECONDS = 5.0
# Most bytes one pull request may bring: well under the server's per-client pending limit (64 MiB
# by default), past which NATS closes the connection as a slow consumer and redelivers everything.
PULL_MAX_BYTES = 16 * 1024 * 1024
Publish = Callable[[str, dict[str, Any], str | None], Awaitable[Any]]


@dataclass(frozen=True)
class ConsumerSettings:
    url: str = "nats://127.0.0.1:4222"
    stream: str = "EVENTS"
    subjects: tuple[str, ...] = ("events.>",)
    durable: str = "analytics-ingest"
    batch_max_events: int = 1000
    batch_max_seconds: float = 10.0
    ack_wait_seconds: float = 60.0
    retry_max_seconds: float = 30.0
    stream_max_age_hours: int = 168
    tenant_cache_seconds: float = 30.0
    max_insert_events: int = 20_000

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> ConsumerSettings:
        values: dict[str, Any] = {
            "url": settings.nats_url,
            "stream": settings.nats_stream,
            "subjects": tuple(s.strip() for s in settings.nats_subjects.split(",") if s.strip()),
            "durable": settings.nats_consumer,
            "batch_max_events": settings.nats_batch_max_events,
            "batch_max_seconds": settings.nats_batch_max_seconds,
            "ack_wait_seconds": settings.nats_ack_wait_seconds,
            "retry_max_seconds": settings.nats_retry_max_seconds,
            "stream_max_age_hours": settings.nats_stream_max_age_hours,
            "tenant_cache_seconds": settings.nats_tenant_cache_seconds,
            "max_insert_events": settings.ingest_max_insert_events,
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    @property
    def servers(self) -> list[str]:
        return [u.strip() for u in self.url.split(",") if u.strip()]


@dataclass
class ConsumerStatus:
    """Live state of this process's consumer, for the status route and the CLI."""

    state: str = "starting"  # starting, connecting, waiting_for_nats, consuming, stopped
    connect_attempts: int = 0
    last_error: str | None = None
    events_committed: int = 0
    rejected: int = 0
    batches: int = 0
    acked_seq: int = 0
    recent: deque[tuple[float, int]] = field(default_factory=deque)

    def throughput(self, window: float = 60.0) -> float:
        now = time.monotonic()
        while self.recent and self.recent[0][0] < now - window:
            self.recent.popleft()
        if not self.recent:
            return 0.0
        span = max(now - self.recent[0][0], 1.0)
        return sum(count for _, count in self.recent) / span


class NatsIngestConsumer:
    def __init__(
        self,
        config: ConsumerSettings,
        *,
        writer: EventWriter,
        limits: Limits,
        checkpoints: CheckpointStore,
        tenants: TenantDirectory,
        publish: Publish | None = None,
    ) -> None:
        self.config = config
        self.writer = writer
        self.limits = limits
        self.checkpoints = checkpoints
        self.tenants = tenants
        self.publish = publish
        self.status = ConsumerStatus()
        self.nc: Any = None
        self.js: Any = None
        self.stream_key = config.stream
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._inflight: asyncio.Task[None] | None = None
        self._queue: list[tuple[list[Any], PreparedBatch]] = []
        self._queued = 0
        self._failures = 0
        self._loop_failures = 0
        self._labels = (config.stream, config.durable)
        # Events per message seen so far (kept across batches): a pull asks for the messages that
        # fill the batch, not for `batch_max_events` messages (which at 100 events a message was a
        # hundred batches' worth, buffered in this process; issue 26's soak).
        self._per_message: float | None = None  # unknown until the first messages: a first pull asks for one

    # --- lifecycle ---------------------------------------------------------------------------
    def start(self) -> None:
        self._task = asyncio.create_task(self.run(), name="nats-ingest")

    async def stop(self) -> None:
        """Finish the batch in hand (insert, then acknowledge) and close the connection."""
        self._stopping.set()
        if self._task is not None:
            await self._task

    async def run(self, *, until_idle: bool = False) -> None:
        """Consume until `stop()`; with `until_idle`, return once the consumer has nothing pending
        and nothing awaiting acknowledgement."""
        try:
            while not self._stopping.is_set():
                if not await self._connect():
                    return
                try:
                    finished = await self._consume(until_idle)
                    if finished:
                        return
                except Exception as exc:  # a lost connection or a JetStream API error: start over
                    if self._stopping.is_set():
                        return
                    self._loop_failures += 1
                    delay = self._backoff(self._loop_failures)
                    await self._note_error(f"consumer loop: {type(exc).__name__}: {exc}; reconnecting in {delay:.1f}s")
                    await self._sleep(delay)
                finally:
                    await self._close_connection()
        finally:
            with contextlib.suppress(Exception):
                await self._wait_inflight()
            self.status.state = "stopped"
            metrics.CONNECTED.labels(*self._labels).set(0)

    # --- connection --------------------------------------------------------------------------
    def _backoff(self, attempt: int) -> float:
        return min(self.config.retry_max_seconds, 0.5 * 2.0 ** min(attempt - 1, 16))

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    async def _connect(self) -> bool:
        attempt = 0
        while not self._stopping.is_set():
            attempt += 1
            self.status.connect_attempts += 1
            self.status.state = "connecting"
            try:
                self.nc = await nats.connect(
                    servers=self.config.servers,
                    connect_timeout=2,
                    # Reconnects are ours (backoff, state, logs): nats-py's own loop would retry
                    # a first connect forever inside connect().
                    allow_reconnect=False,
                    max_reconnect_attempts=1,
                    reconnect_time_wait=0.1,
                    error_cb=self._on_nats_error,
                    name=f"analytics-engine ingest {self.config.durable}",
                )
                self.js = self.nc.jetstream(timeout=10)
                await self._ensure_stream_and_consumer()
                metrics.CONNECTED.labels(*self._labels).set(1)
                self.status.state = "consuming"
                log.info(
                    "nats.consumer_ready",
                    url=self.config.url,
                    stream=self.config.stream,
                    consumer=self.config.durable,
                    subjects=list(self.config.subjects),
                )
                return True
            except Exception as exc:
                await self._close_connection()
                delay = self._backoff(attempt)
                self.status.state = "waiting_for_nats"
                message = (
                    f"NATS is not reachable at {self.config.url} ({type(exc).__name__}: {exc or 'no answer'}); "
                    f"retrying in {delay:.1f}s (attempt {attempt})"
                )
                await self._note_error(message, level="warning")
                await self._sleep(delay)
        return False

    async def _on_nats_error(self, exc: Exception) -> None:
        log.debug("nats.client_error", error=str(exc))

    async def _close_connection(self) -> None:
        nc, self.nc, self.js = self.nc, None, None
        metrics.CONNECTED.labels(*self._labels).set(0)
        if nc is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(nc.close(), 5)

    async def _ensure_stream_and_consumer(self) -> None:
        config = self.config
        try:
            info = await self.js.stream_info(config.stream)
        except NotFoundError:
            info = await self.js.add_stream(
                StreamConfig(
                    name=config.stream,
                    subjects=list(config.subjects),
                    retention=RetentionPolicy.LIMITS,
                    storage=StorageType.FILE,
                    max_age=config.stream_max_age_hours * 3600,
                    duplicate_window=120,
                )
            )
            log.info("nats.stream_created", stream=config.stream, subjects=list(config.subjects))
        created = info.created or ""
        self.stream_key = f"{config.stream}/{created}"
        consumer_config = ConsumerConfig(
            durable_name=config.durable,
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            ack_wait=config.ack_wait_seconds,
            max_deliver=-1,  # a failed insert retries until it succeeds; poison is terminated
            # room for the batches queued behind a running insert, and the next one being pulled
            max_ack_pending=max(20_000, 2 * config.max_insert_events + 2 * config.batch_max_events),
            filter_subject=config.subjects[0] if len(config.subjects) == 1 else None,
        )
        try:
            await self.js.consumer_info(config.stream, config.durable)
        except NotFoundError:
            await self.js.add_consumer(config.stream, consumer_config)
        else:
            with contextlib.suppress(Exception):  # settings may have changed: update what may change
                await self.js.add_consumer(config.stream, consumer_config)
        await asyncio.to_thread(self.checkpoints.register, config.stream, config.durable, ",".join(config.subjects))

    # --- consuming ---------------------------------------------------------------------------
    async def _consume(self, until_idle: bool) -> bool:
        puller = Puller(self.nc, self.config.stream, self.config.durable)
        await puller.start()
        lag_checked = 0.0
        try:
            while not self._stopping.is_set():
                chunks, events = await self._collect(puller)
                if chunks:
                    await self._submit(chunks, events)
                elif self._queue:
                    await self._flush_queue()
                elif until_idle and await self._idle():
                    return True
                if time.monotonic() - lag_checked > LAG_INTERVAL_SECONDS:
                    lag_checked = time.monotonic()
                    metrics.THROUGHPUT.labels(*self._labels).set(self.status.throughput())
                    with contextlib.suppress(Exception):
                        await self._update_lag(await self.js.consumer_info(self.config.stream, self.config.durable))
            return True
        finally:
            try:
                if self._queue and self.nc is not None and self.nc.is_connected:
                    await self._flush_queue()  # a stop: insert and acknowledge what is in hand
                await self._wait_inflight()  # acknowledgements need this connection
            finally:
                self._queue.clear()  # unacknowledged: JetStream redelivers them
                await puller.stop()

    async def _wait_inflight(self) -> None:
        """Wait for the batch being inserted; its error (a lost connection while acknowledging)
        is raised here once."""
        task, self._inflight = self._inflight, None
        if task is not None:
            await task

    async def _idle(self) -> bool:
        await self._wait_inflight()
        info = await self.js.consumer_info(self.config.stream, self.config.durable)
        await self._update_lag(info)
        drained: bool = info.num_pending == 0 and info.num_ack_pending == 0
        return drained

    async def _collect(self, puller: Puller) -> tuple[list[tuple[list[Any], PreparedBatch]], int]:
        """Pull and validate until the batch holds `batch_max_events` events or its first message
        waited `batch_max_seconds` (or a stop was asked); returns the validated chunks and their event
        count. A message is never split: one carrying many events may take a batch past the limit.
        Each pull request lingers at most a second, so a stop is noticed quickly."""
        config = self.config
        chunks: list[tuple[list[Any], PreparedBatch]] = []
        events = 0
        first_at: float | None = None
        while events < config.batch_max_events and not self._stopping.is_set():
            if self._queue and (self._inflight is None or self._inflight.done()):
                await self._flush_queue()  # batches queued behind the insert that just finished
            if first_at is None:
                expires = 1.0
            else:
                expires = min(first_at + config.batch_max_seconds - time.monotonic(), 1.0)
                if expires <= 0.001:
                    break
            per_message = self._per_message
            want = 1 if per_message is None else max(1, int((config.batch_max_events - events) / per_message))
            got = await puller.pull(want, max(expires, 0.05))
            if not got:
                if first_at is None:
                    break
                continue
            if first_at is None:
                first_at = time.monotonic()
            prepared = self._prepare(got)
            size = len(prepared.accepted) + prepared.rejected_count
            chunks.append((got, prepared))
            events += size
            self._per_message = max(1.0, size / len(got))
        return chunks, events

    def _prepare(self, messages: list[Any]) -> PreparedBatch:
        items = [Incoming(m.data, _stream_seq(m), (m.headers or {}).get("Nats-Msg-Id")) for m in messages]
        return prepare(items, stream_key=self.stream_key, limits=self.limits, known_tenants=self.tenants.known)

    async def _submit(self, chunks: list[tuple[list[Any], PreparedBatch]], events: int) -> None:
        """Queue a closed batch. While an insert runs, closed batches queue up (pulling goes on) and
        join the next insert together, up to `max_insert_events`: under load inserts grow, which is
        what keeps the warehouse fast (as HTTP group commit does)."""
        self._queue.extend(chunks)
        self._queued += events
        running = self._inflight is not None and not self._inflight.done()
        if running and self._queued + self.config.batch_max_events <= self.config.max_insert_events:
            return
        await self._flush_queue()

    async def _flush_queue(self) -> None:
        await self._wait_inflight()
        parts, self._queue, self._queued = self._queue, [], 0
        if parts:
            self._inflight = asyncio.create_task(self._commit(*merge_batches(parts)))

    async def _commit(self, messages: list[Any], prepared: PreparedBatch) -> None:
        labels = self._labels
        try:
            written = await asyncio.to_thread(self.writer.write, prepared.accepted, prepared.rejected)
        except Exception as exc:
            self._failures += 1
            delay = self._backoff(self._failures)
            metrics.INSERT_FAILURES.labels(*labels).inc()
            await self._note_error(
                f"insert of {len(prepared.accepted)} events failed ({exc}); {len(messages)} messages nak'ed, "
                f"redelivered in {delay:.1f}s"
            )
            for message in messages:
                with contextlib.suppress(Exception):
                    await message.nak(delay=delay)
            await self._sleep(delay)
            return
        self._failures = 0
        self._loop_failures = 0
        for index in prepared.acknowledge:
            await messages[index].ack()
        for index in prepared.terminate:
            await messages[index].term()
        with contextlib.suppress(Exception):
            await self.nc.flush(timeout=5)
        status = self.status
        status.events_committed += written
        status.rejected += prepared.rejected_count
        status.batches += 1
        status.acked_seq = max(status.acked_seq, prepared.max_seq)
        status.recent.append((time.monotonic(), len(prepared.accepted)))
        throughput = status.throughput()
        core_metrics.EVENTS_ACCEPTED.labels("nats").inc(len(prepared.accepted))
        if prepared.rejected:
            core_metrics.EVENTS_REJECTED.labels("nats").inc(prepared.rejected_count)
        metrics.BATCHES.labels(*labels).inc()
        metrics.ACKED_SEQUENCE.labels(*labels).set(status.acked_seq)
        metrics.THROUGHPUT.labels(*labels).set(throughput)
        try:
            await asyncio.to_thread(
                self.checkpoints.record_batch,
                self.config.stream,
                self.config.durable,
                acked_seq=prepared.max_seq,
                events=written,
                rejected=prepared.rejected_count,
                throughput=throughput,
            )
        except Exception as exc:  # the data is safe; only the bookkeeping lags
            log.warning("nats.checkpoint_failed", error=str(exc))
        await self._announce(prepared, written)

    async def _announce(self, prepared: PreparedBatch, written: int) -> None:
        if self.publish is None:
            return
        for tenant_id, (accepted, rejected) in prepared.per_tenant.items():
            data = {
                "source": "nats",
                "stream": self.config.stream,
                "consumer": self.config.durable,
                "events": accepted,
                "rejected": rejected,
                "batch_events": len(prepared.accepted),
                "batch_inserted": written,
                "last_sequence": prepared.max_seq,
            }
            try:
                await self.publish("ingest.batch.committed", data, tenant_id)
            except Exception as exc:
                log.warning("bus.publish_failed", type="ingest.batch.committed", error=str(exc))

    async def _update_lag(self, info: Any) -> None:
        with contextlib.suppress(Exception):
            stream = await self.js.stream_info(self.config.stream)
            metrics.LAG.labels(*self._labels).set(max(0, stream.state.last_seq - info.ack_floor.stream_seq))

    async def _note_error(self, message: str, *, level: str = "error") -> None:
        self.status.last_error = message
        getattr(log, level)("nats.ingest_error", stream=self.config.stream, consumer=self.config.durable, error=message)
        with contextlib.suppress(Exception):
            await asyncio.to_thread(self.checkpoints.record_error, self.config.stream, self.config.durable, message)


def merge_batches(parts: list[tuple[list[Any], PreparedBatch]]) -> tuple[list[Any], PreparedBatch]:
    """Several validated batches as one insert (message indexes shifted into the joined list)."""
    if len(parts) == 1:
        return parts[0]
    messages: list[Any] = []
    merged = PreparedBatch()
    for part_messages, part in parts:
        offset = len(messages)
        messages.extend(part_messages)
        merged.accepted.extend(part.accepted)
        merged.rejected.extend(part.rejected)
        merged.acknowledge.extend(offset + index for index in part.acknowledge)
        merged.terminate.extend(offset + index for index in part.terminate)
        for tenant_id, (accepted, rejected) in part.per_tenant.items():
            merged.per_tenant[tenant_id][0] += accepted
            merged.per_tenant[tenant_id][1] += rejected
        merged.max_seq = max(merged.max_seq, part.max_seq)
    return messages, merged


class Puller:
    """Pull requests on a durable consumer, answered into one inbox whose callback only appends.

    nats-py's `PullSubscription.fetch` awaits each message through `next_msg` (a task and a timer
    per message): most of the consumer's CPU at a few thousand messages per second. Here one pull
    request asks for the whole remaining batch and lingers up to `expires`; the server answers with
    messages, then (unless the batch was filled) a 408 status when it expires.

    At most one request is open at a time, and it carries `max_bytes`: what the server may send
    ahead of the consumer is bounded by one request (before, each call could open another while
    earlier ones still delivered, and under load the buffer here and the server's pending bytes for
    this connection grew until NATS closed it as a slow consumer)."""

    def __init__(
        self, nc: Any, stream: str, durable: str, api_prefix: str = "$JS.API", max_bytes: int = PULL_MAX_BYTES
    ) -> None:
        self.nc = nc
        self.max_bytes = max_bytes
        self.subject = f"{api_prefix}.CONSUMER.MSG.NEXT.{stream}.{durable}"
        self.inbox = nc.new_inbox()
        self.buffer: list[Any] = []
        self.want = 0
        self.done = asyncio.Event()
        self.sub: Any = None
        self.problem: str | None = None
        self.open = 0  # messages the open request may still deliver (0: none open)
        self.open_until = 0.0  # past this (its expiry and a margin) the open request counts as ended
        self.requests = 0

    async def start(self) -> None:
        self.sub = await self.nc.subscribe(self.inbox, cb=self._on_message)

    async def stop(self) -> None:
        if self.sub is not None:
            with contextlib.suppress(Exception):
                await self.sub.unsubscribe()

    async def _on_message(self, msg: Any) -> None:
        status = msg.headers.get("Status") if msg.headers else None
        if status is None:
            self.buffer.append(msg)
            if self.open > 0:
                self.open -= 1
            if len(self.buffer) >= self.want or self.open == 0:
                self.done.set()
        elif status != "100":  # 404 no messages, 408 request expired, 409 consumer gone / limits
            self.open = 0
            if status == "409" and "Deleted" in (msg.headers.get("Description") or ""):
                self.problem = f"{status} {msg.headers.get('Description')}"
            self.done.set()

    async def pull(self, batch: int, expires: float) -> list[Any]:
        if self.problem:
            raise RuntimeError(f"JetStream pull failed: {self.problem}")
        if len(self.buffer) < batch:
            self.want = batch
            self.done.clear()
            if self.open and time.monotonic() > self.open_until:
                self.open = 0  # its end status never came (it cannot be answered any more)
            if not self.open:
                self.open = batch - len(self.buffer)
                self.open_until = time.monotonic() + expires + 2.0
                self.requests += 1
                request = orjson.dumps({"batch": self.open, "expires": int(expires * 1e9), "max_bytes": self.max_bytes})
                await self.nc.publish(self.subject, request, reply=self.inbox)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.done.wait(), expires + 1.0)
        taken, self.buffer = self.buffer[:batch], self.buffer[batch:]
        return taken


def _stream_seq(message: Any) -> int:
    """The stream sequence from the ack subject `$JS.ACK.[domain.hash.]stream.consumer.delivered.sseq...`."""
    tokens = message.reply.split(".")
    return int(tokens[5] if len(tokens) < 12 else tokens[7])
