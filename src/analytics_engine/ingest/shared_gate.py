"""The insert gate across processes: an erasure's or the tiering job's derived step (and a journal
replay) holds the inserts of every process writing to the same warehouse, not only its own.

Why: those steps delete derived rows and compute them again from `events`. An insert landing in
between is counted twice or lost (docs/privacy.md, "Several processes on one warehouse"). Within one
process `InsertGate` (ingest/writer.py) holds inserts; with a ClickHouse server several processes
insert (`serve` replicas, `analytics-engine ingest consume` workers), so the hold has to cross them.
With chDB there is one process per data folder and this gate is off by default.

The protocol, over named leases in the metadata database (metadata/leases.py; SQLite or PostgreSQL,
one code path):
- Every inserting process registers: a lease `inserter/<owner>`, renewed by a thread every
  `poll_seconds`, each time after it has read that no gate is requested. The process starts an insert
  only within `lease_seconds - margin` of such a reading (`clear()`): one cut off from the metadata
  database stops inserting before its registration expires.
- A holder takes the lease `insert-gate` (one holder at a time, waits for another), then waits until
  every live registration but its own has acknowledged it (`insert-gate-ack/<gate owner>/<owner>`), then
  holds its own process's inserts and runs the step.
- A registered process that reads the request holds its own inserts (those running finish first),
  acknowledges, and keeps them held until the request is gone (released, or expired with a holder that
  died). A dead process's registration expires after `lease_seconds`; the holder stops waiting for it.
- So no insert of any registered process runs while the step does. What is not covered: an insert
  already running in the ClickHouse server when its process was cut off from the metadata database for
  longer than the lease; the step may then overlap it (`ingest verify` finds the difference).
Times are the processes' clocks, as for every lease here: hosts need clocks closer than the margin."""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Protocol

import structlog

from analytics_engine.metadata.leases import Leases, LeaseTimeout

log = structlog.get_logger(__name__)

GATE = "insert-gate"
REGISTRATION = "inserter/"
ACKNOWLEDGEMENT = "insert-gate-ack/"


class LocalGate(Protocol):
    """This process's own gate (ingest/writer.py `InsertGate`)."""

    def alone(self) -> AbstractContextManager[None]: ...


class SharedInsertGate:
    def __init__(
        self,
        leases: Leases,
        local: LocalGate,
        *,
        poll_seconds: float | None = None,
        wait_seconds: float = 600.0,
    ) -> None:
        self.leases, self.local = leases, local
        self.owner = f"{socket.gethostname()[:30]}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        # How often a process reads whether a gate is requested: a holder waits about this long for
        # the others' acknowledgements.
        self.poll_seconds = poll_seconds or min(0.5, leases.lease_seconds / 6)
        self.wait_seconds = wait_seconds
        # Inserts start only this long after the last reading that found no gate requested: a margin of
        # a third of the lease against clocks and a slow renewal.
        self.clear_seconds = leases.lease_seconds * 2 / 3
        self._clear_until = 0.0
        self._stop = threading.Event()
        self._beat: threading.Thread | None = None
        self._sync = threading.Lock()  # one reading at a time (the beat, or an insert that found it stale)

    @property
    def registration(self) -> str:
        return f"{REGISTRATION}{self.owner}"

    def start(self) -> None:
        """Register and read once before any insert; then renew from a thread."""
        self.leases.try_take(self.registration, self.owner)
        self.refresh()
        self._beat = threading.Thread(target=self._run, name="insert-gate-beat", daemon=True)
        self._beat.start()

    def stop(self) -> None:
        self._stop.set()
        if self._beat is not None:
            self._beat.join(timeout=self.leases.lease_seconds)
        self.leases.release([self.registration], self.owner)

    def clear(self) -> bool:
        """May this process start an insert now? (No gate was requested at a recent reading.)"""
        return time.monotonic() < self._clear_until

    def wait_clear(self) -> None:
        """Before an insert: wait until no other process holds the gate (and read it again if the last
        reading is too old)."""
        while not self.clear():
            if not self.refresh():
                time.sleep(self.poll_seconds / 2)

    def refresh(self) -> bool:
        """Read whether a gate is requested; when none is, renew the registration and extend the time
        inserts may start. True when clear."""
        with self._sync:
            read_at = time.monotonic()
            if self._requested_by() is not None:
                return False
            if not self.leases.renew([self.registration], self.owner):
                self.leases.try_take(self.registration, self.owner)  # expired meanwhile: register again
            self._clear_until = read_at + self.clear_seconds
            return True

    def _requested_by(self) -> str | None:
        holder = self.leases.holder(GATE)
        return holder if holder != self.owner else None

    def _run(self) -> None:
        while not self._stop.wait(self.poll_seconds):
            try:
                holder = self._requested_by()
                if holder is None:
                    self.refresh()
                else:
                    self._acknowledge(holder)
            except Exception as exc:  # the metadata database unreachable a moment: inserts stop at the margin
                log.warning("insert_gate.beat_failed", owner=self.owner, error=str(exc))

    def _acknowledge(self, holder: str) -> None:
        """Another process holds the gate: hold this process's inserts, acknowledge, and keep them held
        (renewing the registration) until the gate is released or its holder's lease expires."""
        acknowledgement = f"{ACKNOWLEDGEMENT}{holder}/{self.owner}"
        with self.local.alone():
            self._clear_until = 0.0
            self.leases.try_take(acknowledgement, self.owner)
            log.info("insert_gate.acknowledged", holder=holder, owner=self.owner)
            try:
                while not self._stop.is_set() and self.leases.holder(GATE) == holder:
                    self.leases.renew([self.registration, acknowledgement], self.owner)
                    self._stop.wait(self.poll_seconds / 2)
            finally:
                self.leases.release([acknowledgement], self.owner)
        self.refresh()

    @contextmanager
    def hold(self, reason: str) -> Iterator[None]:
        """Every registered process's inserts held for the block, this process's included (the caller
        holds its own: `EventWriter.exclusive`)."""
        started = time.monotonic()
        with self.leases.hold([GATE], wait_seconds=self.wait_seconds, owner=self.owner) as held:
            prefix = f"{ACKNOWLEDGEMENT}{self.owner}/"
            while True:
                waiting = (
                    {name.removeprefix(REGISTRATION) for name in self.leases.live_names(REGISTRATION)}
                    - {self.owner}
                    - {name.removeprefix(prefix) for name in self.leases.live_names(prefix)}
                )
                if not waiting:
                    break
                if time.monotonic() - started > self.wait_seconds:
                    raise LeaseTimeout(f"processes {sorted(waiting)} did not hold their inserts for {reason}")
                held.still_held()
                time.sleep(self.poll_seconds / 4)
            log.info("insert_gate.held", reason=reason, waited=round(time.monotonic() - started, 3))
            yield
            held.still_held()  # lost meanwhile: others may have inserted; the caller's step is retried
