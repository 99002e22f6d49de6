"""Write-ahead journal of the event batches in flight, so a crash never leaves a derived table
behind `events` (docs/ingest.md, "Exactly once across crashes").

ClickHouse runs an insert into `events` as several commits: the `events` part and the part of each
materialized view (`event_ids`, rollups, persons, pre-aggregations), one table at a time. A process
killed in between leaves `events` and some derived tables disagreeing, and no client retry can mend
that: the duplicate check drops the retried events. So each batch is written here before its insert
and removed after the insert returned. Every insert carries the batch's deduplication token; a
replay makes `events` hold the batch (the same rows under the same token) and then recomputes the
batch's derived rows from `events` (ingest/writer.py, ingest/recovery.py). The journal is replayed
before the writer accepts anything.

A file is locked (`flock`) by the process inserting it, so a replay in another process sharing the
folder never takes a batch whose insert is still running; a killed process's locks go with it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import structlog

log = structlog.get_logger(__name__)

SUFFIX = ".batch"
PARTIAL = ".partial"  # being written: renamed to SUFFIX once whole, so a replay never reads half a batch


@dataclass
class JournalEntry:
    token: str
    path: Path
    fd: int


@dataclass(frozen=True)
class JournalStatus:
    in_flight: int
    oldest_seconds: float | None


class IngestJournal:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    def begin(self, body: bytes, token: str | None = None) -> JournalEntry:
        """Record a batch before its insert; the token is the batch's deduplication token."""
        token = token or uuid.uuid4().hex
        partial = self.folder / f"{token}{PARTIAL}"
        path = self.folder / f"{token}{SUFFIX}"
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            view = memoryview(body)
            while view:
                view = view[os.write(fd, view) :]
            os.rename(partial, path)  # the lock stays with the open file
        except BaseException:
            os.close(fd)
            partial.unlink(missing_ok=True)
            raise
        return JournalEntry(token, path, fd)

    def end(self, entry: JournalEntry) -> None:
        """The insert returned: the batch is in every table."""
        entry.path.unlink(missing_ok=True)
        os.close(entry.fd)

    def abandon(self, entry: JournalEntry) -> None:
        """The insert failed: keep the file for a replay, unlocked so any replay may take it."""
        os.close(entry.fd)

    @contextlib.contextmanager
    def orphans(self) -> Iterator[list[tuple[str, bytes, Path]]]:
        """The batches no live process is inserting, oldest first, locked for the caller: yields
        (token, body, path); the caller removes each path it replayed."""
        taken: list[tuple[str, bytes, Path]] = []
        fds: list[int] = []
        self._remove_partials()
        try:
            for path in sorted(self.folder.glob(f"*{SUFFIX}"), key=_age_key):
                try:
                    fd = os.open(path, os.O_RDONLY)
                except FileNotFoundError:
                    continue  # its insert just finished
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    os.close(fd)
                    continue  # a live process is inserting it
                fds.append(fd)
                if not path.exists():
                    continue  # finished between the listing and the lock
                taken.append((path.name.removesuffix(SUFFIX), path.read_bytes(), path))
            yield taken
        finally:
            for fd in fds:
                os.close(fd)

    def _remove_partials(self) -> None:
        """Batches a kill cut short while they were written: their insert never began."""
        for path in self.folder.glob(f"*{PARTIAL}"):
            try:
                fd = os.open(path, os.O_RDONLY)
            except FileNotFoundError:
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                path.unlink(missing_ok=True)
            except BlockingIOError:
                pass  # a live process is writing it
            finally:
                os.close(fd)

    def status(self) -> JournalStatus:
        ages = []
        now = time.time()
        for path in self.folder.glob(f"*{SUFFIX}"):
            with contextlib.suppress(FileNotFoundError):
                ages.append(now - path.stat().st_mtime)
        return JournalStatus(len(ages), max(ages) if ages else None)


def _age_key(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return 0.0
