from __future__ import annotations

import pytest

from analytics_engine.ingest.validation import InvalidEvent, Limits, event_row, parse_timestamp, validate_events

NOW = 1_780_000_000_000
LIMITS = Limits()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-05-28T20:26:40Z", 1_780_000_000_000),
        ("2026-05-28T22:26:40+02:00", 1_780_000_000_000),
        ("2026-05-28T20:26:40", 1_780_000_000_000),
        ("2026-05-28T20:26:40.123Z", 1_780_000_000_123),
        (1_780_000_000, 1_780_000_000_000),
        (1_780_000_000.5, 1_780_000_000_500),
        (1_780_000_000_123, 1_780_000_000_123),
    ],
)
def test_timestamps(value, expected):
    assert parse_timestamp(value) == expected


@pytest.mark.parametrize("value", ["tomorrow", True, None, [], float("nan")])
def test_bad_timestamps(value):
    with pytest.raises(InvalidEvent):
        parse_timestamp(value)


def test_integer_distinct_id_becomes_text():
    outcome = validate_events([{"event": "e", "distinct_id": 42}], "t", LIMITS, now_ms=NOW)
    assert event_row(outcome.accepted[0].line)["distinct_id"] == "42"


def test_row_carries_tenant_and_epoch_text():
    outcome = validate_events([{"event": "e", "distinct_id": "u", "timestamp": NOW}], "tn_1", LIMITS, now_ms=NOW)
    row = event_row(outcome.accepted[0].line)
    assert row["tenant_id"] == "tn_1"
    assert row["timestamp"] == "1780000000.000"
    assert not outcome.accepted[0].client_event_id


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        ({"distinct_id": "u"}, "'event' is required"),
        ({"event": "e"}, "'distinct_id' is required"),
        ({"event": "   ", "distinct_id": "u"}, "'event' is required"),
        ({"event": 5, "distinct_id": "u"}, "'event' is required"),
        ({"event": "e", "distinct_id": "u", "event_id": 7}, "UUID"),
        ({"event": "e", "distinct_id": "u", "properties": {"": 1}}, "empty or too long"),
        ({"event": "e", "distinct_id": "u", "properties": {"n": {"deep": "x" * 9000}}}, "larger than"),
    ],
)
def test_rejections(event, reason):
    outcome = validate_events([event], "t", LIMITS, now_ms=NOW)
    assert not outcome.accepted
    assert reason in outcome.rejected[0].reason
