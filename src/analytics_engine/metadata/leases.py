"""Named leases in the metadata database: a lock shared by every process using that database
(SQLite by default, PostgreSQL by URL), one code path for both.

A lease is a row (`name`, `owner`, `expires_at`). Taking it: an `INSERT` of the row (the primary key
refuses a second holder), or an `UPDATE` of a row whose lease expired (its holder died): both are
atomic on either database, so exactly one taker wins. The holder renews its rows from a thread
every third of the lease (the job runner's heartbeat pattern, jobs/runner.py) and deletes them when
done. A process killed while holding leaves its rows behind; another takes them over once they
expire (`lease_seconds` after the last renewal).

Times are the processes' clocks (UTC), as for the job runner's leases: processes on different hosts
need clocks closer than the lease's margin. A holder that finds its lease taken (it was paused for
longer than the lease, say) is told by `still_held`, which the caller checks before each step that
must not interleave with another holder's."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta

import structlog
from sqlalchemy import String, delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from analytics_engine.metadata.db import MetadataDB
from analytics_engine.metadata.models import Base, utcnow

log = structlog.get_logger(__name__)


class Lease(Base):
    __tablename__ = "named_leases"

    name: Mapped[str] = mapped_column(String(300), primary_key=True)
    owner: Mapped[str] = mapped_column(String(80))
    expires_at: Mapped[datetime] = mapped_column()
    acquired_at: Mapped[datetime] = mapped_column(default=utcnow)


class LeaseTimeout(RuntimeError):
    """A lease stayed with another live holder for longer than the caller would wait."""


class LeaseLost(RuntimeError):
    """This holder's lease expired and was taken by another before the protected step."""


class Held:
    """The leases one `hold` took; `still_held` before each step that must not interleave."""

    def __init__(self, owner: str, names: Sequence[str]) -> None:
        self.owner, self.names = owner, list(names)
        self.lost = threading.Event()

    def still_held(self) -> None:
        if self.lost.is_set():
            raise LeaseLost(f"lease {self.names} lost by {self.owner}: another holder may have taken it")


class Leases:
    def __init__(self, metadata: MetadataDB, lease_seconds: float = 30.0, poll_seconds: float = 0.05) -> None:
        self.metadata = metadata
        self.lease_seconds = lease_seconds
        self.poll_seconds = poll_seconds

    def _until(self) -> datetime:
        return utcnow() + timedelta(seconds=self.lease_seconds)

    def try_take(self, name: str, owner: str) -> bool:
        """Take the lease `name` if free or expired; True when `owner` now holds it."""
        with self.metadata.session() as session:
            taken = session.execute(
                update(Lease)
                .where(Lease.name == name, Lease.expires_at < utcnow())
                .values(owner=owner, expires_at=self._until(), acquired_at=utcnow())
                .execution_options(synchronize_session=False)
            )
            if taken.rowcount == 1:  # type: ignore[attr-defined]
                log.warning("lease.taken_over", name=name, owner=owner)
                return True
        try:
            with self.metadata.session() as session:
                session.add(Lease(name=name, owner=owner, expires_at=self._until()))
            return True
        except IntegrityError:
            return False

    def renew(self, names: Sequence[str], owner: str) -> bool:
        """Extend these leases; False when one of them is no longer this owner's."""
        with self.metadata.session() as session:
            renewed = session.execute(
                update(Lease)
                .where(Lease.name.in_(list(names)), Lease.owner == owner)
                .values(expires_at=self._until())
                .execution_options(synchronize_session=False)
            )
            return int(renewed.rowcount) == len(set(names))  # type: ignore[attr-defined]

    def release(self, names: Sequence[str], owner: str) -> None:
        with self.metadata.session() as session:
            session.execute(
                delete(Lease)
                .where(Lease.name.in_(list(names)), Lease.owner == owner)
                .execution_options(synchronize_session=False)
            )

    def holder(self, name: str) -> str | None:
        """The owner of the lease `name` if it is held and has not expired."""
        with self.metadata.session() as session:
            return session.scalar(select(Lease.owner).where(Lease.name == name, Lease.expires_at >= utcnow()))

    def live_names(self, prefix: str) -> list[str]:
        """The names starting with `prefix` of the leases that have not expired."""
        with self.metadata.session() as session:
            return list(
                session.scalars(
                    select(Lease.name).where(
                        Lease.name.startswith(prefix, autoescape=True), Lease.expires_at >= utcnow()
                    )
                )
            )

    def live_owners(self) -> set[str]:
        """The owners holding a lease that has not expired."""
        with self.metadata.session() as session:
            return set(session.scalars(select(Lease.owner).where(Lease.expires_at >= utcnow())))

    @contextmanager
    def hold(self, names: Sequence[str], *, wait_seconds: float = 600.0, owner: str | None = None) -> Iterator[Held]:
        """Hold every lease in `names` for the block: taken one by one in sorted order (two holders
        wanting overlapping sets never wait on each other in a circle), renewed meanwhile, released
        at the end. Raises LeaseTimeout after `wait_seconds` without getting them all. `owner` names
        the holder to others (default: a new name per hold)."""
        wanted = sorted(set(names))
        held = Held(owner or f"{uuid.uuid4().hex[:16]}", wanted)
        taken: list[str] = []
        deadline = time.monotonic() + wait_seconds
        stop = threading.Event()
        beat: threading.Thread | None = None
        try:
            for name in wanted:
                pause = self.poll_seconds
                while not self.try_take(name, held.owner):
                    if time.monotonic() > deadline:
                        raise LeaseTimeout(f"lease {name} still held by another after {wait_seconds:.0f} s")
                    time.sleep(pause)
                    pause = min(pause * 2, 0.5)
                taken.append(name)
            if taken:

                def renew() -> None:
                    renewed = time.monotonic()
                    while not stop.wait(max(0.05, self.lease_seconds / 3)):
                        try:
                            if not self.renew(taken, held.owner):
                                held.lost.set()
                                log.error("lease.lost", names=taken, owner=held.owner)
                                return
                            renewed = time.monotonic()
                        except Exception as exc:  # the metadata DB unreachable for a moment: try again
                            log.warning("lease.renew_failed", names=taken, error=str(exc))
                            if time.monotonic() - renewed >= self.lease_seconds:
                                held.lost.set()  # expired meanwhile: another may hold it now
                                return

                beat = threading.Thread(target=renew, name="lease-renew", daemon=True)
                beat.start()
            yield held
        finally:
            stop.set()
            if beat is not None:
                beat.join()
            if taken:
                self.release(taken, held.owner)
