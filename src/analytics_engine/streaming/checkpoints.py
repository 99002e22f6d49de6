"""The checkpoint table: what each consumer durably inserted and acknowledged, and its last error."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from analytics_engine.metadata.db import MetadataDB
from analytics_engine.metadata.models import utcnow
from analytics_engine.streaming.models import IngestCheckpoint


class CheckpointPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    stream: str
    consumer: str
    subjects: str
    acked_seq: int = Field(description="Highest stream sequence acknowledged after its batch was inserted.")
    events_total: int = Field(description="Events inserted by this consumer since it was created.")
    rejected_total: int = Field(description="Messages or events refused (rejected_events, source `nats`).")
    batches_total: int
    throughput: float = Field(description="Events committed per second over the last minute.")
    last_batch_at: datetime | None
    last_error: str | None
    last_error_at: datetime | None
    updated_at: datetime


class CheckpointStore:
    def __init__(self, metadata: MetadataDB) -> None:
        self.metadata = metadata

    def _row(self, session: Session, stream: str, consumer: str) -> IngestCheckpoint:
        row = session.get(IngestCheckpoint, (stream, consumer))
        if row is None:
            row = IngestCheckpoint(
                stream=stream,
                consumer=consumer,
                acked_seq=0,
                events_total=0,
                rejected_total=0,
                batches_total=0,
                throughput=0.0,
                subjects="",
            )
            session.add(row)
        return row

    def register(self, stream: str, consumer: str, subjects: str) -> None:
        with self.metadata.session() as session:
            self._row(session, stream, consumer).subjects = subjects[:500]

    def record_batch(
        self, stream: str, consumer: str, *, acked_seq: int, events: int, rejected: int, throughput: float
    ) -> None:
        with self.metadata.session() as session:
            row = self._row(session, stream, consumer)
            row.acked_seq = max(row.acked_seq or 0, acked_seq)
            row.events_total = (row.events_total or 0) + events
            row.rejected_total = (row.rejected_total or 0) + rejected
            row.batches_total = (row.batches_total or 0) + 1
            row.throughput = throughput
            row.last_batch_at = utcnow()
            row.updated_at = utcnow()

    def record_error(self, stream: str, consumer: str, error: str) -> None:
        with self.metadata.session() as session:
            row = self._row(session, stream, consumer)
            row.last_error = error[:2000]
            row.last_error_at = utcnow()
            row.updated_at = utcnow()

    def list(self) -> list[CheckpointPublic]:
        with self.metadata.session() as session:
            rows = session.scalars(
                select(IngestCheckpoint).order_by(IngestCheckpoint.stream, IngestCheckpoint.consumer)
            ).all()
            return [CheckpointPublic.model_validate(row) for row in rows]

    def get(self, stream: str, consumer: str) -> CheckpointPublic | None:
        with self.metadata.session() as session:
            row = session.get(IngestCheckpoint, (stream, consumer))
            return CheckpointPublic.model_validate(row) if row else None
