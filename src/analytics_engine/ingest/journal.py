"""Write-ahead journal of the event batches in flight, so a crash never leaves a derived table
behind `events` (docs/ingest.md, "Exactly once across crashes").

ClickHouse runs an insert into `events` as several commits: the `events` part first, then the part
of each materialized view (`event_ids`, rollups, persons, pre-aggregations) one by one. A process
killed in between leaves `events` ahead of some derived tables, and no client retry can mend that:
the duplicate check drops the retried events. So each batch is written here before its insert and
removed after the insert returned. Every insert carries the batch's deduplication token; replaying a
journal file sends the same rows with the same token, and ClickHouse (with
`deduplicate_blocks_in_dependent_materialized_views`) skips each table's part that already landed
and writes each one that did not. The journal is replayed before the writer accepts anything.

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
        path = self.folder / f"{token}{SUFFIX}"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            view = memoryview(body)
            while view:
                view = view[os.write(fd, view) :]
        except BaseException:
            os.close(fd)
            path.unlink(missing_ok=True)
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
