"""From messages to rows: tenant check, derived ids, rejections with reasons, ack/term split."""

from __future__ import annotations

import orjson

from analytics_engine.ingest.validation import Limits, event_row
from analytics_engine.streaming.messages import Incoming, derived_event_id, prepare

TENANT = "tn_known"


def known(ids: set[str]) -> set[str]:
    return ids & {TENANT, "tn_other"}


def message(seq: int, body: object, msg_id: str | None = None) -> Incoming:
    data = body if isinstance(body, bytes) else orjson.dumps(body)
    return Incoming(data, seq, msg_id)


def run(*items: Incoming):  # type: ignore[no-untyped-def]
    return prepare(list(items), stream_key="EVENTS/2026", limits=Limits(), known_tenants=known)


def row(accepted) -> dict:  # type: ignore[no-untyped-def]
    return event_row(accepted.line)


def test_valid_events_become_rows_with_the_tenant_and_are_acknowledged():
    batch = run(
        message(1, {"tenant_id": TENANT, "event": "signup", "distinct_id": "u1", "properties": {"plan": "pro"}}),
        message(2, {"tenant_id": "tn_other", "event": "view", "distinct_id": 7}),
    )
    pairs = [(row(a)["tenant_id"], row(a)["event"]) for a in batch.accepted]
    assert pairs == [(TENANT, "signup"), ("tn_other", "view")]
    assert row(batch.accepted[0])["properties"] == {"plan": "pro"}
    assert batch.acknowledge == [0, 1] and batch.terminate == [] and batch.max_seq == 2
    assert dict(batch.per_tenant) == {TENANT: [1, 0], "tn_other": [1, 0]}


def test_missing_event_id_is_derived_from_the_stream_sequence_so_a_redelivery_repeats_it():
    body = {"tenant_id": TENANT, "event": "e", "distinct_id": "u"}
    first = run(message(41, dict(body)), message(42, dict(body)))
    again = run(message(42, dict(body)))  # the same message delivered a second time
    ids = [a.event_id for a in first.accepted]
    assert ids[0] != ids[1]
    assert again.accepted[0].event_id == ids[1] == derived_event_id("seq/EVENTS/2026/42")
    assert all(a.client_event_id for a in first.accepted)  # so the writer checks them for duplicates


def test_nats_msg_id_names_the_event_and_a_client_event_id_wins():
    body = {"tenant_id": TENANT, "event": "e", "distinct_id": "u"}
    uuid_text = "0B7F7A53-3C33-4A5F-9A4F-6A8F1E3C2D10"
    batch = run(
        message(1, dict(body), msg_id=uuid_text),
        message(2, dict(body), msg_id="order-77"),
        message(3, {**body, "event_id": "11111111-2222-3333-4444-555555555555"}, msg_id="ignored"),
    )
    assert [a.event_id for a in batch.accepted] == [
        uuid_text.lower(),
        derived_event_id(f"msgid/{TENANT}/order-77"),
        "11111111-2222-3333-4444-555555555555",
    ]


def test_poison_and_unknown_tenants_are_rejected_with_reasons_and_terminated():
    batch = run(
        message(1, b"{not json"),
        message(2, [1, 2]),
        message(3, {"event": "e", "distinct_id": "u"}),
        message(4, {"tenant_id": "tn_ghost", "event": "e", "distinct_id": "u"}),
        message(5, {"tenant_id": TENANT, "event": "", "distinct_id": "u"}),
        message(6, {"tenant_id": TENANT, "event": "ok", "distinct_id": "u"}),
    )
    reasons = {request_id: item.reason for item, source, request_id in batch.rejected}
    assert all(source == "nats" for _, source, _ in batch.rejected)
    assert reasons["EVENTS:1"].startswith("malformed JSON")
    assert "JSON object" in reasons["EVENTS:2"]
    assert "tenant_id" in reasons["EVENTS:3"]
    assert reasons["EVENTS:4"] == "unknown tenant 'tn_ghost'"
    assert "'event' is required" in reasons["EVENTS:5"]
    assert batch.terminate == [0, 1, 2, 3, 4] and batch.acknowledge == [5]
    ghost = next(item for item, _, rid in batch.rejected if rid == "EVENTS:4")
    assert ghost.tenant_id == "tn_ghost" and orjson.loads(ghost.payload)["tenant_id"] == "tn_ghost"
    assert len(batch.accepted) == 1


def test_a_message_may_carry_many_events_of_one_tenant():
    batch = run(
        message(
            9,
            {
                "tenant_id": TENANT,
                "events": [
                    {"event": "a", "distinct_id": "u"},
                    {"event": "", "distinct_id": "u"},
                    {"event": "c", "distinct_id": "u"},
                ],
            },
        ),
        message(10, {"tenant_id": TENANT, "events": [], "extra": 1}),
    )
    assert [row(a)["event"] for a in batch.accepted] == ["a", "c"]
    assert [a.event_id for a in batch.accepted] == [
        derived_event_id("seq/EVENTS/2026/9/0"),
        derived_event_id("seq/EVENTS/2026/9/2"),
    ]
    assert sorted((rid, item.position) for item, _, rid in batch.rejected) == [("EVENTS:10", 0), ("EVENTS:9", 1)]
    # Partly accepted: acknowledged (the refused event is in rejected_events); wholly refused: terminated.
    assert batch.acknowledge == [0] and batch.terminate == [1]


def test_batches_queued_behind_an_insert_join_it_with_their_message_indexes_shifted():
    from analytics_engine.streaming.consumer import merge_batches

    first = run(message(1, {"tenant_id": TENANT, "event": "a", "distinct_id": "u"}), message(2, b"x"))
    second = run(message(3, b"y"), message(4, {"tenant_id": "tn_other", "event": "b", "distinct_id": "u"}))
    messages, merged = merge_batches([(["m1", "m2"], first), (["m3", "m4"], second)])
    assert messages == ["m1", "m2", "m3", "m4"]
    assert merged.acknowledge == [0, 3] and merged.terminate == [1, 2] and merged.max_seq == 4
    assert [a.tenant_id for a in merged.accepted] == [TENANT, "tn_other"] and len(merged.rejected) == 2
    assert dict(merged.per_tenant) == {TENANT: [1, 0], "tn_other": [1, 0]}


def _outcome(batch) -> tuple:  # type: ignore[no-untyped-def]
    accepted = sorted((a.tenant_id, a.event_id, a.client_event_id, a.timestamp_ms, a.line) for a in batch.accepted)
    rejected = sorted((r.tenant_id, r.position, r.reason, r.payload, source, ref) for r, source, ref in batch.rejected)
    return accepted, rejected, sorted(batch.terminate), sorted(batch.acknowledge), dict(batch.per_tenant)


def test_the_fast_path_gives_the_general_paths_rows_verdicts_and_acks():
    """Many-event messages are decoded by msgspec (ingest/fast_path.py) unless something needs the
    general path; either way every row, rejection, ack and count is what the general path gives."""
    from analytics_engine.bench.soak import EventSource

    source = EventSource()
    plain = orjson.loads(source.take_body(100))
    without_ids = [{k: v for k, v in event.items() if k != "event_id"} for event in orjson.loads(source.take_body(50))]
    one_bad = orjson.loads(source.take_body(20))
    one_bad[7]["event"] = ""
    nested = orjson.loads(source.take_body(5))
    nested[2]["properties"] = {"cart": {"items": 2}}
    items = [
        message(1, {"tenant_id": TENANT, "events": plain}),
        message(2, {"tenant_id": TENANT, "events": without_ids}, msg_id="m-2"),
        message(3, {"tenant_id": TENANT, "events": without_ids}),  # same events, ids from the sequence
        message(4, {"tenant_id": TENANT, "events": one_bad}),
        message(5, {"tenant_id": "tn_other", "events": nested}),
        message(6, {"tenant_id": "tn_nobody", "events": plain[:3]}),
        message(7, {"tenant_id": TENANT, "events": []}),
        message(8, {"tenant_id": TENANT, "events": plain[:2], "extra": 1}),
        message(9, {"tenant_id": "   ", "events": plain[:2]}),
        message(10, {"tenant_id": TENANT, **plain[0]}),
        message(11, b"{not json"),
    ]
    import time

    now_ms = int(time.time() * 1000)  # one clock for both runs (it decides what is too old or too new)

    def both(limits: Limits) -> tuple[tuple, tuple]:
        fast = prepare(items, stream_key="EVENTS/2026", limits=limits, known_tenants=known, now_ms=now_ms)
        general = prepare(
            items, stream_key="EVENTS/2026", limits=limits, known_tenants=known, now_ms=now_ms, use_fast_path=False
        )
        return _outcome(fast), _outcome(general)

    fast, general = both(Limits())
    assert fast == general
    accepted = fast[0]
    assert len(accepted) == 100 + 50 + 50 + 19 + 5 + 1
    # Derived ids repeat on redelivery and count as client ids (checked for duplicates).
    assert {a[1] for a in accepted} >= {derived_event_id(f"msgid/{TENANT}/m-2/{n}") for n in range(50)}
    assert all(a[2] for a in accepted)
    # A tenant with suppressed ids takes the general path for every message: same outcome.
    suppressing = Limits(suppression=lambda tenant: frozenset({"x"}) if tenant == TENANT else frozenset())
    fast, general = both(suppressing)
    assert fast == general
