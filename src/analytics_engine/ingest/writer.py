"""Writes validated events into the warehouse: de-duplication of client-supplied ids, then one
JSONEachRow insert per batch; rejected events go to `rejected_events` in the same flush."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Sequence

import orjson

from analytics_engine.ingest.validation import EVENT_COLUMNS, AcceptedEvent, RejectedEvent
from analytics_engine.observability import metrics
from analytics_engine.warehouse.client import Warehouse

LOOKUP_CHUNK = 20_000
REJECTED_COLUMNS = ("tenant_id", "source", "request_id", "position", "reason", "payload")


class EventWriter:
    def __init__(self, warehouse: Warehouse) -> None:
        self.warehouse = warehouse

    def write(
        self,
        accepted: Sequence[AcceptedEvent],
        rejected: Sequence[tuple[RejectedEvent, str, str]] = (),
    ) -> int:
        """Insert the batch; returns the number of rows written (duplicates are skipped)."""
        fresh = self._drop_duplicates(accepted)
        if fresh:
            started = time.perf_counter()
            self.warehouse.insert_json_rows(
                self.warehouse.table("events"), EVENT_COLUMNS, b"\n".join(e.line for e in fresh)
            )
            metrics.INSERT_SECONDS.observe(time.perf_counter() - started)
            metrics.BATCH_EVENTS.observe(len(fresh))
        if rejected:
            self.write_rejected(rejected)
        return len(fresh)

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
        self.warehouse.insert_json_rows(self.warehouse.table("rejected_events"), REJECTED_COLUMNS, body)

    def _drop_duplicates(self, accepted: Sequence[AcceptedEvent]) -> list[AcceptedEvent]:
        """Keep the first of each (tenant, event_id) in the batch and drop ids already stored.

        Only client-supplied ids can repeat (server ids are fresh UUIDs), so only those are looked
        up, per tenant, in `event_ids` (every id received in the last 7 days) by the id's high 64
        bits, then compared exactly."""
        seen: set[tuple[str, str]] = set()
        unique: list[AcceptedEvent] = []
        to_check: dict[str, list[AcceptedEvent]] = defaultdict(list)
        for item in accepted:
            key = (item.tenant_id, item.event_id)
            if key in seen:
                continue
            seen.add(key)
            unique.append(item)
            if item.client_event_id:
                to_check[item.tenant_id].append(item)
        stored: set[tuple[str, str]] = set()
        for tenant_id, items in to_check.items():
            highs = sorted({id_high(i.event_id) for i in items})
            # Integers bind and parse fast; the exact comparison on the full id happens here.
            for start in range(0, len(highs), LOOKUP_CHUNK):
                result = self.warehouse.query(
                    f"SELECT toString(event_id) FROM {self.warehouse.table('event_ids')} "
                    "WHERE tenant_id = {tenant_id:String} AND id_high IN {highs:Array(UInt64)}",
                    {"tenant_id": tenant_id, "highs": highs[start : start + LOOKUP_CHUNK]},
                )
                stored.update((tenant_id, row[0]) for row in result.rows)
        if not stored:
            return unique
        return [i for i in unique if (i.tenant_id, i.event_id) not in stored]


def id_high(event_id: str) -> int:
    """The high 64 bits of a canonical UUID text, as `event_ids.id_high` stores them."""
    return int(event_id[:8] + event_id[9:13] + event_id[14:18], 16)
