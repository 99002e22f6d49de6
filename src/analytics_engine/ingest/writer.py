"""Writes validated events into the warehouse: de-duplication of client-supplied ids, then one
insert per batch; rejected events go to `rejected_events` in the same flush.

The duplicate check (`claim`) and the insert are separate steps so that group commit can check the
next batch while the previous one is being inserted. A claim holds its batch's client ids until
`release`: any concurrent writer (HTTP group commit, the NATS consumer, sync) that brings one of
those ids waits for the holder to land or fail and only then looks the id up. So the check is exact
within the process whatever runs side by side."""

from __future__ import annotations

import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field

import numpy as np
import orjson
import structlog

from analytics_engine.ingest.id_filter import IdFilter
from analytics_engine.ingest.journal import IngestJournal, JournalStatus
from analytics_engine.ingest.recovery import rebuild_derived_for_batch
from analytics_engine.ingest.shared_gate import SharedInsertGate
from analytics_engine.ingest.validation import EVENT_COLUMNS, EVENT_ROW_FORMAT, AcceptedEvent, RejectedEvent
from analytics_engine.metadata.leases import Leases
from analytics_engine.observability import metrics
from analytics_engine.personids.allocator import PERSON_ID_COLUMN, allocator_for
from analytics_engine.warehouse.client import Warehouse

log = structlog.get_logger(__name__)

# Ids per look-up: 16 hex digits each keeps the statement under ClickHouse's default max_query_size.
LOOKUP_CHUNK = 15_000
HOLD_TIMEOUT_SECONDS = 120.0  # far above any insert: a claim held longer was abandoned
# The writer has already removed repeated ids from each block, and every view on `events` aggregates
# its block itself, so the merge of equal keys that ClickHouse would run on each insert finds nothing
# to do: skipping it cut ~8% of the warehouse's CPU per event (docs/ingest.md).
EVENTS_INSERT_SETTINGS = {"optimize_on_insert": 0}
# A repeated insert of a batch (a journal replay after a crash) carries the batch's token: `events`
# and each view's target skip the part they already hold and write the ones they lack. Without the
# second setting a view would never see a block that `events` deduplicated.
DEDUPLICATION_SETTINGS = {"insert_deduplicate": 1, "deduplicate_blocks_in_dependent_materialized_views": 1}
# The rows as inserted: the writer's lines plus the person's dense id (personids/allocator.py).
ID_COLUMNS = (*EVENT_COLUMNS, PERSON_ID_COLUMN)
REJECTED_COLUMNS = ("tenant_id", "source", "request_id", "position", "reason", "payload")
EventKey = tuple[str, str]  # (tenant_id, event_id)


class InsertGate:
    """Inserts share the gate; a replay waits for those running, holds it alone, and new inserts
    wait for it to finish."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._inserting = 0
        self._alone = False

    @contextmanager
    def shared(self) -> Iterator[None]:
        with self._changed:
            self._changed.wait_for(lambda: not self._alone)
            self._inserting += 1
        try:
            yield
        finally:
            with self._changed:
                self._inserting -= 1
                self._changed.notify_all()

    @contextmanager
    def alone(self) -> Iterator[None]:
        with self._changed:
            self._changed.wait_for(lambda: not self._alone)
            self._alone = True
            self._changed.wait_for(lambda: self._inserting == 0)
        try:
            yield
        finally:
            with self._changed:
                self._alone = False
                self._changed.notify_all()


@dataclass
class Claim:
    """The events of a batch that are new, and the client ids held for it until `release`."""

    fresh: list[AcceptedEvent]
    keys: list[EventKey] = field(default_factory=list)
    released: threading.Event = field(default_factory=threading.Event)


class EventWriter:
    def __init__(
        self,
        warehouse: Warehouse,
        on_inserted: Callable[[set[str]], None] | None = None,
        journal: IngestJournal | None = None,
        shared_gate_leases: Leases | None = None,
        id_filter: IdFilter | None = None,
    ) -> None:
        self.warehouse = warehouse
        # Only where this process is the only writer of the data folder (the embedded warehouse):
        # the ids it may hold, so that the duplicate check asks `event_ids` about those alone.
        self.id_filter = id_filter
        # Called with the tenant ids of each committed insert (the runtime bumps their data version,
        # so cached answers of those tenants are not served again); never for a failed insert.
        self.on_inserted = on_inserted
        self.platform = warehouse.platform(INGEST_REASON)
        self._held: dict[EventKey, Claim] = {}
        self._held_lock = threading.Lock()
        # Without a journal (benchmarks of the bare insert, data generation) a crash mid-insert may
        # leave derived tables behind `events`; every service process has one (core.py).
        self.journal = journal
        self._abandoned = threading.Event()  # a failed insert left its batch in the journal
        self._replay_lock = threading.Lock()
        # A replay recomputes derived rows from `events`: an insert landing in between would be
        # counted twice (its views' rows, and again by the recompute), so a replay runs alone.
        self._gate = InsertGate()
        # With several processes inserting into one warehouse (a ClickHouse server), the same holds
        # cross them through the metadata database (ingest/shared_gate.py); registered at the first insert.
        self.shared_gate = SharedInsertGate(shared_gate_leases, self._gate) if shared_gate_leases else None
        self._registered = False
        self._register_lock = threading.Lock()
        self.replayed_batches = 0
        # Seconds each `exclusive()` held new inserts back (the last few: benchmarks and tests read it).
        self.exclusive_seconds: list[float] = []

    @contextmanager
    def exclusive(self, reason: str) -> Iterator[None]:
        """Inserts of this process wait while the caller runs: those running finish first, new ones
        wait for the block to end. For work that deletes derived rows and computes them again from
        `events` (an erasure, the tiering job): an insert landing in between would be counted twice
        (its views' rows, and again by the recompute) or lost (its rows deleted with the old ones).
        Hold it briefly: ingest stalls meanwhile. With a shared gate, every registered process's
        inserts wait too."""
        with self._held_everywhere(reason), self._gate.alone():
            started = time.perf_counter()
            try:
                yield
            finally:
                held = time.perf_counter() - started
                self.exclusive_seconds = [*self.exclusive_seconds[-49:], held]
                log.info("ingest.inserts_held", reason=reason, seconds=round(held, 3))

    def _held_everywhere(self, reason: str) -> AbstractContextManager[None]:
        return self.shared_gate.hold(reason) if self.shared_gate is not None else nullcontext()

    @contextmanager
    def _insert_allowed(self) -> Iterator[None]:
        """An insert shares this process's gate and, with a shared gate, starts only while no other
        process holds it."""
        if self.shared_gate is None:
            with self._gate.shared():
                yield
            return
        self._register()
        while True:
            self.shared_gate.wait_clear()
            with self._gate.shared():
                if self.shared_gate.clear():  # still: the hold may have come while this waited
                    yield
                    return

    def _register(self) -> None:
        with self._register_lock:
            if not self._registered and self.shared_gate is not None:
                self.shared_gate.start()
                self._registered = True

    def close(self) -> None:
        """Leave the shared gate (other processes stop waiting for this one at once)."""
        if self.shared_gate is not None and self._registered:
            self.shared_gate.stop()

    def write(
        self,
        accepted: Sequence[AcceptedEvent],
        rejected: Sequence[tuple[RejectedEvent, str, str]] = (),
    ) -> int:
        """Check, insert and release in one go; returns the number of rows written (duplicates are skipped)."""
        claim = self.claim(accepted)
        try:
            self.insert(claim.fresh, rejected)
        finally:
            self.release([claim])
        return len(claim.fresh)

    def insert(
        self,
        fresh: Sequence[AcceptedEvent],
        rejected: Sequence[tuple[RejectedEvent, str, str]] = (),
    ) -> None:
        """Insert events already checked by `claim` (and rejections) as one block each."""
        if fresh:
            started = time.perf_counter()
            self._insert_journaled(b"\n".join(event.line for event in fresh))
            metrics.INSERT_SECONDS.observe(time.perf_counter() - started)
            metrics.BATCH_EVENTS.observe(len(fresh))
            if self.on_inserted is not None:
                self.on_inserted({item.tenant_id for item in fresh})
        if rejected:
            self.write_rejected(rejected)

    def _insert_journaled(self, body: bytes, token: str | None = None) -> None:
        if self.journal is None:
            insert_event_rows(self.warehouse, body, token or uuid.uuid4().hex)
            return
        entry = self.journal.begin(body, token)
        try:
            with self._insert_allowed():
                insert_event_rows(self.warehouse, body, entry.token)
        except BaseException:
            self.journal.abandon(entry)
            self._abandoned.set()
            raise
        self.journal.end(entry)

    def journal_status(self) -> JournalStatus:
        return self.journal.status() if self.journal is not None else JournalStatus(0, None)

    def replay_journal(self) -> int:
        """Complete the batches a crash or a failed insert left in the journal; returns how many it
        found. Run before the writer takes new events (core.py) and before a duplicate check after
        an insert failed, so the check never trusts a half-derived batch.

        A batch none of whose rows reached `events` was never acknowledged: its client (HTTP
        retry, NATS redelivery, sync's checkpoint) brings it again, so it is dropped. Otherwise it
        is inserted again under its own token, which writes exactly the parts that are missing."""
        if self.journal is None:
            return 0
        with (
            self._replay_lock,
            self._held_everywhere("ingest journal replay"),
            self._gate.alone(),
            self.journal.orphans() as batches,
        ):
            try:
                for token, body, path in batches:
                    self._complete(token, body)
                    path.unlink(missing_ok=True)
            except BaseException:
                self._abandoned.set()
                raise
            self._abandoned.clear()
            self.replayed_batches += len(batches)
            return len(batches)

    def _complete(self, token: str, body: bytes) -> None:
        """Make `events` hold the batch exactly as its acknowledgement says, then recompute what the
        batch can have touched in every derived table from `events` (ingest/recovery.py): the
        tokens tell which parts ClickHouse skipped, not whether each table's part really landed."""
        rows = _rows_by_tenant(body)
        if self._stored_rows(rows):
            insert_event_rows(self.warehouse, body, token)
            stored = self._stored_rows(rows)
            lost = [line for key, line in rows.items() if key not in stored]
            if lost:
                self._restore_without_views(token, lost)
            log.warning("ingest.journal_replayed", token=token, events=len(rows))
        else:
            # Never acknowledged: its client brings it again. A view's part may have landed before
            # the `events` part (and `event_ids` would then drop the retry): the rebuild below
            # removes what the cut-short insert left in the derived tables.
            log.warning("ingest.journal_batch_dropped", token=token, reason="no row reached events")
        rebuild_derived_for_batch(self.warehouse, rows.values())
        if self.on_inserted is not None:
            self.on_inserted({tenant_id for tenant_id, _ in rows})

    def _restore_without_views(self, token: str, lines: list[bytes]) -> None:
        """Rows the replay found deduplicated yet absent from `events`: ClickHouse records a part's
        token a moment before the part becomes visible, and a kill in that moment loses the part.
        The replay above has run every view on them (a deduplicated block still feeds the views), so
        they go into `events` alone: written to a copy of its structure, then attached partition by
        partition (attaching runs no view). A crash in here is replayed again: by then the rows are
        found in `events`, or restored once more."""
        log.error("ingest.journal_rows_restored", token=token, events=len(lines))
        events = self.warehouse.table("events")
        staging = self.warehouse.table(f"events_restore_{token[:16].replace('-', '_')}")
        self.platform.command(f"DROP TABLE IF EXISTS {staging}")
        self.platform.command(f"CREATE TABLE {staging} AS {events}")
        try:
            self.platform.insert_json_rows(
                staging, ID_COLUMNS, allocator_for(self.warehouse).with_ids(b"\n".join(lines)), fmt=EVENT_ROW_FORMAT
            )
            partitions = self.platform.query(f"SELECT DISTINCT _partition_id FROM {staging}").rows
            for (partition,) in partitions:
                if not str(partition).isalnum():  # ClickHouse's own id (YYYYMM); DDL takes no parameters
                    raise ValueError(f"unexpected partition id {partition!r}")
                self.platform.command(f"ALTER TABLE {events} ATTACH PARTITION ID '{partition}' FROM {staging}")
        finally:
            self.platform.command(f"DROP TABLE IF EXISTS {staging}")

    def _stored_rows(self, rows: dict[EventKey, bytes]) -> set[EventKey]:
        """Which of these rows are in `events` itself (any age; the replay's check)."""
        return self._look_up(
            rows,
            f"SELECT toString(event_id) FROM {self.warehouse.table('events')} "
            "WHERE tenant_id = {tenant_id:String} AND event_id IN {ids:Array(UUID)}",
            lambda ids: {"ids": ids},
        )

    def _look_up(
        self, keys: Iterable[EventKey], sql: str, bind: Callable[[list[str]], dict[str, object]]
    ) -> set[EventKey]:
        """Run `sql` per tenant over chunks of its ids (`bind` turns a chunk into parameters);
        the statement selects the canonical text of the ids it found."""
        by_tenant: dict[str, list[str]] = defaultdict(list)
        for tenant_id, event_id in keys:
            by_tenant[tenant_id].append(event_id)
        stored: set[EventKey] = set()
        for tenant_id, ids in by_tenant.items():
            for start in range(0, len(ids), LOOKUP_CHUNK):
                result = self.platform.query(sql, {"tenant_id": tenant_id, **bind(ids[start : start + LOOKUP_CHUNK])})
                stored.update((tenant_id, row[0]) for row in result.rows)
        return stored

    def claim(self, accepted: Sequence[AcceptedEvent]) -> Claim:
        """Keep the first of each (tenant, event_id) in the batch and drop ids already stored.

        Only client-supplied ids can repeat (server ids are fresh UUIDs), so only those are held and
        looked up, per tenant, in `event_ids` (every id received in the last 7 days) by the id's high
        64 bits, then compared exactly. Holding is all-or-nothing: a claim that meets an id held by
        another waits for that one's release holding nothing itself, so two claims never wait on each
        other. The caller must `release` the claim once its insert returned or failed."""
        seen: set[EventKey] = set()
        unique: list[AcceptedEvent] = []
        keys: list[EventKey] = []
        for item in accepted:
            key = (item.tenant_id, item.event_id)
            if key in seen:
                continue
            seen.add(key)
            unique.append(item)
            if item.client_event_id:
                keys.append(key)
        if self._abandoned.is_set():
            self.replay_journal()
        claim = Claim(unique, keys)
        self._hold(claim)
        try:
            stored = self._stored(keys)
        except BaseException:
            self.release([claim])
            raise
        if stored:
            claim.fresh = [i for i in unique if (i.tenant_id, i.event_id) not in stored]
        return claim

    def release(self, claims: Iterable[Claim]) -> None:
        with self._held_lock:
            for claim in claims:
                for key in claim.keys:
                    if self._held.get(key) is claim:
                        del self._held[key]
                claim.released.set()

    def _hold(self, claim: Claim) -> None:
        while True:
            with self._held_lock:
                busy = next((self._held[key] for key in claim.keys if key in self._held), None)
                if busy is None:
                    self._held.update(dict.fromkeys(claim.keys, claim))
                    return
            if not busy.released.wait(HOLD_TIMEOUT_SECONDS):
                # A holder that never released (its caller died between claim and release) must not
                # stall ingest forever; taking its ids over risks at worst a duplicate, which the
                # ReplacingMergeTree removes at the next merge.
                log.warning("ingest.claim_taken_over", ids=len(busy.keys), waited_s=HOLD_TIMEOUT_SECONDS)
                self.release([busy])

    def _stored(self, keys: Sequence[EventKey]) -> set[EventKey]:
        """The keys already in `event_ids`. With the id filter only the keys it may hold are looked
        up; the batch's keys then join the filter before their insert runs (so a failed insert
        leaves the filter over-reporting, which is safe)."""
        if self.id_filter is None or not keys:
            return self._look_up_ids(keys)
        self.id_filter.ensure_loaded(self._load_id_filter)
        maybe = self.id_filter.may_contain(keys)
        stored = self._look_up_ids(maybe) if maybe else set()
        self.id_filter.add(keys)
        return stored

    def _load_id_filter(self, id_filter: IdFilter) -> None:
        """Every id `event_ids` holds, oldest hour first (runs after the journal replay: claim())."""
        started = time.perf_counter()
        rows = self.platform.stream_rows(
            "SELECT tenant_id, toUInt32(max(received_at)), "
            "arrayStringConcat(groupArray(leftPad(hex(id_high), 16, '0'))) "
            f"FROM {self.warehouse.table('event_ids')} "
            "GROUP BY tenant_id, toStartOfHour(received_at) AS hour, id_high % 16 ORDER BY hour"
        )
        for tenant_id, newest, highs in rows:
            id_filter.add_highs(str(tenant_id), np.frombuffer(bytes.fromhex(highs), dtype=">u8"), at=float(newest))
        status = id_filter.status()
        log.info(
            "ingest.id_filter_loaded",
            ids=status.ids,
            bytes=status.bytes,
            complete=status.complete,
            seconds=round(time.perf_counter() - started, 3),
        )

    def _look_up_ids(self, keys: Sequence[EventKey]) -> set[EventKey]:
        return self._look_up(
            keys,
            f"SELECT toString(event_id) FROM {self.warehouse.table('event_ids')} "
            "WHERE tenant_id = {tenant_id:String} AND id_high IN ("
            "SELECT reinterpretAsUInt64(reverse(high)) FROM format(RowBinary, 'high FixedString(8)', "
            "unhex($id_highs$)))",
            lambda ids: {"$id_highs$": id_highs_hex(ids)},
        )

    def write_rejected(self, rejected: Sequence[tuple[RejectedEvent, str, str]]) -> None:
        """Each item: the rejection, its source (http, nats, sync) and the request id."""
        body = b"\n".join(
            orjson.dumps(
                {
                    "tenant_id": item.tenant_id,
                    "source": source,
                    "request_id": request_id,
                    "position": item.position,
                    "reason": item.reason,
                    "payload": item.payload.decode("utf-8", "replace"),
                }
            )
            for item, source, request_id in rejected
        )
        self.platform.insert_json_rows(self.warehouse.table("rejected_events"), REJECTED_COLUMNS, body)


# Ingest writes batches that mix tenants and is limited by the ingest limits, not query budgets:
# a named exception to the tenant scope (warehouse/scoped.py).
INGEST_REASON = "ingest writer: mixed-tenant batches under the ingest limits"


def _rows_by_tenant(body: bytes) -> dict[EventKey, bytes]:
    """{(tenant, event id): line} of a batch body (JSONCompactEachRow in EVENT_COLUMNS order)."""
    rows: dict[EventKey, bytes] = {}
    for line in body.splitlines():
        if line.strip():
            row = orjson.loads(line)
            rows[(str(row[0]), str(row[4]))] = line
    return rows


def insert_events(warehouse: Warehouse, events: Iterable[AcceptedEvent]) -> None:
    """Insert validated rows into `events` as one block, as-is (no duplicate check, no journal:
    see `EventWriter`)."""
    insert_event_rows(warehouse, b"\n".join(event.line for event in events), uuid.uuid4().hex)


def insert_event_rows(warehouse: Warehouse, body: bytes, token: str) -> None:
    """One block of `events` rows (JSONCompactEachRow lines in EVENT_COLUMNS order) under a
    deduplication token: inserting the same rows with the same token again adds nothing to any
    table that already holds them. Each row gets its person's dense id first (personids/: new people's
    ids are stored before this insert, so a replay of the same lines finds the same ids)."""
    warehouse.platform(INGEST_REASON).insert_json_rows(
        warehouse.table("events"),
        ID_COLUMNS,
        allocator_for(warehouse).with_ids(body),
        settings={**EVENTS_INSERT_SETTINGS, **DEDUPLICATION_SETTINGS, "insert_deduplication_token": token},
        fmt=EVENT_ROW_FORMAT,
    )


def id_highs_hex(event_ids: Sequence[str]) -> bytes:
    """The high 64 bits of canonical UUID texts as one run of hex digits, big-endian, for the
    look-up's binary parameter. Bound as a heredoc literal, which spares escaping and parsing a
    literal per id (about a third of the check, docs/ingest.md); hex digits can never close it."""
    return "".join([event_id[:8] + event_id[9:13] + event_id[14:18] for event_id in event_ids]).encode()
