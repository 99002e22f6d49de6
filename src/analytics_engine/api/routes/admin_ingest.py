"""`GET /v1/admin/ingest/status`: the NATS consumers' checkpoints, lag, throughput and last error,
and how far the tables derived from events may lag them."""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter

from analytics_engine.api.deps import AdminDep, RuntimeDep
from analytics_engine.streaming.service import DerivedTablesStatus, IdFilterReport, IngestStatus, ingest_status

router = APIRouter(prefix="/v1/admin/ingest", tags=["admin: ingest"])


@router.get("/status", response_model=IngestStatus, summary="Streaming consumers: checkpoint, lag, throughput")
async def get_status(runtime: RuntimeDep, _: AdminDep) -> IngestStatus:
    """One entry per consumer that ever ran against this metadata database (wherever it runs). The
    lag is the stream's last sequence minus the consumer's ack floor, asked of NATS now; when NATS
    cannot be reached the checkpoint figures are still shown and `nats_error` says why.
    `derived_tables` says how far the tables derived from events may lag them, and what is in the
    ingest journal now."""
    status = await ingest_status(runtime.metadata, runtime.settings.nats_url, runtime.ingest_consumer)
    journal = runtime.writer.journal_status()
    status.derived_tables = DerivedTablesStatus(
        journal_batches=journal.in_flight,
        oldest_batch_seconds=journal.oldest_seconds,
        replayed_batches=runtime.writer.replayed_batches,
        id_filter=IdFilterReport(**asdict(runtime.writer.id_filter.status())) if runtime.writer.id_filter else None,
    )
    return status
