"""The tiering job: each month partition of `events` older than the hot window goes to the cold tier
(one Parquet file per tenant), is checked, and only then leaves the hot tier; cold files past the
cold retention are deleted.

A month moves through states kept in `lifecycle_months`, each step safe to repeat, so a process
killed at any point and run again loses nothing and duplicates nothing:

1. `exporting`: per tenant, the month's rows are written to a temporary Parquet file, read back and
   compared with the hot rows (row count and an order-independent checksum of every row's content),
   then stored at `cold/events/YYYYMM.parquet` and listed in `lifecycle_cold_files`. A tenant
   whose stored file already holds exactly these rows is skipped. The people of the month are noted
   in a staging table (`lifecycle_people_YYYYMM`) for step 3.
2. `exported` -> `dropped`: the hot figures are compared once more (nothing arrived since), then
   the partition is dropped from `events` and from the hourly rollup, and the month's days from the
   daily rollup.
3. `dropped` -> `done`: the per-person tables (persons, person properties, person_weeks) are
   recomputed from the remaining hot events for the month's people (lifecycle/derived.py); the
   staging table goes.

Derived tables describe the hot tier, so `ingest verify` holds after a run. Partitions are shared by
every tenant, so this is platform work (`warehouse.platform`), the per-tenant steps through each
tenant's background scope."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import structlog
from sqlalchemy import select

from analytics_engine.cache import bump_data_version
from analytics_engine.lifecycle.cold import (
    CHECKSUM,
    COLD_COLUMNS,
    cold_key,
    file_figures,
    local_path,
    work_dir,
    write_parquet,
)
from analytics_engine.lifecycle.derived import UNLIMITED, rebuild_people, refill_taxonomy
from analytics_engine.lifecycle.models import ColdFile, TieredMonth
from analytics_engine.lifecycle.window import cold_expiry_limit, cold_partition_limit
from analytics_engine.storage.base import LocalStorage

if TYPE_CHECKING:
    from analytics_engine.core import Core
    from analytics_engine.jobs.context import JobContext

log = structlog.get_logger(__name__)
REASON = "lifecycle tiering: month partitions of events are shared by every tenant"
MASK = (1 << 64) - 1


@dataclass
class TieringOutcome:
    months: list[int] = field(default_factory=list)
    rows_moved: int = 0
    files_written: int = 0
    files_expired: int = 0
    seconds: float = 0.0
    phases: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "months": self.months,
            "rows_moved": self.rows_moved,
            "files_written": self.files_written,
            "files_expired": self.files_expired,
            "seconds": round(self.seconds, 3),
            "phases": {k: round(v, 3) for k, v in self.phases.items()},
        }


def _add(a: str, b: str) -> str:
    return format((int(a or "0", 16) + int(b or "0", 16)) & MASK, "x")


def _norm(checksum: str) -> str:
    return format(int(checksum or "0", 16), "x")


class Tiering:
    def __init__(self, core: Core, ctx: JobContext | None = None, now: datetime | None = None) -> None:
        self.core, self.ctx = core, ctx
        self.now = now or datetime.now(UTC)
        self.platform = core.warehouse.platform(REASON)
        self.events = core.warehouse.table("events")
        self.outcome = TieringOutcome()

    def _timed(self, phase: str, started: float) -> None:
        self.outcome.phases[phase] = self.outcome.phases.get(phase, 0.0) + time.perf_counter() - started

    # --- which months ------------------------------------------------------------------------------
    def due_months(self) -> list[int]:
        limit = cold_partition_limit(self.now, self.core.settings.hot_retention_months)
        rows = self.platform.query(
            "SELECT DISTINCT toUInt32(partition) FROM system.parts WHERE database = {db:String} AND table = 'events' "
            "AND active AND toUInt32OrZero(partition) BETWEEN 1 AND {limit:UInt32} - 1",
            {"db": self.core.warehouse.database, "limit": limit},
            settings=UNLIMITED,
        ).rows
        months = {int(r[0]) for r in rows}
        with self.core.metadata.session() as session:
            months |= {m for m in session.scalars(select(TieredMonth.month).where(TieredMonth.state != "done"))}
        return sorted(months)

    def run(self) -> TieringOutcome:
        run_started = time.perf_counter()
        for month in self.due_months():
            self.tier_month(month)
            self.outcome.months.append(month)
        started = time.perf_counter()
        self.finish_dropped()
        self._timed("recompute_derived", started)
        self.expire()
        self.outcome.seconds = time.perf_counter() - run_started
        log.info("lifecycle.tiering_done", **self.outcome.as_dict())
        return self.outcome

    # --- one month ---------------------------------------------------------------------------------
    def _state(self, month: int) -> str:
        with self.core.metadata.session() as session:
            row = session.get(TieredMonth, month)
            if row is None:
                session.add(TieredMonth(month=month, state="exporting"))
                return "exporting"
            return row.state

    def _set_state(self, month: int, state: str, rows: int | None = None) -> None:
        with self.core.metadata.session() as session:
            row = session.get(TieredMonth, month)
            assert row is not None
            row.state = state
            if rows is not None:
                row.rows = rows
        if self.ctx is not None:
            self.ctx.progress(self.outcome.rows_moved)

    def hot_figures(self, month: int) -> dict[str, tuple[int, str]]:
        rows = self.platform.query(
            f"SELECT tenant_id, {CHECKSUM} FROM {self.events} WHERE toYYYYMM(timestamp) = {{m:UInt32}} "
            "GROUP BY tenant_id ORDER BY tenant_id",
            {"m": month},
            settings=UNLIMITED,
        ).rows
        return {str(r[0]): (int(r[1]), _norm(str(r[2]))) for r in rows}

    def staging(self, month: int) -> str:
        return self.core.warehouse.table(f"lifecycle_people_{int(month)}")

    def tier_month(self, month: int) -> None:
        state = self._state(month)
        if state == "exporting":
            figures = self.hot_figures(month)
            started = time.perf_counter()
            for tenant_id, hot in figures.items():
                self.export_tenant(tenant_id, month, hot)
            self._timed("export_and_verify", started)
            started = time.perf_counter()
            staging = self.staging(month)
            self.platform.command(f"DROP TABLE IF EXISTS {staging}")
            self.platform.command(
                f"CREATE TABLE {staging} ENGINE = MergeTree ORDER BY (tenant_id, distinct_id) AS "
                f"SELECT DISTINCT tenant_id, distinct_id FROM {self.events} WHERE toYYYYMM(timestamp) = {{m:UInt32}}",
                {"m": month},
            )
            self._timed("note_people", started)
            self._set_state(month, "exported", sum(n for n, _ in figures.values()))
            state = "exported"
        if state == "exported":
            started = time.perf_counter()
            self.drop_hot(month)
            self._timed("drop", started)
            self._set_state(month, "dropped")
            state = "dropped"

    def export_tenant(self, tenant_id: str, month: int, hot: tuple[int, str]) -> None:
        scope = self.core.warehouse.for_tenant(tenant_id, background=True)
        key = cold_key(month)
        with self.core.metadata.session() as session:
            entry = session.get(ColdFile, (tenant_id, month))
            recorded = (entry.rows, _norm(entry.checksum)) if entry is not None else None
        stored = None
        if recorded is not None and self.core.storage.info(tenant_id, key) is not None:
            stored = file_figures(scope, local_path(self.core, tenant_id, key))
            stored = (stored[0], _norm(stored[1]))
        if recorded is not None and stored == recorded == hot:
            return  # written by an earlier attempt of this month
        if recorded is not None and stored is not None and stored == (recorded[0] + hot[0], _add(recorded[1], hot[1])):
            self._record(tenant_id, month, stored)  # merged and stored, then killed before the record
            return
        target = work_dir(self.core) / f"{tenant_id}-{month}-tier.parquet"
        where = "toYYYYMM(timestamp) = {m:UInt32}"
        if recorded is not None and stored == recorded:
            # The month was tiered before and came back (a changed hot window): one file with both.
            columns = ", ".join(COLD_COLUMNS)
            source = (
                f"(SELECT {columns} FROM {self.events} WHERE tenant_id = {{tenant_id:String}} AND {where} UNION ALL "
                f"SELECT {columns} FROM file({{src:String}}, 'Parquet'))"
            )
            expected = (recorded[0] + hot[0], _add(recorded[1], hot[1]))
            params: dict[str, Any] = {"m": month, "src": str(local_path(self.core, tenant_id, key))}
            write_parquet(scope, source, "1", params, target)
        else:
            expected = hot
            write_parquet(scope, self.events, where, {"m": month}, target)
        written = file_figures(scope, target)
        if (written[0], _norm(written[1])) != expected:
            target.unlink(missing_ok=True)
            raise RuntimeError(f"cold file of {tenant_id} {month}: wrote {written}, expected {expected}; hot kept")
        size = target.stat().st_size
        if isinstance(self.core.storage, LocalStorage):
            self.core.storage.put_file(tenant_id, key, target)
        else:
            cached = local_path(self.core, tenant_id, key)  # refreshed below from the upload
            cached.unlink(missing_ok=True)
            self.core.storage.put_file(tenant_id, key, target)
        self._record(tenant_id, month, (written[0], _norm(written[1])), size)
        self.outcome.rows_moved += hot[0]
        self.outcome.files_written += 1

    def _record(self, tenant_id: str, month: int, figures: tuple[int, str], size: int | None = None) -> None:
        if size is None:
            info = self.core.storage.info(tenant_id, cold_key(month))
            size = info.size if info is not None else 0
        with self.core.metadata.session() as session:
            entry = session.get(ColdFile, (tenant_id, month))
            if entry is None:
                session.add(
                    ColdFile(
                        tenant_id=tenant_id,
                        month=month,
                        key=cold_key(month),
                        rows=figures[0],
                        checksum=figures[1],
                        bytes=size,
                    )
                )
            else:
                entry.rows, entry.checksum, entry.bytes = figures[0], figures[1], size
                entry.rewritten_at = datetime.now(UTC)

    def drop_hot(self, month: int) -> None:
        """Check nothing changed since the export, then drop the month from the hot tier."""
        hot = self.hot_figures(month)
        with self.core.metadata.session() as session:
            files = {
                f.tenant_id: (f.rows, _norm(f.checksum))
                for f in session.scalars(select(ColdFile).where(ColdFile.month == month))
            }
        for tenant_id, figures in hot.items():
            if tenant_id not in files or files[tenant_id][0] < figures[0]:
                # Rows arrived after the export: export again before anything is dropped.
                self._set_state(month, "exporting")
                raise RuntimeError(f"month {month} of {tenant_id} changed after its export; run again")
        # The duplicate-check ids of the month's rows (a bulk load of old events has them): such an
        # id can never come back (ingest refuses events older than the hot window).
        of_month = f"event_id IN (SELECT event_id FROM {self.events} WHERE toYYYYMM(timestamp) = {{m:UInt32}})"
        event_ids = self.core.warehouse.table("event_ids")
        if self.platform.query(
            f"SELECT count() FROM {event_ids} WHERE {of_month}", {"m": month}, settings=UNLIMITED
        ).scalar():
            self.platform.command(
                f"ALTER TABLE {event_ids} DELETE WHERE {of_month} SETTINGS mutations_sync = 2", {"m": month}
            )
        partition = str(int(month))
        for table in ("events", "metrics_daily"):
            self.platform.command(f"ALTER TABLE {self.core.warehouse.table(table)} DROP PARTITION ID '{partition}'")
        # Cached answers of these tenants were computed from the hot rows: their reads now span both tiers.
        bump_data_version(self.core.cache, hot.keys())

    def finish_dropped(self) -> None:
        """For every month dropped (this run or a run cut short): the daily rollup's days of those
        months go, and the per-person tables of their people are recomputed from the hot events,
        all months at once (one round of mutations per tenant); then the months are done."""
        with self.core.metadata.session() as session:
            months = sorted(session.scalars(select(TieredMonth.month).where(TieredMonth.state == "dropped")))
        if not months:
            return
        monthly = self.core.warehouse.table("metrics_monthly")
        in_months = "toYYYYMM(day) IN {months:Array(UInt32)}"
        if self.platform.query(
            f"SELECT count() FROM {monthly} WHERE {in_months}", {"months": months}, settings=UNLIMITED
        ).scalar():
            self.platform.command(
                f"ALTER TABLE {monthly} DELETE WHERE {in_months} SETTINGS mutations_sync = 2", {"months": months}
            )
        existing = {
            str(r[0])
            for r in self.platform.query(
                "SELECT name FROM system.tables WHERE database = {db:String} AND name LIKE 'lifecycle_people_%'",
                {"db": self.core.warehouse.database},
                settings=UNLIMITED,
            ).rows
        }
        stagings = [self.staging(m) for m in months if f"lifecycle_people_{int(m)}" in existing]
        if stagings:
            union = " UNION ALL ".join(f"SELECT tenant_id, distinct_id FROM {t}" for t in stagings)
            tenants = [
                str(r[0])
                for r in self.platform.query(f"SELECT DISTINCT tenant_id FROM ({union})", settings=UNLIMITED).rows
            ]
            people = " UNION DISTINCT ".join(
                f"SELECT distinct_id FROM {t} WHERE tenant_id = {{tenant_id:String}}" for t in stagings
            )
            for tenant_id in tenants:
                scope = self.core.warehouse.for_tenant(tenant_id, background=True)
                rebuild_people(scope, people, {})
                refill_taxonomy(scope)  # a key's count and first/last seen cover the hot events only
        for month in months:
            self.platform.command(f"DROP TABLE IF EXISTS {self.staging(month)}")
            self._set_state(month, "done")

    # --- cold retention ----------------------------------------------------------------------------
    def expire(self) -> None:
        limit = cold_expiry_limit(self.now, self.core.settings.cold_retention_years)
        with self.core.metadata.session() as session:
            old = list(session.scalars(select(ColdFile).where(ColdFile.month < limit)))
            for entry in old:
                self.core.storage.delete(entry.tenant_id, entry.key)
                session.delete(entry)
                self.outcome.files_expired += 1
