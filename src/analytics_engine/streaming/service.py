"""Building the consumer from a runtime, running it inside `serve`, and the status view
(checkpoints from the metadata database joined with live figures from JetStream)."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime, timedelta
from typing import Any

import nats
import structlog
from nats.js.errors import NotFoundError
from pydantic import BaseModel, Field

from analytics_engine.metadata.db import MetadataDB
from analytics_engine.metadata.models import utcnow
from analytics_engine.runtime import Runtime
from analytics_engine.streaming import metrics
from analytics_engine.streaming.checkpoints import CheckpointStore
from analytics_engine.streaming.consumer import ConsumerSettings, NatsIngestConsumer
from analytics_engine.streaming.tenants import TenantDirectory

log = structlog.get_logger(__name__)
THROUGHPUT_WINDOW_SECONDS = 60


def build_consumer(runtime: Runtime, **overrides: Any) -> NatsIngestConsumer:
    config = ConsumerSettings.from_settings(runtime.settings, **overrides)

    async def publish(event_type: str, data: dict[str, Any], tenant_id: str | None) -> Any:
        return await runtime.bus.publish(event_type, data, tenant_id=tenant_id)

    return NatsIngestConsumer(
        config,
        writer=runtime.writer,
        limits=runtime.limits,
        checkpoints=CheckpointStore(runtime.metadata),
        tenants=TenantDirectory(runtime.metadata, runtime.settings.nats_tenant_cache_seconds),
        publish=publish,
    )


# --- inside `serve` (ANALYTICS_NATS_INGEST=true) ------------------------------------------------
async def start_streaming(runtime: Runtime) -> None:
    """Serve start-up hook: connect the NATS bus (when configured) so events other processes publish
    reach subscribers here, and start the firehose consumer when `ANALYTICS_NATS_INGEST=true`."""
    start_bus = getattr(runtime.bus, "start", None)
    if start_bus is not None:
        await start_bus()
    if not runtime.settings.nats_ingest:
        return
    consumer = build_consumer(runtime)
    consumer.start()  # connects (with retries) in the background: serve starts even if NATS is down
    runtime.ingest_consumer = consumer


async def stop_streaming(runtime: Runtime) -> None:
    consumer, runtime.ingest_consumer = runtime.ingest_consumer, None
    if consumer is not None:
        await consumer.stop()


# --- status ---------------------------------------------------------------------------------------
class ConsumerState(BaseModel):
    stream: str
    consumer: str
    subjects: str
    acked_seq: int = Field(description="Highest stream sequence acknowledged after a durable insert (checkpoint).")
    ack_floor: int | None = Field(None, description="JetStream's ack floor: every message up to it is acknowledged.")
    stream_last_seq: int | None = Field(None, description="Last sequence in the stream.")
    lag: int | None = Field(None, description="stream_last_seq - ack_floor; null when NATS cannot be asked.")
    num_pending: int | None = Field(None, description="Messages not yet delivered to the consumer.")
    num_ack_pending: int | None = Field(None, description="Delivered, not yet acknowledged.")
    num_redelivered: int | None = None
    throughput: float = Field(description="Events committed per second over the last minute (checkpoint).")
    events_total: int
    rejected_total: int
    batches_total: int
    last_batch_at: datetime | None
    last_error: str | None
    last_error_at: datetime | None
    updated_at: datetime
    running_here: bool = Field(False, description="This serve process runs the consumer.")
    state: str | None = Field(None, description="Live state when running here: consuming, waiting_for_nats...")


class IdFilterReport(BaseModel):
    """The client ids the writer knows in memory, so the duplicate check asks `event_ids` only about
    ids that may be there."""

    loaded: bool = Field(description="Loaded from event_ids (at the first check after start-up).")
    complete: bool = Field(description="Covers the whole 7-day window (false: every id is looked up in the table).")
    ids: int
    blocks: int
    bytes: int = Field(description="Memory of its blocks.")
    bytes_per_id: float | None
    max_ids: int = Field(description="ANALYTICS_INGEST_ID_FILTER_MAX_IDS.")
    load_seconds: float | None
    ids_checked: int = Field(description="Client ids checked since start-up.")
    ids_looked_up: int = Field(description="Of those, the ids looked up in event_ids (the filter may hold them).")


class DerivedTablesStatus(BaseModel):
    """How far the tables derived from `events` may be behind it (docs/ingest.md)."""

    fed_by: str = Field(
        "materialized views, in the same insert statement as events",
        description="How derived tables (event ids, rollups, persons, pre-aggregations) are fed.",
    )
    lag_window: str = Field(
        "the insert in flight; after a crash, until the journal is replayed at the next start",
        description="When a derived table may lack events that `events` already holds.",
    )
    journal_batches: int = Field(description="Batches in this machine's ingest journal (in flight or left by a crash).")
    oldest_batch_seconds: float | None = Field(description="Age of the oldest of them.")
    replayed_batches: int = Field(description="Batches this process replayed from the journal since it started.")
    id_filter: IdFilterReport | None = Field(
        None, description="The duplicate check's in-process id filter (embedded warehouse only; docs/ingest.md)."
    )


class IngestStatus(BaseModel):
    nats_url: str
    nats_reachable: bool
    nats_error: str | None = None
    consumers: list[ConsumerState]
    derived_tables: DerivedTablesStatus | None = Field(
        None, description="Derived tables' lag behind events, from the process answering (null in the CLI)."
    )


async def ingest_status(metadata: MetadataDB, nats_url: str, live: NatsIngestConsumer | None = None) -> IngestStatus:
    """Every checkpoint row, with live JetStream figures when NATS answers. `live` is a consumer
    running in this process (its connection is reused)."""
    checkpoints = await asyncio.to_thread(CheckpointStore(metadata).list)
    url = live.config.url if live else nats_url
    nc, own, error = None, False, None
    if live is not None and live.nc is not None and live.nc.is_connected:
        nc = live.nc
    else:
        try:
            nc = await nats.connect(
                servers=[u.strip() for u in url.split(",") if u.strip()],
                connect_timeout=2,
                allow_reconnect=False,
                max_reconnect_attempts=1,
                reconnect_time_wait=0.1,
            )
            own = True
        except Exception as exc:
            error = f"NATS is not reachable at {url}: {type(exc).__name__}: {exc or 'no answer'}"
    consumers: list[ConsumerState] = []
    try:
        js = nc.jetstream(timeout=3) if nc else None
        for checkpoint in checkpoints:
            state = ConsumerState(**checkpoint.model_dump())
            last = checkpoint.last_batch_at
            if last is not None and last.tzinfo is None:
                last = last.replace(tzinfo=UTC)  # SQLite returns naive datetimes
            if last is None or utcnow() - last > timedelta(seconds=THROUGHPUT_WINDOW_SECONDS):
                state.throughput = 0.0  # nothing committed within the window
            if live and (live.config.stream, live.config.durable) == (checkpoint.stream, checkpoint.consumer):
                state.running_here = True
                state.state = live.status.state
            if js is not None:
                with contextlib.suppress(NotFoundError, TimeoutError, nats.errors.Error):
                    info = await js.consumer_info(checkpoint.stream, checkpoint.consumer)
                    stream = await js.stream_info(checkpoint.stream)
                    state.ack_floor = info.ack_floor.stream_seq
                    state.stream_last_seq = stream.state.last_seq
                    state.lag = max(0, stream.state.last_seq - info.ack_floor.stream_seq)
                    state.num_pending = info.num_pending
                    state.num_ack_pending = info.num_ack_pending
                    state.num_redelivered = info.num_redelivered
                    metrics.LAG.labels(checkpoint.stream, checkpoint.consumer).set(state.lag)
            consumers.append(state)
    finally:
        if own and nc is not None:
            with contextlib.suppress(Exception):
                await nc.close()
    return IngestStatus(nats_url=url, nats_reachable=nc is not None, nats_error=error, consumers=consumers)
