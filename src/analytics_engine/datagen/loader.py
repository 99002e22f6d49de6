"""Load generated events straight into the warehouse (the demo and `generate`), in big blocks."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from analytics_engine.ingest.validation import Limits, validate_events
from analytics_engine.ingest.writer import insert_events
from analytics_engine.warehouse.client import Warehouse

BLOCK = 100_000
# Generated history may reach back further than live ingest allows.
GENERATOR_LIMITS = Limits(max_past_ms=10 * 365 * 86_400_000, max_future_skew_ms=86_400_000)


def load_events(
    warehouse: Warehouse,
    tenant_id: str,
    events: Iterable[dict[str, Any]],
    on_progress: Callable[[int], None] | None = None,
) -> int:
    """Validate through the same path as live ingest and insert in blocks; returns rows written."""
    written = 0
    block: list[dict[str, Any]] = []

    def flush() -> None:
        nonlocal written
        outcome = validate_events(block, tenant_id, GENERATOR_LIMITS)
        if outcome.rejected:
            raise ValueError(f"generated event rejected: {outcome.rejected[0].reason}")
        insert_events(warehouse, outcome.accepted)
        written += len(outcome.accepted)
        if on_progress:
            on_progress(len(outcome.accepted))
        block.clear()

    for event in events:
        block.append(event)
        if len(block) >= BLOCK:
            flush()
    if block:
        flush()
    return written
