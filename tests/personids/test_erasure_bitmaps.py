"""An erasure takes the person out of every person bitmap and deletes their id mapping (a tombstone
keeps the number from being given again); a person whose events received after the erasure's cut-off
are kept gets a new id, and the bitmaps hold it instead of the old one."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from analytics_engine.privacy.eraser import Eraser
from analytics_engine.privacy.models import ErasureRequest
from analytics_engine.privacy.schemas import ErasureCreate
from analytics_engine.tenants.schemas import TenantCreate
from tests.insights.support import run
from tests.personids.test_allocator import mismatches, write

AT = (datetime.now(UTC) - timedelta(days=4)).replace(minute=0, second=0, microsecond=0)


def tenant(runtime: Any) -> str:
    """A tenant with a metadata row (an erasure request belongs to one)."""
    return str(runtime.tenants.create(TenantCreate(name=f"erase-{uuid.uuid4().hex[:8]}", timezone="UTC")).id)


def bitmap_ids(runtime: Any, tenant_id: str) -> set[int]:
    rows = runtime.warehouse.query(
        "SELECT arrayJoin(bitmapToArray(groupBitmapMergeState(people))) "
        f"FROM {runtime.warehouse.table('person_hours')} WHERE tenant_id = {{t:String}}",
        {"t": tenant_id},
    ).rows
    return {int(r[0]) for r in rows}


def mapping(runtime: Any, tenant_id: str) -> list[tuple[str, int]]:
    rows = runtime.warehouse.query(
        f"SELECT distinct_id, person_id FROM {runtime.warehouse.table('person_ids')} WHERE tenant_id = {{t:String}} "
        "ORDER BY person_id, distinct_id",
        {"t": tenant_id},
    ).rows
    return [(str(r[0]), int(r[1])) for r in rows]


def answers(runtime: Any, tenant_id: str) -> None:
    """Retention and DAU/WAU/MAU from the bitmaps equal the raw answers."""
    from analytics_engine.tenants.service import TenantContext

    context = TenantContext(tenant_id, "t", "UTC", frozenset({"read"}), "key")
    for query in (
        {
            "kind": "retention",
            "start_event": {"event": "visit"},
            "period": "day",
            "periods": 4,
            "date_range": {"date_from": "-7d"},
        },
        {"kind": "engagement", "measure": "active_users", "date_range": {"date_from": "-7d"}},
    ):
        served = run(runtime, context, query, refresh=True)
        try:
            runtime.settings.preaggregations = False
            raw = run(runtime, context, query, refresh=True)
        finally:
            runtime.settings.preaggregations = True
        assert served.served_from == "person_hours"
        assert (served.series, served.totals, served.retention) == (raw.series, raw.totals, raw.retention)


def test_erasure_removes_the_person_from_every_bitmap(runtime: Any) -> None:
    t = tenant(runtime)
    write(runtime, t, ["alice", "bob", "carol"], at=AT)
    write(runtime, t, ["bob", "alice"], at=AT + timedelta(days=1), event="buy")
    assert bitmap_ids(runtime, t) == {1, 2, 3}
    accepted = runtime.privacy.request(t, ErasureCreate(distinct_id="alice"), wait=True)
    assert runtime.privacy.get(t, accepted.id).status == "completed"
    assert mapping(runtime, t) == [("", 1), ("bob", 2), ("carol", 3)]  # alice's id 1: a tombstone
    assert bitmap_ids(runtime, t) == {2, 3}
    assert mismatches(runtime, t) == []
    answers(runtime, t)
    write(runtime, t, ["dave", "alice"], at=AT + timedelta(days=2))  # ids are never given twice
    assert mapping(runtime, t)[-2:] == [("alice", 4), ("dave", 5)]  # new ids after the largest ever given
    assert mismatches(runtime, t) == []


def test_events_kept_after_the_cutoff_carry_a_new_id(runtime: Any) -> None:
    t = tenant(runtime)
    write(runtime, t, ["alice", "bob"], at=AT)
    with runtime.metadata.session() as session:
        row = ErasureRequest(tenant_id=t, selector={"distinct_id": "alice"}, suppress=False, progress={})
        session.add(row)
        session.flush()
        erasure_id = row.id
    # received after the request (the cut-off is its millisecond): kept by the erasure, under the old id
    time.sleep(0.05)
    write(runtime, t, ["alice"], at=AT + timedelta(days=1, hours=3))
    assert Eraser(runtime, erasure_id).run()["status"] == "completed"
    ids = dict((d, i) for d, i in mapping(runtime, t) if d)
    assert ids["alice"] not in (1, 2) and ids["bob"] == 2
    assert bitmap_ids(runtime, t) == {ids["alice"], 2}
    assert mismatches(runtime, t) == []
    answers(runtime, t)
