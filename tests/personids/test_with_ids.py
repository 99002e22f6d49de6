"""`PersonIds.with_ids` (personids/allocator.py): each line of a writer batch gets its own person's
id appended, whatever the distinct id's characters, with several tenants in one batch, and blank
or padded lines; the rows otherwise unchanged."""

from __future__ import annotations

import uuid
from typing import Any

import orjson
import pytest

from analytics_engine.ingest.validation import Limits, validate_events
from analytics_engine.personids.allocator import allocator_for

AWKWARD = ["plain", 'quote "x"', 'comma,"," and "," ]', "back\\slash\\", "unicode ø 名前 😀", "  padded  ", "[1]"]


def batch(tenant_id: str, people: list[str]) -> list[bytes]:
    raw = [
        {"event": f"e{i}", "distinct_id": p, "timestamp": "2026-12-01T10:00:00Z", "properties": {"k": p, "n": i}}
        for i, p in enumerate(people)
    ]
    outcome = validate_events(raw, tenant_id, Limits())
    assert not outcome.rejected
    return [event.line for event in outcome.accepted]


@pytest.mark.parametrize("padding", [b"", b" ", b"\r", b"  \t"])
def test_each_line_gets_its_own_persons_id(runtime: Any, padding: bytes) -> None:
    tenants = [f"wid_{uuid.uuid4().hex[:10]}" for _ in range(2)]
    lines = [*batch(tenants[0], AWKWARD), *batch(tenants[1], list(reversed(AWKWARD))), *batch(tenants[0], AWKWARD[:2])]
    body = b"\n".join([b"", *(line + padding for line in lines), b"  "])
    allocator = allocator_for(runtime.warehouse)
    out = allocator.with_ids(body).split(b"\n")
    assert len(out) == len(lines)
    for before, after in zip(lines, out, strict=True):
        row, with_id = orjson.loads(before), orjson.loads(after)
        assert with_id[:-1] == row
        assert with_id[-1] == allocator.ids_for(row[0], [row[2]])[row[2]] > 0
    # One id per person and tenant; the two tenants' ids are counted apart (1..7 each).
    for tenant_id in tenants:
        ids = allocator.ids_for(tenant_id, AWKWARD)
        assert sorted(ids.values()) == list(range(1, len(AWKWARD) + 1))
