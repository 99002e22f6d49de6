"""One run of one source: read chunks in cursor order, write each, then its checkpoint.

The order of writes is what makes a run safe to kill at any point:

1. `in_doubt = true` on the checkpoint (nothing else changes);
2. the chunk is written to the warehouse;
3. the new cursor, the row count and `in_doubt = false` in one metadata transaction.

A run killed before 1 or after 3 leaves a clean checkpoint. Killed between 1 and 3, the next run
finds `in_doubt` and first removes what the dead run may have written past the checkpoint (table
target: `DELETE ... WHERE (cursor, key) > checkpoint`; events target: the first chunk is checked
against stored event ids), then reads from the checkpoint again. So the warehouse ends with exactly
the source's rows: nothing skipped (the checkpoint only moves after a write) and nothing twice.

A reader thread fetches the next chunk from PostgreSQL while the current one is inserted.
"""

from __future__ import annotations

import contextlib
import json
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import psycopg

from analytics_engine.ingest.validation import Limits
from analytics_engine.ingest.writer import EventWriter
from analytics_engine.sync import postgres
from analytics_engine.sync.postgres import ReadPlan, SourceError
from analytics_engine.sync.registry import Checkpoint, SourceRegistry
from analytics_engine.sync.spec import SourceSpec, TableTarget
from analytics_engine.sync.targets import EventsWriter, TableWriter
from analytics_engine.warehouse.client import Warehouse

EVENTS_CHUNK_ROWS = 20_000
Progress = Callable[[int, int | None, list[str] | None], None]


@dataclass
class Chunk:
    rows: int
    last: list[str]
    body: bytes = b""  # table target: COPY text
    records: list[tuple[Any, ...]] = field(default_factory=list)  # events target: Python rows


@dataclass
class RunOutcome:
    rows: int = 0
    chunks: int = 0
    seconds: float = 0.0
    cursor: list[str] | None = None
    rows_total: int | None = None
    events_written: int = 0
    events_rejected: int = 0
    events_deleted: int = 0
    rejection_reasons: dict[str, int] = field(default_factory=dict)
    cleaned_in_doubt: bool = False

    def as_result(self) -> dict[str, Any]:
        result: dict[str, Any] = {
            "rows": self.rows,
            "chunks": self.chunks,
            "seconds": round(self.seconds, 3),
            "rows_per_second": round(self.rows / self.seconds) if self.seconds > 0 else None,
            "cursor": self.cursor,
            "resumed_after_crash": self.cleaned_in_doubt,
        }
        if self.events_written or self.events_rejected or self.events_deleted:
            result |= {
                "events_written": self.events_written,
                "events_rejected": self.events_rejected,
                "events_deleted": self.events_deleted,
                "rejection_reasons": dict(list(self.rejection_reasons.items())[:10]),
            }
        return result


def _literal(value: Any) -> str:
    """A cursor or key value as text PostgreSQL reads back exactly."""
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


class SourceRun:
    """Copies one source from its checkpoint to the end of what PostgreSQL has now."""

    def __init__(
        self,
        spec: SourceSpec,
        *,
        warehouse: Warehouse,
        writer: EventWriter,
        limits: Limits,
        registry: SourceRegistry,
        chunk_rows: int,
        overlap_seconds: int,
        job_id: str,
        progress: Progress | None = None,
        after_write: Callable[[int], None] | None = None,
    ) -> None:
        self.spec = spec
        self.warehouse = warehouse
        self.writer = writer
        self.limits = limits
        self.registry = registry
        self.chunk_rows = spec.chunk_rows or chunk_rows
        if not isinstance(spec.target, TableTarget):
            # Events are built row by row in Python and may be checked against stored ids: smaller chunks.
            self.chunk_rows = min(self.chunk_rows, EVENTS_CHUNK_ROWS)
        self.overlap = overlap_seconds
        self.job_id = job_id
        self.progress = progress or (lambda done, total, cursor: None)
        self.after_write = after_write  # tests: a fault between the write and its checkpoint

    def prepare(self) -> tuple[psycopg.Connection[Any], ReadPlan, TableWriter | EventsWriter]:
        """Connect, describe and check everything before anything is written."""
        conn = postgres.connect(self.spec)
        try:
            columns = postgres.describe(conn, self.spec)
            plan = ReadPlan(self.spec, columns, postgres.cursor_kind(self.spec, columns))
            target: TableWriter | EventsWriter
            if isinstance(self.spec.target, TableTarget):
                target = TableWriter(self.warehouse, self.spec, columns)
                target.check()
            else:
                target = EventsWriter(self.warehouse, self.writer, self.limits, self.spec, plan)
        except Exception:
            conn.close()
            raise
        return conn, plan, target

    def clean_in_doubt(self, target: TableWriter | EventsWriter, checkpoint: Checkpoint, order: list[str]) -> None:
        if isinstance(target, TableWriter):
            target.remove_after(checkpoint.cursor, order)
        # events: the first chunk is checked against stored ids instead (see `run`).

    def run(self) -> RunOutcome:
        started = time.perf_counter()
        conn, plan, target = self.prepare()
        outcome = RunOutcome()
        created = False
        try:
            checkpoint = self.registry.checkpoint(self.spec.name)
            if isinstance(target, TableWriter):
                created = target.existing()[0] is None
                target.ensure()
            plan.order = read_order(self.spec, plan.kind, checkpoint)
            key_order = plan.order != self.spec.order_columns()
            check_first = False
            if checkpoint.in_doubt:
                self.clean_in_doubt(target, checkpoint, plan.order)
                self.registry.save_checkpoint(self.spec.name, in_doubt=False)
                outcome.cleaned_in_doubt = check_first = True
            if key_order and checkpoint.cursor is None:
                checkpoint.high_water = plan.high_water(conn)
                self.registry.save_checkpoint(self.spec.name, high_water=checkpoint.high_water)
            after, since = checkpoint.cursor, None
            cursor_column = next(c for c in plan.columns if c.name == self.spec.cursor)
            if (
                checkpoint.backfill_done
                and after is not None
                and plan.kind == "updated_at"
                and cursor_column.pg_type in postgres.TIMESTAMP_TYPES
            ):
                # Re-read a window behind the checkpoint: rows committed late with an older updated_at.
                moment = datetime.fromisoformat(after[0]) - timedelta(seconds=self.overlap)
                after, since = None, moment.isoformat()
            outcome.rows_total = plan.count(conn, after, since)
            self.progress(0, outcome.rows_total, checkpoint.cursor)
            done = 0
            for chunk in self._prefetch(self._chunks(conn, plan, after, since)):
                self.registry.save_checkpoint(self.spec.name, in_doubt=True, last_job_id=self.job_id)
                if isinstance(target, TableWriter):
                    target.insert(chunk.body)
                else:
                    written = target.write(
                        chunk.records,
                        check_duplicates=check_first or checkpoint.backfill_done,
                        request_id=self.job_id,
                    )
                    outcome.events_written += written.written
                    outcome.events_rejected += written.rejected
                    outcome.events_deleted += written.deleted
                    for reason, count in written.reasons.items():
                        outcome.rejection_reasons[reason] = outcome.rejection_reasons.get(reason, 0) + count
                if self.after_write:
                    self.after_write(outcome.chunks)
                checkpoint.rows_copied += chunk.rows
                self.registry.save_checkpoint(
                    self.spec.name, cursor=chunk.last, rows_copied=checkpoint.rows_copied, in_doubt=False
                )
                check_first = False
                done += chunk.rows
                outcome.rows, outcome.chunks, outcome.cursor = done, outcome.chunks + 1, chunk.last
                self.progress(done, max(outcome.rows_total or 0, done), chunk.last)
            if isinstance(target, TableWriter) and outcome.chunks:
                self._changed(target)
            if key_order:
                # First copy done in key order: incremental sync starts where the source stood when
                # it began (minus the overlap), so rows changed during the copy are read again.
                outcome.cursor = checkpoint.high_water
                self.registry.save_checkpoint(
                    self.spec.name, backfill_done=True, cursor=checkpoint.high_water, last_job_id=self.job_id
                )
            else:
                self.registry.save_checkpoint(self.spec.name, backfill_done=True, last_job_id=self.job_id)
            if outcome.cursor is None:
                outcome.cursor = checkpoint.cursor
        except Exception:
            if created and isinstance(target, TableWriter) and outcome.chunks == 0:
                # This run made the table and committed nothing to it: leave no trace (if the drop
                # fails too, the next run reuses the empty table).
                with contextlib.suppress(Exception):
                    target.drop()
            raise
        finally:
            conn.close()
        outcome.seconds = time.perf_counter() - started
        return outcome

    def reconcile(self) -> dict[str, Any]:
        """Hard deletes: tombstone warehouse rows whose key PostgreSQL no longer has."""
        started = time.perf_counter()
        conn, plan, target = self.prepare()
        try:
            if not isinstance(target, TableWriter):
                raise SourceError(
                    f"Source {self.spec.name!r} writes events; events are facts and are not reconciled "
                    "(a soft delete removes an event, a hard delete in PostgreSQL does not)."
                )
            checkpoint = self.registry.checkpoint(self.spec.name)
            if checkpoint.in_doubt:
                target.remove_after(checkpoint.cursor, read_order(self.spec, plan.kind, checkpoint))
                self.registry.save_checkpoint(self.spec.name, in_doubt=False)
            target.ensure()
            self.progress(0, None, checkpoint.cursor)
            query, params = plan.keys_select()
            keys = postgres.copy_chunk(conn, query, params)
            tombstones = target.tombstone_missing(keys)
            if tombstones:
                self._changed(target)
            source_keys = keys.count(b"\n")
            self.progress(source_keys, source_keys, checkpoint.cursor)
        finally:
            conn.close()
        return {
            "source_keys": source_keys,
            "tombstoned": tombstones,
            "seconds": round(time.perf_counter() - started, 3),
        }

    def _changed(self, target: TableWriter) -> None:
        """Rows of a sync table changed: the tenants holding rows there see no answer cached before
        (the same data-version bump as an insert into events; events targets bump through the writer)."""
        if self.writer.on_inserted is not None:
            self.writer.on_inserted(target.tenants())

    def _chunks(
        self, conn: psycopg.Connection[Any], plan: ReadPlan, after: list[str] | None, since: str | None
    ) -> Iterator[Chunk]:
        positions = plan.order_positions_in_table_output()
        names = [c.name for c in plan.columns]
        row_positions = [1 + names.index(name) for name in plan.order]
        while True:
            if isinstance(self.spec.target, TableTarget):
                query, params = plan.table_select(after, since, self.chunk_rows)
                body = postgres.copy_chunk(conn, query, params)
                if not body:
                    return
                chunk = Chunk(rows=body.count(b"\n"), last=postgres.last_row_fields(body, positions), body=body)
            else:
                query, params = plan.rows_select(after, since, self.chunk_rows)
                records = list(postgres.iter_rows(conn, query, params))
                if not records:
                    return
                chunk = Chunk(
                    rows=len(records), last=[_literal(records[-1][p]) for p in row_positions], records=records
                )
            yield chunk
            if chunk.rows < self.chunk_rows:
                return
            after, since = chunk.last, None

    @staticmethod
    def _prefetch(chunks: Iterator[Chunk]) -> Iterator[Chunk]:
        """Read the next chunk in a thread while the caller writes the current one."""
        slots: queue.Queue[Any] = queue.Queue(maxsize=1)
        stop = threading.Event()
        end = object()

        def offer(item: Any) -> bool:
            while not stop.is_set():
                try:
                    slots.put(item, timeout=0.2)
                    return True
                except queue.Full:
                    continue
            return False

        def reader() -> None:
            try:
                for chunk in chunks:
                    if not offer(chunk):
                        return
                offer(end)
            except BaseException as exc:
                offer(exc)

        thread = threading.Thread(target=reader, name="sync-reader", daemon=True)
        thread.start()
        try:
            while True:
                item = slots.get()
                if item is end:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            stop.set()
            thread.join(timeout=30)


def read_order(spec: SourceSpec, kind: str, checkpoint: Checkpoint) -> list[str]:
    """The row order of a run. An updated_at source is first copied in primary-key order (its index,
    usually the table's physical order; no updated_at index needed, no sort), then read in
    (updated_at, key) order. A first copy begun in (updated_at, key) order (a checkpoint without a
    high-water mark) keeps that order until it is done."""
    first_copy = kind == "updated_at" and not checkpoint.backfill_done
    if first_copy and (checkpoint.cursor is None or checkpoint.high_water is not None):
        return list(spec.primary_key)
    return spec.order_columns()


def describe_error(exc: BaseException) -> str:
    """A job's error in plain words."""
    if isinstance(exc, SourceError):
        return exc.message
    message = getattr(exc, "message", None)
    if message:
        return str(message)
    if isinstance(exc, psycopg.Error):
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return f"PostgreSQL failed while reading the source: {first[:400]}"
    return f"{type(exc).__name__}: {str(exc)[:400]}"


def cursor_text(cursor: list[str] | None) -> str | None:
    return None if cursor is None else json.dumps(cursor)
