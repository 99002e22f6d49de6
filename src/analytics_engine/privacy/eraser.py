"""One erasure, store by store, resumable: the job's state lives in `ErasureRequest.progress`, so a
process killed at any point and the job run again (the runner's lease recovery) continues where it
stopped; a step done twice finds nothing more to remove.

Order: resolve the ids (once), note the (event, day) buckets they touch, count every store, then
the duplicate-check ids (found through the events, so before them), the events, the derived tables
(recomputed), cohort members, rejected events, synced tables, cold Parquet files, stored files, the
cache, the suppression list; last the receipt, counted again and signed.

Physical removal: `ALTER TABLE ... DELETE` with `mutations_sync = 2`, a mutation that rewrites every
part holding a matching row and returns when it finished (docs/privacy.md says why not a lightweight
DELETE, which only masks rows until a later merge)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import structlog

from analytics_engine.cache import bump_data_version, forget_kept_answers
from analytics_engine.ingest.validation import format_ms
from analytics_engine.jobs.context import JobContext
from analytics_engine.lifecycle.cold import (
    FIGURES_SCHEMA,
    cold_files,
    file_figures,
    local_path,
    replace_cold_file,
    work_dir,
    write_parquet,
)
from analytics_engine.lifecycle.derived import (
    MUTATION,
    UNLIMITED,
    Affected,
    affected_by,
    pairs_condition,
    people_deletes,
    rebuild,
    rebuild_people,
    run_together,
    taxonomy_after_removal,
)
from analytics_engine.lifecycle.reads import cold_glob
from analytics_engine.lifecycle.swap import REASON as SWAP_REASON
from analytics_engine.lifecycle.swap import drop_stale_stages, replace_day_buckets, replace_taxonomy_rows
from analytics_engine.materialized.rollup import replace_day_rows as replace_property_rollup_rows
from analytics_engine.personids.erasure import erase_from_bitmaps
from analytics_engine.privacy.files import FileEraser
from analytics_engine.privacy.models import ErasureRequest, Suppression
from analytics_engine.privacy.receipt import load_receipt_key, sign, subject_hash
from analytics_engine.privacy.schemas import Receipt
from analytics_engine.privacy.suppression import forget as forget_suppressions

if TYPE_CHECKING:
    from analytics_engine.core import Core
    from analytics_engine.warehouse.scoped import TenantScope

log = structlog.get_logger(__name__)

IDS = "{ids:Array(String)}"
PEOPLE_SQL = "SELECT arrayJoin({people:Array(String)})"
CUTOFF = "{cutoff:DateTime64(3, 'UTC')}"
EVENT_MATCH = f"has({IDS}, distinct_id) AND received_at <= {CUTOFF}"
METHOD = (
    "ALTER TABLE ... DELETE ... SETTINGS mutations_sync = 2 (a mutation: every part holding a matching row is "
    "rewritten without it before the statement returns); derived tables recomputed from events for the "
    "affected people and (event, day) buckets; cold Parquet files rewritten without the rows"
)


@dataclass(frozen=True)
class TableStore:
    """A warehouse table and the condition that finds the person's rows in it."""

    name: str
    table: str
    match: str
    action: str = "deleted"


def _event_ids_match(events: str) -> str:
    return f"event_id IN (SELECT event_id FROM {events} WHERE tenant_id = {{tenant_id:String}} AND {EVENT_MATCH})"


PERSON_STORES = (
    TableStore("persons", "persons", f"has({IDS}, distinct_id)", "recomputed"),
    TableStore("person_properties", "person_properties", f"has({IDS}, distinct_id)", "recomputed"),
    TableStore("person_weeks", "person_weeks", f"has(arrayMap(x -> cityHash64(x), {IDS}), person_key)", "recomputed"),
    # The id mapping: deleted (a person with events kept after the cut-off gets a new id).
    TableStore("person_ids", "person_ids", f"has({IDS}, distinct_id)", "recomputed"),
)
OTHER_STORES = (
    TableStore("cohort_users", "cohort_users", f"has({IDS}, distinct_id)"),
    TableStore("rejected_events", "rejected_events", "multiSearchAny(payload, {needles:Array(String)})"),
)


# Rollups hold no person, only sketches and counts: their check is that every recomputed bucket
# agrees with `events` again.
def _escaped(sql: str) -> str:
    return sql.replace("{", "{{").replace("}", "}}")


ROLLUP_CHECK = (
    "SELECT count() FROM (SELECT event, toDate(hour) AS day, sum(events) AS n FROM {rollup} "
    f"WHERE tenant_id = {{{{tenant_id:String}}}} AND {_escaped(pairs_condition('event', 'toDate(hour)'))} "
    "GROUP BY event, day) AS r FULL OUTER JOIN (SELECT event, toDate(timestamp) AS day, count() AS n FROM {events} "
    f"WHERE tenant_id = {{{{tenant_id:String}}}} AND {_escaped(pairs_condition('event', 'toDate(timestamp)'))} "
    "GROUP BY event, day) AS e USING (event, day) WHERE r.n != e.n"
)


class Eraser:
    def __init__(self, core: Core, erasure_id: str, ctx: JobContext | None = None) -> None:
        self.core, self.erasure_id, self.ctx = core, erasure_id, ctx
        with core.metadata.session() as session:
            row = session.get(ErasureRequest, erasure_id)
            if row is None:
                raise LookupError(erasure_id)
            self.tenant_id = row.tenant_id
            self.selector = dict(row.selector)
            self.suppress = row.suppress
            self.requested_at = row.requested_at.replace(tzinfo=row.requested_at.tzinfo or UTC)
            self.progress: dict[str, Any] = json.loads(json.dumps(row.progress or {}))
            self.status = row.status
        self.scope: TenantScope = core.warehouse.for_tenant(self.tenant_id, background=True)
        self.events = self.scope.table("events")

    # --- durable state ---------------------------------------------------------------------------
    def _save(self, **values: Any) -> None:
        with self.core.metadata.session() as session:
            row = session.get(ErasureRequest, self.erasure_id)
            assert row is not None
            row.progress = json.loads(json.dumps(self.progress))
            for name, value in values.items():
                setattr(row, name, value)

    def _step(self, name: str, work: Callable[[], None]) -> None:
        done: list[str] = self.progress.setdefault("done", [])
        if name in done:
            return
        if self.ctx is not None:
            self.ctx.progress(len(done))
        started = time.perf_counter()
        work()
        # Seconds per step (kept after completion, with the steps done; `bench lifecycle` prints them).
        self.progress.setdefault("seconds", {})[name] = round(time.perf_counter() - started, 3)
        done.append(name)
        self._save()

    # --- parameters ------------------------------------------------------------------------------
    @property
    def ids(self) -> list[str]:
        return list(self.progress.get("ids", []))

    def params(self) -> dict[str, Any]:
        ids = self.ids
        return {
            "ids": ids,
            "needles": [json.dumps(i) for i in ids][:250],
            "cutoff": format_ms(int(self.requested_at.timestamp() * 1000)),
        }

    # --- the run ---------------------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        if self.status == "completed":
            return {"erasure_id": self.erasure_id, "status": "completed"}
        self._save(status="running")
        self._step("resolve", self._resolve)
        self._step("affected", self._affected)
        self._step("count", self._count_before)
        # The duplicate-check ids are found through the events: first, alone.
        self._step("event_ids", self._deleter(TableStore("event_ids", "event_ids", _event_ids_match(self.events))))
        # Then one round of mutations side by side: events, cohort members, rejected events, synced tables.
        self._step("removal", self._removal)
        # The erased people's own rows (persons, person properties, person weeks) first: only an
        # insert of those very people could race them (refused at ingest with suppression).
        self._step("people", self._people)
        # Then the taxonomy's rows are read, and every shared bucket (rollups, taxonomy keys) deleted
        # and computed again from `events`, with this process's inserts held: an insert landing in
        # between would be counted twice (its views' rows, then the recompute) or not at all.
        if not {"taxonomy", "derived", "person_hours"} <= set(self.progress.get("done", [])):
            with self.core.writer.exclusive("privacy erasure: shared derived rows of the erased people"):
                self._step("taxonomy", self._taxonomy)
                self._step("derived", self._shared_derived)
                # The erased people leave every person bitmap and lose their ids (personids/erasure.py).
                self._step("person_hours", self._person_hours)
        self.progress.setdefault("removed_at", datetime.now(UTC).isoformat())
        self._step("cold", self._cold)
        self._step("files", self._apply_files)
        self._step("cache", self._forget_cached)
        self._step("suppression", self._suppression)
        return self._finish()

    def _people(self) -> None:
        people = Affected.from_json(self.progress["affected"]).people
        if people:
            # Deleted in the `removal` round (progress of an older version: deleted here). Only the
            # first run of this step may skip the delete: a run again after a kill mid-refill deletes
            # first, or the rows the killed run inserted would be counted twice.
            deleted = bool(self.progress.get("people_deleted")) and not self.progress.get("people_refilling")
            self.progress["people_refilling"] = True
            self._save()
            rebuild_people(self.scope, PEOPLE_SQL, {"people": people}, deleted=deleted)

    def _shared_derived(self) -> None:
        """The shared buckets computed again: each affected partition of the rollups (and the
        taxonomy's one) rebuilt beside the table and swapped in (lifecycle/swap.py), no mutation.
        Progress saved before the `people` step existed, or a taxonomy that disagreed with the removed
        events' figures, takes the mutations and refills of `rebuild` instead."""
        affected = Affected.from_json(self.progress["affected"])
        # Progress saved before the `people` step existed has not recomputed them yet.
        if "people" in self.progress.get("done", []):
            affected.people = []
        if affected.people or affected.ids or (affected.days and (affected.keys is None or affected.taxonomy is None)):
            rebuild(self.scope, affected)
            return
        platform = self.core.warehouse.platform(SWAP_REASON)
        drop_stale_stages(platform)
        replace_day_buckets(platform, self.tenant_id, affected.days)
        replace_property_rollup_rows(platform, self.tenant_id, affected.days)
        if affected.keys:
            replace_taxonomy_rows(platform, self.tenant_id, affected.keys, affected.taxonomy or [])

    def _person_hours(self) -> None:
        affected = Affected.from_json(self.progress["affected"])
        erase_from_bitmaps(self.core.warehouse, self.tenant_id, affected.people, affected.days)

    def _forget_cached(self) -> None:
        """Every cached answer misses (a new data version), and the dashboards' last known answers,
        kept across versions, go (they were computed with the erased events)."""
        bump_data_version(self.core.cache, [self.tenant_id])
        forget_kept_answers(self.core.cache, [self.tenant_id])

    def _resolve(self) -> None:
        if "distinct_id" in self.selector:
            self.progress["ids"] = [str(self.selector["distinct_id"])]
            return
        found: set[str] | None = None
        table = self.scope.table("person_properties")
        for key, value in dict(self.selector["properties"]).items():
            rows = self.scope.query(
                f"SELECT distinct_id FROM {table} WHERE tenant_id = {{tenant_id:String}} AND key = {{key:String}} "
                "GROUP BY distinct_id HAVING argMaxMerge(value) = {value:String}",
                {"key": key, "value": json.dumps(value)},
                settings=UNLIMITED,
            ).rows
            people = {str(r[0]) for r in rows} | self._cold_people(key, value)
            found = people if found is None else found & people
        self.progress["ids"] = sorted(found or set())

    def _cold_people(self, key: str, value: Any) -> set[str]:
        """The people whose latest value of `key` is `value` in the cold tier, where a person left
        `person_properties` when their months moved there: the person's latest cold row holding the
        key decides, unless the person has a (later) hot value of it, which wins."""
        glob = cold_glob(self.core, self.tenant_id)
        if glob is None:
            return set()
        wanted = json.dumps(value)
        params = {"glob": glob, "schema": FIGURES_SCHEMA, "key": key, "value": wanted}
        rows = self.scope.query(
            "SELECT distinct_id FROM file({glob:String}, 'Parquet', {schema:String}) "
            "WHERE tenant_id = {tenant_id:String} AND JSONHas(properties, {key:String}) GROUP BY distinct_id "
            "HAVING argMax(JSONExtractRaw(properties, {key:String}), timestamp) = {value:String}",
            params,
            settings=UNLIMITED,
        ).rows
        people = {str(r[0]) for r in rows}
        if not people:
            return people
        hot = self.scope.query(
            f"SELECT distinct_id, argMaxMerge(value) FROM {self.scope.table('person_properties')} "
            "WHERE tenant_id = {tenant_id:String} AND key = {key:String} AND has({people:Array(String)}, distinct_id) "
            "GROUP BY distinct_id",
            {"key": key, "people": sorted(people)},
            settings=UNLIMITED,
        ).rows
        later = {str(r[0]) for r in hot if str(r[1]) != wanted}
        return people - later

    def _affected(self) -> None:
        affected = affected_by(self.scope, EVENT_MATCH, self.params()) if self.ids else Affected()
        affected.people = sorted(set(affected.people) | set(self.ids))
        self.progress["affected"] = affected.as_json()

    def _taxonomy(self) -> None:
        """The taxonomy rows of the removed events' keys, from the table less what they contributed
        (noted in `affected` before the removal), saved before the derived step replaces them: a
        repeat of that step inserts the same rows. Without figures (progress of an older version) or
        when the table disagrees, the derived step computes the keys again from the events."""
        affected = Affected.from_json(self.progress["affected"])
        if affected.removed is None or affected.taxonomy is not None:
            return
        rows = taxonomy_after_removal(self.scope, affected.removed)
        if rows is not None:
            self.progress["affected"]["taxonomy"] = rows

    def _stores(self) -> list[TableStore]:
        return [
            TableStore("event_ids", "event_ids", _event_ids_match(self.events)),
            TableStore("events", "events", EVENT_MATCH),
            *PERSON_STORES,
            *OTHER_STORES,
            *self._sync_stores(),
        ]

    def _count(self, store: TableStore) -> int:
        if not self.ids:
            return 0
        sql = (
            f"SELECT count() FROM {self.scope.table(store.table)} WHERE tenant_id = {{tenant_id:String}} "
            f"AND ({store.match})"
        )
        return int(self.scope.query(sql, self.params(), settings=UNLIMITED).scalar() or 0)

    def _count_before(self) -> None:
        before = {store.name: self._count(store) for store in self._stores()}
        before["cold_files"] = sum(self._cold_hits().values())
        before["stored_files"] = len(self._files(apply=False))
        self.progress["before"] = before

    def _deleter(self, store: TableStore) -> Callable[[], None]:
        return lambda: run_together(self.scope, self._deletes([store]))

    def _deletes(self, stores: list[TableStore]) -> list[tuple[str, dict[str, Any]]]:
        """The mutations removing the person from these stores (none where nothing was found)."""
        if not self.ids:
            return []
        before: dict[str, int] = self.progress.get("before", {})
        return [
            (
                f"ALTER TABLE {self.scope.table(store.table)} DELETE WHERE tenant_id = {{tenant_id:String}} "
                f"AND ({store.match}) {MUTATION}",
                self.params(),
            )
            for store in stores
            if before.get(store.name, 1)
        ]

    def _removal(self) -> None:
        """One round of mutations side by side: the events and the other stores, and the erased
        people's own derived rows (the `people` step then only refills those from the events left:
        one round less, the `person_weeks` rewrite overlapping the `events` one)."""
        stores = [TableStore("events", "events", EVENT_MATCH), *OTHER_STORES, *self._sync_stores()]
        people = Affected.from_json(self.progress["affected"]).people
        deletes = self._deletes(stores)
        if people:
            deletes += people_deletes(self.scope, PEOPLE_SQL, {"people": people})
        run_together(self.scope, deletes)
        self.progress["people_deleted"] = bool(people)

    # --- synced tables ---------------------------------------------------------------------------
    def _sync_stores(self) -> list[TableStore]:
        """Each sync table target (comment `analytics-engine sync source ...`), matched on its text columns."""
        platform = self.core.warehouse.platform("privacy erasure: find the sync tables holding text columns")
        rows = platform.query(
            "SELECT c.table, groupArray(c.name) FROM system.columns AS c INNER JOIN system.tables AS t "
            "ON t.database = c.database AND t.name = c.table WHERE c.database = {db:String} "
            "AND t.comment LIKE 'analytics-engine sync source %' AND c.name NOT IN ('tenant_id') "
            "AND c.name NOT LIKE '\\_%' AND match(c.type, '^(Nullable\\\\()?(LowCardinality\\\\()?String') "
            "GROUP BY c.table ORDER BY c.table",
            {"db": self.core.warehouse.database},
            settings=UNLIMITED,
        ).rows
        stores = []
        for table, columns in rows:
            names = [str(c) for c in columns if str(c).replace("_", "").isalnum()]
            if names and str(table).replace("_", "").isalnum():
                match = " OR ".join(f"has({IDS}, ifNull(toString(`{name}`), ''))" for name in names)
                stores.append(TableStore(f"synced:{table}", str(table), match))
        return stores

    # --- cold files ------------------------------------------------------------------------------
    def _cold_hits(self) -> dict[int, int]:
        if not self.ids:
            return {}
        hits = {}
        for entry in cold_files(self.core, self.tenant_id):
            path = local_path(self.core, self.tenant_id, entry.key)
            if path.exists():
                hits[entry.month] = file_figures(self.scope, path, EVENT_MATCH, self.params())[0]
        return {month: n for month, n in hits.items() if n}

    def _cold(self) -> None:
        params = self.params()
        for entry in cold_files(self.core, self.tenant_id):
            path = local_path(self.core, self.tenant_id, entry.key)
            if not path.exists() or not self.ids:
                continue
            found = file_figures(self.scope, path, EVENT_MATCH, params)[0]
            if found:
                target = work_dir(self.core) / f"{self.tenant_id}-{entry.month}-erase.parquet"
                write_parquet(
                    self.scope,
                    "file({src:String}, 'Parquet')",
                    f"NOT ({EVENT_MATCH})",
                    {**params, "src": str(path)},
                    target,
                )
                rows, checksum = file_figures(self.scope, target)
                total = file_figures(self.scope, path)[0]
                if rows != total - found:
                    raise RuntimeError(f"cold file {entry.key}: {rows} rows written, {total - found} expected")
                replace_cold_file(self.core, self.tenant_id, entry.month, target, rows, checksum)
            else:
                # A rewrite stored before a kill but not yet recorded: record what the file holds.
                rows, checksum = file_figures(self.scope, path)
                if (rows, checksum) != (entry.rows, entry.checksum):
                    replace_cold_figures(self.core, self.tenant_id, entry.month, rows, checksum, path.stat().st_size)

    # --- stored files ----------------------------------------------------------------------------
    def _apply_files(self) -> None:
        self._files(apply=True)

    def _files(self, *, apply: bool) -> list[dict[str, Any]]:
        if not self.ids:
            return []
        hits = FileEraser(self.core, self.tenant_id, self.ids).scan(apply=apply)
        found = [{"key": hit.key, "rows": hit.rows, "action": hit.action} for hit in hits]
        if apply:
            self.progress.setdefault("files", []).extend(found)
        return found

    def _suppression(self) -> None:
        if not self.suppress:
            return
        with self.core.metadata.session() as session:
            for distinct_id in self.ids:
                digest = subject_hash(self.tenant_id, distinct_id)
                if session.get(Suppression, (self.tenant_id, digest)) is None:
                    session.add(Suppression(tenant_id=self.tenant_id, subject_hash=digest, erasure_id=self.erasure_id))
        forget_suppressions(self.tenant_id)

    # --- the receipt -----------------------------------------------------------------------------
    def _finish(self) -> dict[str, Any]:
        before: dict[str, int] = self.progress.get("before", {})
        stores: list[dict[str, Any]] = []
        for store in self._stores():
            stores.append(
                {
                    "store": store.name,
                    "action": store.action,
                    "rows_before": int(before.get(store.name, 0)),
                    "rows_after": self._count(store),
                    "verification": f"SELECT count() FROM {store.table} WHERE tenant_id = {{tenant_id:String}} "
                    f"AND ({store.match})",
                    "details": {},
                }
            )
        kept = self._count(TableStore("events_after_cutoff", "events", f"has({IDS}, distinct_id)"))
        for entry in stores:
            if entry["action"] == "recomputed" and kept:
                entry["details"]["kept_after_cutoff"] = kept
        days = [(e, d) for e, d in Affected.from_json(self.progress.get("affected", {})).days]
        for rollup in ("metrics_daily",):
            wrong = 0
            if days:
                wrong = int(
                    self.scope.query(
                        ROLLUP_CHECK.format(rollup=self.scope.table(rollup), events=self.events),
                        {"days": days},
                        settings=UNLIMITED,
                    ).scalar()
                    or 0
                )
            stores.append(
                {
                    "store": "metrics_daily, metrics_monthly",
                    "action": "recomputed",
                    "rows_before": len(days),
                    "rows_after": wrong,
                    "verification": "(event, UTC day) buckets of the person whose hourly rollup disagrees with events",
                    "details": {"buckets_recomputed": len(days)},
                }
            )
        cold_after = self._cold_hits()
        stores.append(
            {
                "store": "cold_files",
                "action": "rewritten",
                "rows_before": int(before.get("cold_files", 0)),
                "rows_after": sum(cold_after.values()),
                "verification": "SELECT count() FROM file('<cold file>', 'Parquet') "
                f"WHERE tenant_id = {{tenant_id:String}} AND ({EVENT_MATCH})",
                "details": {},
            }
        )
        files = self.progress.get("files", [])
        stores.append(
            {
                "store": "stored_files",
                "action": "rewritten or deleted",
                "rows_before": int(before.get("stored_files", 0)),
                "rows_after": len(self._files(apply=False)),
                "verification": "each export and report file read again for the ids",
                "details": {"files": files},
            }
        )
        stores.append(
            {
                "store": "result_cache",
                "action": "invalidated",
                "rows_before": 0,
                "rows_after": 0,
                "verification": "the tenant's data version was replaced: no answer cached before is served",
                "details": {},
            }
        )
        completed = datetime.now(UTC)
        receipt = {
            "erasure_id": self.erasure_id,
            "tenant_id": self.tenant_id,
            "subject": {
                "selector": "distinct_id" if "distinct_id" in self.selector else "properties",
                "properties": sorted(self.selector.get("properties") or {}),
                "id_sha256": [subject_hash(self.tenant_id, i) for i in self.ids],
            },
            "requested_at": self.requested_at.isoformat(),
            "cutoff": self.requested_at.isoformat(),
            "physically_removed_at": self.progress.get("removed_at") if self.ids else None,
            "completed_at": completed.isoformat(),
            "method": METHOD,
            "stores": stores,
        }
        # Signed in the form the API gives it back (the model's JSON), so a receipt as downloaded checks.
        receipt = Receipt.model_validate(receipt).model_dump(mode="json")
        signature = sign(receipt, load_receipt_key(self.core.settings.privacy_receipt_key, self.core.settings.data_dir))
        # The ids leave the metadata database: the receipt keeps their hashes.
        self.progress = {"done": self.progress.get("done", []), "ids": [], "seconds": self.progress.get("seconds", {})}
        self._save(status="completed", receipt=receipt, signature=signature, completed_at=completed, error=None)
        log.info("privacy.erasure_completed", erasure_id=self.erasure_id, tenant_id=self.tenant_id)
        return {"erasure_id": self.erasure_id, "status": "completed", "signature": signature}


def replace_cold_figures(core: Core, tenant_id: str, month: int, rows: int, checksum: str, size: int) -> None:
    from analytics_engine.lifecycle.models import ColdFile

    with core.metadata.session() as session:
        entry = session.get(ColdFile, (tenant_id, month))
        if entry is not None:
            entry.rows, entry.checksum, entry.bytes = rows, checksum, size
            entry.rewritten_at = datetime.now(UTC)
