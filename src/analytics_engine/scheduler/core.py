"""The scheduler. Packages register their work at start-up:

    runtime.scheduler.add("sync", Every(seconds=300), run_sync)
    runtime.scheduler.add(f"report:{id}", Cron("0 8 * * MON", "Europe/Oslo"), send_report)

The last run of each schedule is kept in the metadata table `schedule_runs`, so after a restart a
schedule whose slot passed while the service was down runs once, immediately.

Several replicas (`serve` processes or hosts on one metadata database) each run this scheduler; a
slot runs once across them (issue 26): before running, a replica claims the slot with a
compare-and-set on `schedule_runs.last_run_at` (it must still hold the value the replica read, and
that value's next slot must be due). The loser skips the run and waits for the slot after the
winner's. The claim is written before the work: a replica that dies mid-run does not run that slot
again (work that must survive a crash is a job of the job runner, which has its own leases).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import structlog
from croniter import croniter
from prometheus_client import Counter
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from analytics_engine.metadata.db import MetadataDB
from analytics_engine.metadata.models import ScheduleRun, utcnow

log = structlog.get_logger(__name__)
SCHEDULE_SKIPS = Counter(
    "analytics_schedule_skips_total", "Schedule slots this replica left to another that claimed them.", ["reason"]
)
Job = Callable[[], Awaitable[None]]


@dataclass(frozen=True)
class Every:
    seconds: float

    def next_after(self, moment: datetime) -> datetime:
        return moment + timedelta(seconds=self.seconds)


@dataclass(frozen=True)
class Cron:
    """A cron expression evaluated in `timezone` (so `0 8 * * *` is 08:00 local, across DST)."""

    expression: str
    timezone: str = "UTC"

    def __post_init__(self) -> None:
        if not croniter.is_valid(self.expression):
            raise ValueError(f"not a cron expression: {self.expression!r}")
        ZoneInfo(self.timezone)

    def next_after(self, moment: datetime) -> datetime:
        local = moment.astimezone(ZoneInfo(self.timezone))
        following: datetime = croniter(self.expression, local).get_next(datetime)  # croniter has no stubs
        return following.astimezone(UTC)


Trigger = Every | Cron


@dataclass
class _Entry:
    name: str
    trigger: Trigger
    job: Job
    next_run: datetime
    running: bool = False
    task: asyncio.Task[None] | None = field(default=None, repr=False)


class Scheduler:
    def __init__(self, metadata: MetadataDB, *, tick_seconds: float = 1.0) -> None:
        self.metadata = metadata
        self.tick = tick_seconds
        self._entries: dict[str, _Entry] = {}
        self._loop_task: asyncio.Task[None] | None = None

    def add(self, name: str, trigger: Trigger, job: Job) -> None:
        """Register (or replace) a schedule. Its first run is its next slot after the last recorded
        run; with no record, the next slot from now (an `Every` runs once at start)."""
        now = utcnow()
        last = self._last_run(name)
        if last is None:
            next_run = now if isinstance(trigger, Every) else trigger.next_after(now)
        else:
            next_run = trigger.next_after(last)
            if next_run < now:
                next_run = now  # missed while down: once, now
        self._entries[name] = _Entry(name, trigger, job, next_run)

    def remove(self, name: str) -> None:
        self._entries.pop(name, None)

    def names(self) -> list[str]:
        return sorted(self._entries)

    def next_run(self, name: str) -> datetime | None:
        entry = self._entries.get(name)
        return entry.next_run if entry else None

    def start(self) -> None:
        self._loop_task = asyncio.create_task(self._loop(), name="scheduler")

    async def stop(self) -> None:
        if self._loop_task:
            self._loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task
        running = [e.task for e in self._entries.values() if e.task and not e.task.done()]
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)

    async def run_due(self, now: datetime | None = None) -> list[str]:
        """Start every due schedule that is not already running; returns their names."""
        now = now or utcnow()
        started = []
        for entry in list(self._entries.values()):
            if entry.running or entry.next_run > now:
                continue
            entry.running = True
            entry.next_run = entry.trigger.next_after(now)
            entry.task = asyncio.create_task(self._run(entry, now))
            started.append(entry.name)
        return started

    async def _loop(self) -> None:
        while True:
            await self.run_due()
            await asyncio.sleep(self.tick)

    async def _run(self, entry: _Entry, at: datetime) -> None:
        try:
            claimed = await asyncio.to_thread(self._claim, entry, at)
        except Exception as exc:  # the metadata DB may blink: try at the next tick
            log.warning("scheduler.claim_failed", schedule=entry.name, error=str(exc))
            entry.next_run = at
            entry.running = False
            return
        if not claimed:
            entry.running = False
            return
        try:
            await entry.job()
            log.info("scheduler.ran", schedule=entry.name)
        except Exception as exc:
            log.error("scheduler.failed", schedule=entry.name, error=str(exc))
        finally:
            entry.running = False

    def _claim(self, entry: _Entry, at: datetime) -> bool:
        """Take the slot at `at` for this replica (compare-and-set on `schedule_runs`); False when
        another replica already ran it, with `entry.next_run` moved after that replica's run."""
        with self.metadata.session() as session:
            row = session.get(ScheduleRun, entry.name)
            if row is None:
                try:
                    with session.begin_nested():
                        session.add(ScheduleRun(name=entry.name, last_run_at=at))
                except IntegrityError:
                    SCHEDULE_SKIPS.labels("claimed_elsewhere").inc()
                    return False
                return True
            stored = row.last_run_at
            last = stored if stored.tzinfo else stored.replace(tzinfo=UTC)
            following = entry.trigger.next_after(last)
            if following > at:  # another replica ran this slot already
                entry.next_run = following
                SCHEDULE_SKIPS.labels("ran_elsewhere").inc()
                return False
            result = session.execute(
                update(ScheduleRun)
                .where(ScheduleRun.name == entry.name, ScheduleRun.last_run_at == stored)
                .values(last_run_at=at)
                .execution_options(synchronize_session=False)
            )
            if int(getattr(result, "rowcount", 0)) != 1:
                SCHEDULE_SKIPS.labels("claimed_elsewhere").inc()
                return False
            return True

    def _last_run(self, name: str) -> datetime | None:
        with self.metadata.session() as session:
            row = session.get(ScheduleRun, name)
            if row is None:
                return None
            last = row.last_run_at
            return last if last.tzinfo else last.replace(tzinfo=UTC)

    def _record_run(self, name: str, at: datetime) -> None:
        with self.metadata.session() as session:
            row = session.scalars(select(ScheduleRun).where(ScheduleRun.name == name)).first()
            if row is None:
                session.add(ScheduleRun(name=name, last_run_at=at))
            else:
                row.last_run_at = at
