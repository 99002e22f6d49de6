"""Writes validated events into the warehouse: de-duplication of client-supplied ids, then one
JSONEachRow insert per batch; rejected events go to `rejected_events` in the same flush."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Sequence

import orjson

from analytics_engine.ingest.validation import EVENT_COLUMNS, AcceptedEvent, RejectedEvent, format_ms
from analytics_engine.observability import metrics
from analytics_engine.warehouse.client import Warehouse

REJECTED_COLUMNS = ("tenant_id", "source", "request_id", "position", "reason", "payload")


class EventWriter:
    def __init__(self, warehouse: Warehouse, *, dedup_lookback_hours: int = 48) -> None:
        self.warehouse = warehouse
        self.lookback_ms = dedup_lookback_hours * 3_600_000

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
        up, per tenant, within the batch's time range widened by the lookback window."""
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
            low = min(i.timestamp_ms for i in items) - self.lookback_ms
            high = max(i.timestamp_ms for i in items) + self.lookback_ms
            result = self.warehouse.query(
                f"SELECT DISTINCT toString(event_id) FROM {self.warehouse.table('events')} "
                "WHERE tenant_id = {tenant_id:String} "
                "AND timestamp BETWEEN {low:DateTime64(3, 'UTC')} AND {high:DateTime64(3, 'UTC')} "
                "AND event_id IN {ids:Array(UUID)}",
                {
                    "tenant_id": tenant_id,
                    "low": format_ms(max(low, 0)),
                    "high": format_ms(high),
                    "ids": [i.event_id for i in items],
                },
            )
            stored.update((tenant_id, row[0]) for row in result.rows)
        if not stored:
            return unique
        return [i for i in unique if (i.tenant_id, i.event_id) not in stored]
