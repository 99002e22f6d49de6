"""The state machine (alerts/states.py): pending periods, firing, resolved, ok, no_data, error,
cool-down, snooze, resolve by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from analytics_engine.alerts.states import RuleState, advance, resolve_by_hand

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def run(outcomes: list[str], *, pending: int = 1, cooldown: int = 0, start: RuleState | None = None):  # type: ignore[no-untyped-def]
    state = start or RuleState()
    steps = []
    for i, outcome in enumerate(outcomes):
        step = advance(state, outcome, pending_periods=pending, cooldown_seconds=cooldown, now=T0 + timedelta(hours=i))  # type: ignore[arg-type]
        steps.append(step)
        state = step.after
    return steps


def test_pending_then_firing_then_resolved_then_ok() -> None:
    steps = run(["breach", "breach", "breach", "breach", "clear", "clear"], pending=3)
    assert [s.after.state for s in steps] == ["pending", "pending", "firing", "firing", "resolved", "ok"]
    assert [s.notice for s in steps] == [None, None, "triggered", None, "resolved", None]
    assert steps[2].after.firing_since == T0 + timedelta(hours=2)
    assert steps[4].after.firing_since is None and steps[4].after.breaches == 0


def test_a_clear_breaks_the_pending_streak() -> None:
    steps = run(["breach", "clear", "breach", "breach"], pending=2)
    assert [s.after.state for s in steps] == ["pending", "ok", "pending", "firing"]


def test_no_data_and_error_keep_the_incident_open() -> None:
    steps = run(["breach", "no_data", "error", "clear"])
    assert [s.after.state for s in steps] == ["firing", "no_data", "error", "resolved"]
    assert steps[1].after.firing_since is not None and steps[3].notice == "resolved"


def test_cooldown_suppresses_a_second_trigger() -> None:
    steps = run(["breach", "clear", "breach", "clear", "clear", "clear", "breach"], cooldown=3 * 3600)
    assert steps[0].notice == "triggered"
    assert steps[2].notice is None and "cool-down" in (steps[2].suppressed or "")
    assert steps[6].notice == "triggered"  # 6 hours after the first: past the cool-down


def test_snooze_suppresses_notices_but_not_states() -> None:
    start = RuleState(snoozed_until=T0 + timedelta(hours=2))
    steps = run(["breach", "clear", "breach"], start=start)
    assert [s.after.state for s in steps] == ["firing", "resolved", "firing"]
    assert [s.notice for s in steps] == [None, None, "triggered"]
    assert "snoozed" in (steps[0].suppressed or "")


def test_resolve_by_hand() -> None:
    assert resolve_by_hand(RuleState(), now=T0) is None
    firing = run(["breach"])[0].after
    step = resolve_by_hand(firing, now=T0)
    assert step is not None and step.after.state == "resolved" and step.notice == "resolved"
    again = advance(step.after, "breach", pending_periods=1, cooldown_seconds=0, now=T0 + timedelta(hours=1))
    assert again.after.state == "firing" and again.notice == "triggered"
