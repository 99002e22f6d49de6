"""Dense person ids (personids/allocator.py): one id per person and tenant, never shared, stored
before the events that carry them, the same after a restart and in a journal replay; the bitmaps
(`person_hours`) hold exactly the people of each hour, checked by `ingest verify`."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from analytics_engine.ingest.consistency import check_derived
from analytics_engine.ingest.validation import Limits, validate_events
from analytics_engine.personids.allocator import PersonIds, allocator_for
from analytics_engine.personids.hours import rebuild_tenant

AT = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(days=3)


def tenant() -> str:
    return f"pid_{uuid.uuid4().hex[:10]}"


def write(runtime: Any, tenant_id: str, people: list[str], event: str = "visit", at: datetime = AT) -> None:
    raw = [
        {"event": event, "distinct_id": p, "timestamp": (at + timedelta(minutes=i)).isoformat()}
        for i, p in enumerate(people)
    ]
    outcome = validate_events(raw, tenant_id, Limits())
    assert not outcome.rejected
    runtime.writer.write(outcome.accepted)


def stored_ids(runtime: Any, tenant_id: str) -> dict[str, list[int]]:
    rows = runtime.warehouse.query(
        f"SELECT distinct_id, groupArray(person_id) FROM {runtime.warehouse.table('person_ids')} "
        "WHERE tenant_id = {t:String} AND distinct_id != '' GROUP BY distinct_id",
        {"t": tenant_id},
    ).rows
    return {str(r[0]): sorted(int(i) for i in r[1]) for r in rows}


def event_ids(runtime: Any, tenant_id: str) -> dict[str, set[int]]:
    rows = runtime.warehouse.query(
        f"SELECT distinct_id, groupUniqArray(person_id) FROM {runtime.warehouse.table('events')} "
        "WHERE tenant_id = {t:String} GROUP BY distinct_id",
        {"t": tenant_id},
    ).rows
    return {str(r[0]): {int(i) for i in r[1]} for r in rows}


def hour_people(runtime: Any, tenant_id: str, event: str = "") -> dict[datetime, list[int]]:
    rows = runtime.warehouse.query(
        f"SELECT hour, bitmapToArray(groupBitmapMergeState(people)) FROM {runtime.warehouse.table('person_hours')} "
        "WHERE tenant_id = {t:String} AND event = {e:String} GROUP BY hour ORDER BY hour",
        {"t": tenant_id, "e": event},
    ).rows
    return {r[0]: sorted(int(i) for i in r[1]) for r in rows}


def mismatches(runtime: Any, tenant_id: str) -> list[str]:
    return [m.describe() for m in check_derived(runtime.warehouse) if m.tenant_id == tenant_id]


def test_every_person_gets_one_dense_id_stored_with_the_events(runtime: Any) -> None:
    t = tenant()
    write(runtime, t, ["a", "b", "a", "c"])
    write(runtime, t, ["c", "d", "b"])
    ids = stored_ids(runtime, t)
    assert ids == {"a": [1], "b": [2], "c": [3], "d": [4]}
    assert event_ids(runtime, t) == {p: set(i) for p, i in ids.items()}
    # two tenants: ids are per tenant
    other = tenant()
    write(runtime, other, ["d"])
    assert stored_ids(runtime, other) == {"d": [1]}
    assert hour_people(runtime, t) == {AT.replace(tzinfo=None): [1, 2, 3, 4]}
    assert hour_people(runtime, t, "visit") == {AT.replace(tzinfo=None): [1, 2, 3, 4]}
    assert mismatches(runtime, t) == []


def test_a_new_allocator_finds_the_stored_ids_and_continues_after_the_largest(runtime: Any) -> None:
    """A restart (a new process: a fresh allocator) gives the same ids, and a new person the next one."""
    t = tenant()
    write(runtime, t, ["a", "b"])
    fresh = PersonIds(runtime.warehouse)
    assert fresh.ids_for(t, ["b", "a"]) == {"a": 1, "b": 2}
    assert fresh.ids_for(t, ["z"]) == {"z": 3}
    # the id was stored before anyone used it: the writer's allocator, told to re-read, agrees
    allocator_for(runtime.warehouse).forget(t)
    write(runtime, t, ["z"])
    assert stored_ids(runtime, t)["z"] == [3]


def test_ids_stored_by_a_failed_call_are_never_given_again(runtime: Any) -> None:
    """The new ids' insert lands, then the call fails (an answer lost): the ids it stored are never
    given to another person, and the same people find them again."""
    t = tenant()
    ids = PersonIds(runtime.warehouse)
    store = ids._store

    def lands_then_fails(tenant_id: str, given: dict[str, int]) -> None:
        store(tenant_id, given)
        raise ConnectionError("answer lost after the insert")

    ids._store = lands_then_fails  # type: ignore[method-assign]
    try:
        ids.ids_for(t, ["a", "b"])
        raise AssertionError("the failure must reach the caller")
    except ConnectionError:
        pass
    ids._store = store  # type: ignore[method-assign]
    # another person next: ids 1 and 2 are taken (stored), so never given to them
    assert ids.ids_for(t, ["x"]) == {"x": 3}
    assert ids.ids_for(t, ["a", "b"]) == {"a": 1, "b": 2}
    assert stored_ids(runtime, t) == {"a": [1], "b": [2], "x": [3]}


def test_concurrent_batches_never_give_one_person_two_ids(runtime: Any) -> None:
    t = tenant()
    people = [f"p{i}" for i in range(60)]
    errors: list[BaseException] = []

    def batch(k: int) -> None:
        try:
            write(runtime, t, people[k * 7 : k * 7 + 25])
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=batch, args=(k,)) for k in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    ids = stored_ids(runtime, t)
    assert all(len(found) == 1 for found in ids.values()), ids
    given = sorted(found[0] for found in ids.values())
    assert given == list(range(1, len(ids) + 1))  # dense, none shared
    assert mismatches(runtime, t) == []


def test_a_journal_replay_reuses_the_batch_ids(runtime: Any) -> None:
    """The replay inserts the journaled lines again (without ids): the stored map gives the same."""
    t = tenant()
    write(runtime, t, ["a"])
    raw = [{"event": "visit", "distinct_id": p, "timestamp": (AT + timedelta(hours=2)).isoformat()} for p in ("b", "a")]
    outcome = validate_events(raw, t, Limits())
    body = b"\n".join(e.line for e in outcome.accepted)
    token = "tok-" + uuid.uuid4().hex
    runtime.writer._insert_journaled(body, token)
    before = stored_ids(runtime, t)
    # the process "restarts" (its map is gone) and the batch is replayed as after a crash
    allocator_for(runtime.warehouse).forget(t)
    runtime.writer._complete(token, body)
    assert stored_ids(runtime, t) == before == {"a": [1], "b": [2]}
    assert hour_people(runtime, t)[(AT + timedelta(hours=2)).replace(tzinfo=None)] == [1, 2]
    assert mismatches(runtime, t) == []


def test_rows_written_by_sql_get_ids_and_bitmaps_from_the_rebuild(runtime: Any) -> None:
    """The data generator writes events by SQL (person_id 0): verify sees the gap until the rebuild."""
    t = tenant()
    write(runtime, t, ["a"])
    runtime.warehouse.command(
        f"INSERT INTO {runtime.warehouse.table('events')} "
        "(tenant_id, event, distinct_id, timestamp, event_id, properties) SELECT {t:String}, 'visit', "
        "concat('s', toString(number)), {at:DateTime64(3)}, generateUUIDv4(), '{}' FROM numbers(3)",
        {"t": t, "at": AT.strftime("%Y-%m-%d %H:%M:%S")},
    )
    assert mismatches(runtime, t)  # people without ids, hours without them
    rebuild_tenant(runtime.warehouse, t)
    assert sorted(i for found in stored_ids(runtime, t).values() for i in found) == [1, 2, 3, 4]
    assert hour_people(runtime, t) == {AT.replace(tzinfo=None): [1, 2, 3, 4]}
    assert mismatches(runtime, t) == []
    write(runtime, t, ["s1", "new"])  # the writer's map was dropped by the rebuild: no second id
    assert stored_ids(runtime, t)["s1"] != [5] and stored_ids(runtime, t)["new"] == [5]
    assert mismatches(runtime, t) == []
