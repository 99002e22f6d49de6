"""The tiering job: each month partition of `events` older than the hot window goes to the cold tier
(one Parquet file per tenant), is checked, and only then leaves the hot tier; cold files past the
cold retention are deleted.

A month moves through states kept in `lifecycle_months`, each step safe to repeat, so a process
killed at any point and run again loses nothing and duplicates nothing:

1. `exporting`: per tenant, the month's rows are written to a temporary Parquet file, read back and
   compared with the hot rows (row count and an order-independent checksum of every row's content;
   the hot figures of all due months come from one scan), then stored at
   `cold/events/YYYYMM.parquet` and listed in `lifecycle_cold_files`. A tenant whose stored file
   already holds exactly these rows is skipped. The people of the month, and the ids of its rows
   the duplicate check still holds, are noted in staging tables (`lifecycle_people_YYYYMM`,
   `lifecycle_ids_YYYYMM`) for step 3.
2. `exported` -> `dropped`, all exported months in one round: their row counts are compared once
   more (nothing arrived since), then their partitions are dropped from `events` and from the
   hourly rollup.
3. `dropped` -> `done`, once for all dropped months: the months' days leave the daily rollup, the
   noted ids leave `event_ids`, person_weeks loses its partitions before the hot tier, and the
   per-person tables (persons, person properties) and the taxonomy are recomputed from the
   remaining hot events for the months' people (lifecycle/derived.py), deletes side by side, then
   the refills side by side; the staging tables go.

Derived tables describe the hot tier, so `ingest verify` holds after a run. Partitions are shared by
every tenant, so this is platform work (`warehouse.platform`), the per-tenant steps through each
tenant's background scope."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog
from sqlalchemy import select

from analytics_engine.cache import bump_data_version
from analytics_engine.lifecycle.cold import (
    CHECKSUM,
    COLD_COLUMNS,
    FIGURES_SCHEMA,
    KEY_CHECKSUM,
    cold_key,
    drop_checked_stages,
    file_figures_keyed,
    local_path,
    work_dir,
    write_checked,
    write_parquet,
)
from analytics_engine.lifecycle.derived import (
    UNLIMITED,
    person_weeks_insert,
    rebuild_persons,
    refill_taxonomy,
)
from analytics_engine.lifecycle.models import ColdFile, TieredMonth
from analytics_engine.lifecycle.swap import REASON as SWAP_REASON
from analytics_engine.lifecycle.swap import drop_stale_stages, swap_partitions
from analytics_engine.lifecycle.tiered_taxonomy import after_tiering, contributions, first_hot_sightings, replace_rows
from analytics_engine.lifecycle.window import cold_expiry_limit, cold_partition_limit, month_start
from analytics_engine.storage.base import LocalStorage

if TYPE_CHECKING:
    from analytics_engine.core import Core
    from analytics_engine.jobs.context import JobContext
    from analytics_engine.warehouse.scoped import TenantScope

log = structlog.get_logger(__name__)
REASON = "lifecycle tiering: month partitions of events are shared by every tenant"
MASK = (1 << 64) - 1
# `event_ids` keeps the ids received in the last 7 days (its TTL; a day more for expired rows not
# yet merged away).
ID_DAYS = 8
# A person_properties row (an argMax state) whose latest value is older than `boundary`, the first
# instant of the hot tier: merged after a state of '' at the instant before it, that state stays
# (argMax keeps the first of equal timestamps), which no real value (raw JSON, never empty) can be.
COLD_ONLY = (
    "arrayReduce('argMaxMerge', [arrayReduce('argMaxState', [''], "
    "[{boundary:DateTime64(3, 'UTC')} - toIntervalMillisecond(1)]), value]) = ''"
)


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


def _together(work: Sequence[Callable[[], Any]], workers: int = 4) -> None:
    """Run these statements side by side (the warehouse runs mutations in its background pool)."""
    if len(work) < 2 or workers < 2:
        for item in work:
            item()
        return
    with ThreadPoolExecutor(max_workers=min(workers, len(work)), thread_name_prefix="tiering") as pool:
        for future in [pool.submit(item) for item in work]:
            future.result()


class Tiering:
    def __init__(self, core: Core, ctx: JobContext | None = None, now: datetime | None = None) -> None:
        self.core, self.ctx = core, ctx
        self.now = now or datetime.now(UTC)
        self.platform = core.warehouse.platform(REASON)
        self.swap_platform = core.warehouse.platform(SWAP_REASON)
        self.events = core.warehouse.table("events")
        self.outcome = TieringOutcome()
        self._lock = threading.Lock()
        # Per month exported in this run: whether any of its rows arrived within `ID_DAYS` (so that
        # `event_ids` may still hold their ids); filled by `hot_figures_of`.
        self.recent_ids: dict[int, bool] = {}

    def _named(self, phase: str, work: Callable[[], Any]) -> Callable[[], None]:
        """`work`, its seconds recorded under `phase` (a statement run beside others)."""

        def timed() -> None:
            started = time.perf_counter()
            work()
            with self._lock:
                self._timed(phase, started)

        return timed

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
        """All due months in one round per step: every month exported (the hot figures of all of them
        from one scan), then all dropped (one re-check, one clean-up of the duplicate-check ids, the
        partition drops), then the derived rows of all their people recomputed once."""
        run_started = time.perf_counter()
        drop_checked_stages(self.platform)  # a killed run's file writers (cold.py, `write_checked`)
        months = self.due_months()
        states = {month: self._state(month) for month in months}
        exporting = [m for m in months if states[m] == "exporting"]
        if exporting:
            self.export_months(exporting)
            states.update(dict.fromkeys(exporting, "exported"))
        exported = [m for m in months if states[m] == "exported"]
        if exported:
            started = time.perf_counter()
            self.drop_hot_months(exported)
            self._timed("drop", started)
        self.outcome.months.extend(months)
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

    def hot_figures_of(self, months: list[int]) -> dict[tuple[str, int], tuple[int, str]]:
        """(rows, key checksum) per (tenant, month) of these months' hot rows: one scan for all, of
        every column but `properties` (whose checksum comes from the read that writes the file,
        `write_checked`). The same scan notes each month's latest arrival (`self.recent_ids`): a
        month none of whose rows arrived within `ID_DAYS` has no id left in `event_ids` (its TTL),
        so nothing to note there."""
        rows = self.platform.query(
            f"SELECT tenant_id, toUInt32(toYYYYMM(timestamp)) AS month, count(), {KEY_CHECKSUM}, "
            "max(received_at) >= now() - toIntervalDay({id_days:UInt32}) "
            f"FROM {self.events} "
            "WHERE toYYYYMM(timestamp) IN {months:Array(UInt32)} GROUP BY tenant_id, month ORDER BY tenant_id, month",
            {"months": months, "id_days": ID_DAYS},
            settings=UNLIMITED,
        ).rows
        for r in rows:
            month = int(r[1])
            self.recent_ids[month] = self.recent_ids.get(month, False) or bool(r[4])
        return {(str(r[0]), int(r[1])): (int(r[2]), _norm(str(r[3]))) for r in rows}

    def hot_counts_of(self, months: list[int]) -> dict[tuple[str, int], int]:
        """Rows per (tenant, month): the re-check before a drop (whole parts: read from their counts)."""
        rows = self.platform.query(
            f"SELECT tenant_id, toUInt32(toYYYYMM(timestamp)) AS month, count() FROM {self.events} "
            "WHERE toYYYYMM(timestamp) IN {months:Array(UInt32)} GROUP BY tenant_id, month",
            {"months": months},
            settings=UNLIMITED,
        ).rows
        return {(str(r[0]), int(r[1])): int(r[2]) for r in rows}

    def staging(self, month: int) -> str:
        return self.core.warehouse.table(f"lifecycle_people_{int(month)}")

    def id_staging(self, month: int) -> str:
        return self.core.warehouse.table(f"lifecycle_ids_{int(month)}")

    def taxonomy_staging(self, month: int) -> str:
        return self.core.warehouse.table(f"lifecycle_taxonomy_{int(month)}")

    def export_months(self, months: list[int]) -> None:
        """Step 1 for these months: every (tenant, month) file written and checked, the months' people
        noted; then each month is `exported`."""
        started = time.perf_counter()
        figures = self.hot_figures_of(months)
        # The files and the months' notes side by side, three statements at a time (each a scan of
        # its rows in the warehouse; the notes read the same rows as the files and nothing the files
        # change, and the Parquet writer leaves part of the cores idle): the files first.
        work = [
            self._named("export_and_verify.files", partial(self.export_tenant, tenant_id, month, hot))
            for (tenant_id, month), hot in figures.items()
        ]
        work += [self._named("note_people.months", partial(self.note_month, month)) for month in months]
        _together(work, workers=3)
        self._timed("export_verify_and_note", started)
        for month in months:
            rows = sum(n for (_, m), (n, _) in figures.items() if m == month)
            self._set_state(month, "exported", rows)

    def note_month(self, month: int) -> None:
        """What step 3 needs of the month, noted before its partition goes: its people, the ids the
        duplicate check still holds, its contributions to the taxonomy."""
        staging = self.staging(month)
        self.platform.command(f"DROP TABLE IF EXISTS {staging}")
        self.platform.command(
            f"CREATE TABLE {staging} ENGINE = MergeTree ORDER BY (tenant_id, distinct_id) AS "
            f"SELECT DISTINCT tenant_id, distinct_id FROM {self.events} WHERE toYYYYMM(timestamp) = {{m:UInt32}}",
            {"m": month},
        )
        # The ids of the month's rows the duplicate check still holds: only those received within
        # its 7 days (a bulk load or backfill of history), with their arrival (the delete reads only
        # the `event_ids` partitions from the earliest one on). None in the steady state, where a
        # month leaves the hot tier about a year after its events arrived: then the hot figures'
        # scan saw no recent arrival and this scan of the month is skipped altogether.
        ids = self.id_staging(month)
        self.platform.command(f"DROP TABLE IF EXISTS {ids}")
        if self.recent_ids.get(month, True):
            self.platform.command(
                f"CREATE TABLE {ids} ENGINE = MergeTree ORDER BY event_id AS "
                f"SELECT event_id, toDateTime(received_at) AS received_at FROM {self.events} "
                f"WHERE toYYYYMM(timestamp) = {{m:UInt32}} AND received_at >= now() - INTERVAL {ID_DAYS} DAY",
                {"m": month},
            )
        # What the month's rows contribute to each taxonomy row (event, path, type): subtracted
        # from the table once they left the hot tier, instead of refilling it from every event.
        taxonomy = self.taxonomy_staging(month)
        self.platform.command(f"DROP TABLE IF EXISTS {taxonomy}")
        self.platform.command(
            # Grouped by each row's whole set of paths first (a handful per event name), then that
            # small result spread over its paths: the same figures without multiplying every row by
            # its paths (0.16 s of CPU against 0.21 s for 233k rows).
            f"CREATE TABLE {taxonomy} ENGINE = MergeTree ORDER BY (tenant_id, event, key, type) AS "
            "SELECT tenant_id, event, kv.1 AS key, kv.2 AS type, sum(n) AS events, min(first) AS first_seen, "
            "max(last) AS last_seen FROM (SELECT tenant_id, event, JSONAllPathsWithTypes(properties) AS paths, "
            f"count() AS n, min(timestamp) AS first, max(timestamp) AS last FROM {self.events} "
            "WHERE toYYYYMM(timestamp) = {m:UInt32} GROUP BY tenant_id, event, paths) "
            "ARRAY JOIN paths AS kv GROUP BY tenant_id, event, key, type",
            {"m": month},
        )

    def export_tenant(self, tenant_id: str, month: int, hot: tuple[int, str]) -> None:
        """The tenant's month as a checked cold file. `hot` is (rows, key checksum) of its hot rows.

        The file is accepted when its own figures, read back, match both the figures of the read
        that wrote it (rows, and the checksum of every row's whole content, properties as JSON text)
        and the hot scan's (rows, and the key checksum of every column but properties)."""
        scope = self.core.warehouse.for_tenant(tenant_id, background=True)
        key = cold_key(month)
        with self.core.metadata.session() as session:
            entry = session.get(ColdFile, (tenant_id, month))
            recorded = (entry.rows, _norm(entry.checksum)) if entry is not None else None
        stored = None
        if recorded is not None and self.core.storage.info(tenant_id, key) is not None:
            n, checksum, keys = file_figures_keyed(scope, local_path(self.core, tenant_id, key))
            stored = (n, _norm(checksum))
            if stored == recorded and (n, _norm(keys)) == hot:
                return  # written by an earlier attempt of this month
        where = "toYYYYMM(timestamp) = {m:UInt32}"
        if recorded is not None and stored is not None and stored[0] in (recorded[0], recorded[0] + hot[0]):
            # The month was tiered before and came back (a changed hot window; rare): the hot rows'
            # whole checksum read as before, to expect the file with both.
            hot_whole = self._hot_checksum(scope, month)
            merged = (recorded[0] + hot_whole[0], _add(recorded[1], hot_whole[1]))
            if stored == merged:
                self._record(tenant_id, month, stored)  # merged and stored, then killed before the record
                return
            if stored == recorded:
                self._export_merged(scope, tenant_id, month, merged, hot_whole[0])
                return
        target = work_dir(self.core) / f"{tenant_id}-{month}-tier.parquet"
        read = write_checked(scope, self.events, where, {"m": month}, target)
        written = file_figures_keyed(scope, target)
        if (read[0], _norm(read[1])) != (written[0], _norm(written[1])) or (written[0], _norm(written[2])) != hot:
            target.unlink(missing_ok=True)
            raise RuntimeError(f"cold file of {tenant_id} {month}: file {written}, read {read}, hot {hot}; hot kept")
        self._store(tenant_id, month, target, (written[0], _norm(written[1])), hot[0])

    def _hot_checksum(self, scope: TenantScope, month: int) -> tuple[int, str]:
        row = scope.query(
            f"SELECT {CHECKSUM} FROM {self.events} WHERE tenant_id = {{tenant_id:String}} "
            "AND toYYYYMM(timestamp) = {m:UInt32}",
            {"m": month},
            settings=UNLIMITED,
        ).rows[0]
        return int(row[0]), _norm(str(row[1]))

    def _export_merged(
        self, scope: TenantScope, tenant_id: str, month: int, expected: tuple[int, str], moved: int
    ) -> None:
        """One file with the stored cold rows and the month's hot rows (both as JSON text)."""
        columns = ", ".join(COLD_COLUMNS)
        hot_columns = columns.replace("properties", "toJSONString(properties) AS properties")
        source = (
            f"(SELECT {hot_columns} FROM {self.events} WHERE tenant_id = {{tenant_id:String}} "
            "AND toYYYYMM(timestamp) = {m:UInt32} UNION ALL "
            f"SELECT {columns} FROM file({{src:String}}, 'Parquet', {{schema:String}}))"
        )
        params: dict[str, Any] = {
            "m": month,
            "src": str(local_path(self.core, tenant_id, cold_key(month))),
            "schema": FIGURES_SCHEMA,
        }
        target = work_dir(self.core) / f"{tenant_id}-{month}-tier.parquet"
        write_parquet(scope, source, "1", params, target)
        n, checksum, _ = file_figures_keyed(scope, target)
        if (n, _norm(checksum)) != expected:
            target.unlink(missing_ok=True)
            raise RuntimeError(f"cold file of {tenant_id} {month}: wrote {n, checksum}, expected {expected}; hot kept")
        self._store(tenant_id, month, target, (n, _norm(checksum)), moved)

    def _store(self, tenant_id: str, month: int, target: Path, figures: tuple[int, str], moved: int) -> None:
        key = cold_key(month)
        size = target.stat().st_size
        if isinstance(self.core.storage, LocalStorage):
            self.core.storage.put_file(tenant_id, key, target)
        else:
            cached = local_path(self.core, tenant_id, key)  # refreshed below from the upload
            cached.unlink(missing_ok=True)
            self.core.storage.put_file(tenant_id, key, target)
        self._record(tenant_id, month, figures, size)
        with self._lock:
            self.outcome.rows_moved += moved
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

    def drop_hot_months(self, months: list[int]) -> None:
        """Step 2 for these (exported) months, in one round: check nothing arrived since their export
        (row counts), drop their partitions; then each month is `dropped`."""
        hot = self.hot_counts_of(months)
        with self.core.metadata.session() as session:
            files = {
                (f.tenant_id, f.month): f.rows
                for f in session.scalars(select(ColdFile).where(ColdFile.month.in_(months)))
            }
        changed = sorted({m for key, n in hot.items() if files.get(key, -1) < n for m in [key[1]]})
        if changed:
            # Rows arrived after the export: export again before anything is dropped.
            for month in changed:
                self._set_state(month, "exporting")
            raise RuntimeError(f"months {changed} changed after their export; run again")
        # One ALTER per table naming every month (25 statements before, 0.2 s at 10M events), the
        # tables side by side: each drop is its own, repeated harmlessly after a kill (the months
        # stay `exported` until all are done). person_hours (migration 1800) is partitioned by the
        # UTC month of its hour, like events.
        drops = ", ".join(f"DROP PARTITION ID '{int(month)}'" for month in months)
        tables = ("events", "metrics_daily", "metrics_by_property", "metrics_by_property_days", "person_hours")
        alters = [f"ALTER TABLE {self.core.warehouse.table(table)} {drops}" for table in tables]
        _together([partial(self.platform.command, alter) for alter in alters], workers=len(alters))
        # Cached answers of these tenants were computed from the hot rows: their reads now span both tiers.
        bump_data_version(self.core.cache, sorted({tenant for tenant, _ in hot}))
        for month in months:
            self._set_state(month, "dropped")

    def finish_dropped(self) -> None:
        """For every month dropped (this run or a run cut short), once for all of them:

        - without holding inserts (each statement removes rows that describe the dropped months only,
          judged row by row, so a row an insert adds meanwhile is never touched): the months' days
          leave the daily rollup; the noted ids leave `event_ids`; every `person_properties` row
          whose latest value is older than the hot tier goes (`COLD_ONLY`: the other rows already
          hold the right value, a hot one being later than any cold one);
        - the first hot sighting of each taxonomy row the months touched (tiered_taxonomy.py);
        - with inserts held (`writer.exclusive`: an insert landing between a delete and its refill
          would be counted twice): the taxonomy rows the months touched replaced by the table's
          figures less theirs, `persons` of the months' people computed again from the hot events,
          and `person_weeks`' old partitions dropped with the week straddling into the hot tier
          computed again;

        then the months are done and their staging tables go."""
        with self.core.metadata.session() as session:
            months = sorted(session.scalars(select(TieredMonth.month).where(TieredMonth.state == "dropped")))
        if not months:
            return
        boundary = month_start(datetime(max(months) // 100, max(months) % 100, 1, tzinfo=UTC), -1)
        existing = {
            str(r[0])
            for r in self.platform.query(
                "SELECT name FROM system.tables WHERE database = {db:String} AND name LIKE 'lifecycle\\\\_%'",
                {"db": self.core.warehouse.database},
                settings=UNLIMITED,
            ).rows
        }
        stagings = [self.staging(m) for m in months if f"lifecycle_people_{int(m)}" in existing]
        id_stagings = [self.id_staging(m) for m in months if f"lifecycle_ids_{int(m)}" in existing]
        taxonomy_stagings = [self.taxonomy_staging(m) for m in months if f"lifecycle_taxonomy_{int(m)}" in existing]

        # The cold rows' deletes run beside the taxonomy search below (both before the gate, neither
        # reading what the other writes): the round costs the longer of the two, not their sum.
        cold_rows_started = time.perf_counter()
        deletes = self.cold_row_deletes(months, boundary, id_stagings)
        pool = ThreadPoolExecutor(max_workers=max(1, min(4, len(deletes))), thread_name_prefix="tiering-cold")
        pending = [pool.submit(item) for item in deletes]
        waited: list[bool] = []

        def cold_rows_done() -> None:
            if waited:
                return
            waited.append(True)
            try:
                for future in pending:
                    future.result()
            finally:
                pool.shutdown(wait=True)
            self._timed("derived_cold_rows", cold_rows_started)

        # The cold rows' deletes run on through the gated round too (since 2026-12-07): neither that
        # round nor the taxonomy search reads or writes `person_properties` or `event_ids`, and the
        # deletes judge row by row, so the rows the gated round or an insert adds are never touched.
        # They are awaited before any month is `done` (a kill before: the next run deletes again).
        try:
            tenants, plans, begun, marker = self._search_taxonomy(stagings, taxonomy_stagings, boundary)
            self._gated(months, stagings, taxonomy_stagings, tenants, plans, begun, marker, cold_rows_done)
        finally:
            cold_rows_done()

    def _search_taxonomy(
        self, stagings: list[str], taxonomy_stagings: list[str], boundary: datetime
    ) -> tuple[list[str], dict[str, tuple[dict[Any, Any], dict[Any, str]]], set[str], str]:
        """The tenants of the months, the taxonomy plan of each (its rows the months touched, their
        first hot sightings), the tenants an earlier attempt began to replace, and the marker table."""
        started = time.perf_counter()
        tenants = self.tenants_of(stagings + taxonomy_stagings)
        plans: dict[str, tuple[dict[Any, Any], dict[Any, str]]] = {}
        # The tenants whose taxonomy an earlier attempt began to replace: subtracting again would
        # subtract twice, so theirs is refilled from the hot events instead (exact, slower; rare).
        marker = self.core.warehouse.table("lifecycle_taxonomy_replacing")
        self.platform.command(
            f"CREATE TABLE IF NOT EXISTS {marker} (tenant_id String) ENGINE = MergeTree ORDER BY tenant_id"
        )
        begun = {str(r[0]) for r in self.platform.query(f"SELECT DISTINCT tenant_id FROM {marker}").rows}
        if taxonomy_stagings:
            for tenant_id in (t for t in tenants if t not in begun):
                scope = self.core.warehouse.for_tenant(tenant_id, background=True)
                removed = contributions(scope, taxonomy_stagings)
                plans[tenant_id] = (removed, first_hot_sightings(scope, sorted(removed), boundary))
        self._timed("derived_taxonomy_search", started)
        return tenants, plans, begun, marker

    def _gated(
        self,
        months: list[int],
        stagings: list[str],
        taxonomy_stagings: list[str],
        tenants: list[str],
        plans: dict[str, tuple[dict[Any, Any], dict[Any, str]]],
        begun: set[str],
        marker: str,
        before_done: Callable[[], None] = lambda: None,
    ) -> None:
        """The rows recomputed with inserts held (see `finish_dropped`); then, once `before_done`
        returned, the months are done."""

        people = " UNION DISTINCT ".join(
            f"SELECT distinct_id FROM {t} WHERE tenant_id = {{tenant_id:String}}" for t in stagings
        )
        started = time.perf_counter()
        with self.core.writer.exclusive("lifecycle tiering: derived rows of the months moved"):
            held = time.perf_counter()
            drop_stale_stages(self.swap_platform)
            if plans:
                self.platform.command(
                    f"INSERT INTO {marker} SELECT arrayJoin({{tenants:Array(String)}})", {"tenants": sorted(plans)}
                )
            work: list[Callable[[], Any]] = [
                self._named("derived_gated.person_weeks", self.refill_weeks),
                self._named("derived_gated.metrics_monthly", partial(self.replace_cold_days, months)),
            ]
            for tenant_id in tenants:
                scope = self.core.warehouse.for_tenant(tenant_id, background=True)
                if people:
                    work.append(self._named("derived_gated.persons", partial(rebuild_persons, scope, people)))
                if tenant_id in plans:
                    removed, firsts = plans[tenant_id]
                    # Read with inserts held: nothing lands between this reading and the replacing.
                    # Without the months' figures (a run of an older version) the whole taxonomy.
                    work.append(
                        self._named("derived_gated.taxonomy", partial(self._replace_taxonomy, scope, removed, firsts))
                    )
                elif not taxonomy_stagings or tenant_id in begun:
                    work.append(partial(refill_taxonomy, scope))
            _together(work)
            self.outcome.phases["insert_gate_held"] = time.perf_counter() - held
        self._timed("derived_gated", started)
        before_done()
        for month in months:
            for table in (self.staging(month), self.id_staging(month), self.taxonomy_staging(month)):
                self.platform.command(f"DROP TABLE IF EXISTS {table}")
            self._set_state(month, "done")
        self.platform.command(f"DROP TABLE IF EXISTS {marker}")

    def _replace_taxonomy(self, scope: TenantScope, removed: dict[Any, Any], firsts: dict[Any, str]) -> None:
        replace_rows(scope, sorted(removed), after_tiering(scope, removed, firsts))

    def tenants_of(self, stagings: Sequence[str]) -> list[str]:
        if not stagings:
            return []
        union = " UNION ALL ".join(f"SELECT DISTINCT tenant_id FROM {t}" for t in stagings)
        return sorted(
            str(r[0]) for r in self.platform.query(f"SELECT DISTINCT tenant_id FROM ({union})", settings=UNLIMITED).rows
        )

    def cold_row_deletes(
        self, months: list[int], boundary: datetime, id_stagings: Sequence[str]
    ) -> list[Callable[[], Any]]:
        """The statements removing derived rows that describe the dropped months only (row by row:
        safe beside inserts, which add rows of hot events only)."""
        deletes: list[Callable[[], Any]] = []
        event_ids = self.event_ids_delete(id_stagings)
        if event_ids is not None:
            deletes.append(self._named("derived_cold_rows.event_ids", event_ids))
        # A lightweight DELETE (the rows masked at once, gone at the next merge): the condition is
        # read once and only a mask is written, where the mutation rewrote every part of the table
        # (5.9 s of the cold-rows round at 10M events). Erasure, which must remove bytes, still
        # mutates; these rows hold nothing an erasure has not already dealt with.
        properties = self.core.warehouse.table("person_properties")
        deletes.append(
            self._named(
                "derived_cold_rows.person_properties",
                partial(
                    self.platform.command,
                    f"DELETE FROM {properties} WHERE {COLD_ONLY} SETTINGS lightweight_deletes_sync = 2",
                    {"boundary": boundary},
                ),
            )
        )
        return deletes

    def event_ids_delete(self, id_stagings: Sequence[str]) -> Callable[[], Any] | None:
        """The statement removing the noted duplicate-check ids from `event_ids`, or None when none
        of them can still be there. Such an id can never come back (ingest refuses events older than
        the hot window) and `event_ids` forgets every id after 7 days anyway, so a lightweight DELETE
        (rows masked, gone at the next merge) is enough. Checked first, cheaply: noted ids at all
        (none when the months' rows arrived long ago), then whether `event_ids` holds any row that
        arrived at or after the earliest noted arrival (its partitions are days of arrival: a read of
        the matching partitions' `received_at` only). The delete reads those partitions only."""
        if not id_stagings:
            return None
        # A staging table noted by an earlier version has no arrival: read as the epoch (no pruning).
        with_arrival = {
            str(r[0])
            for r in self.platform.query(
                "SELECT table FROM system.columns WHERE database = {db:String} AND name = 'received_at' "
                "AND table LIKE 'lifecycle\\\\_ids\\\\_%'",
                {"db": self.core.warehouse.database},
                settings=UNLIMITED,
            ).rows
        }

        def arrival(staging: str) -> str:
            return "toUnixTimestamp(received_at)" if staging.rsplit(".", 1)[-1].strip("`") in with_arrival else "0"

        noted = " UNION ALL ".join(f"SELECT {arrival(t)} AS arrived FROM {t}" for t in id_stagings)
        found = self.platform.query(f"SELECT count(), min(arrived) FROM ({noted})", settings=UNLIMITED).rows[0]
        if not int(found[0]):
            return None
        table = self.core.warehouse.table("event_ids")
        since = "received_at >= toDateTime({since:UInt32}, 'UTC')"
        params = {"since": int(found[1])}
        if not self.platform.query(f"SELECT count() FROM {table} WHERE {since}", params, settings=UNLIMITED).scalar():
            return None
        ids = " UNION ALL ".join(f"SELECT event_id FROM {t}" for t in id_stagings)
        return partial(
            self.platform.command,
            f"DELETE FROM {table} WHERE {since} AND event_id IN ({ids}) SETTINGS lightweight_deletes_sync = 2",
            params,
        )

    def replace_cold_days(self, months: list[int]) -> None:
        """metrics_monthly (partitioned by year) loses the days of the dropped months: each year
        partition holding such days is rebuilt without them and swapped in (lifecycle/swap.py; a
        partition of those days only is dropped). Run with inserts held: an insert into the year
        of the hot tier between the copy and the swap would be lost. The table is small (a row per
        tenant, event and day), so the copy costs less than the mutation it replaces, which waited
        behind the background merges (4.7 s at 10M events)."""
        monthly = self.core.warehouse.table("metrics_monthly")
        in_months = "toYYYYMM(day) IN {months:Array(UInt32)}"
        years = [
            str(r[0])
            for r in self.platform.query(
                f"SELECT DISTINCT _partition_id FROM {monthly} WHERE {in_months}",
                {"months": months},
                settings=UNLIMITED,
            ).rows
        ]
        swap_partitions(self.swap_platform, monthly, sorted(years), f"NOT ({in_months})", [], {"months": months})

    def refill_weeks(self) -> None:
        """person_weeks' partitions before the hot tier dropped whole, and the week straddling into
        the hot tier computed again (run with inserts held: the refill counts the hot events of
        that week, whose views wrote into the dropped partition)."""
        boundary = self.drop_old_weeks()
        if boundary is not None:
            self.platform.command(
                person_weeks_insert(
                    self.core.warehouse.table("person_weeks"), self.events, "toMonday(timestamp) = {week:Date}"
                ),
                {"week": boundary},
            )

    def drop_old_weeks(self) -> date | None:
        """person_weeks is partitioned by the month of its week's Monday: every partition before the
        oldest month still in `events` describes cold rows only and is dropped whole (no mutation),
        except that the week straddling into that month also holds hot events. Its rows (in the last
        partition dropped) are computed again from `events`: the week returned, if any."""
        oldest = cold_partition_limit(self.now, self.core.settings.hot_retention_months)
        first = self.platform.query(
            "SELECT min(toUInt32(partition)) FROM system.parts WHERE database = {db:String} AND table = 'events' "
            "AND active AND toUInt32OrZero(partition) > 0",
            {"db": self.core.warehouse.database},
            settings=UNLIMITED,
        ).scalar()
        if first:
            oldest = min(oldest, int(first))
        weeks = self.core.warehouse.table("person_weeks")
        partitions = self.platform.query(
            "SELECT DISTINCT partition FROM system.parts WHERE database = {db:String} AND table = 'person_weeks' "
            "AND active AND toUInt32OrZero(partition) BETWEEN 1 AND {oldest:UInt32} - 1",
            {"db": self.core.warehouse.database, "oldest": oldest},
            settings=UNLIMITED,
        ).rows
        for (partition,) in partitions:
            self.platform.command(f"ALTER TABLE {weeks} DROP PARTITION ID '{int(partition)}'")
        start = date(oldest // 100, oldest % 100, 1)
        monday = start - timedelta(days=start.weekday())
        return monday if monday < start else None

    # --- cold retention ----------------------------------------------------------------------------
    def expire(self) -> None:
        limit = cold_expiry_limit(self.now, self.core.settings.cold_retention_years)
        with self.core.metadata.session() as session:
            old = list(session.scalars(select(ColdFile).where(ColdFile.month < limit)))
            for entry in old:
                self.core.storage.delete(entry.tenant_id, entry.key)
                session.delete(entry)
                self.outcome.files_expired += 1
