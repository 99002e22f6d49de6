"""The state machine of a rule, pure (no I/O), shared by the scheduled evaluation and `simulate`.

An evaluation ends in one of four outcomes: `breach`, `clear`, `no_data`, `error`.

- `breach`: `pending` while the breaches in a row are fewer than `pending_periods`, then `firing`.
  Entering `firing` opens an incident and sends `triggered` (unless snoozed or within the cool-down).
- `clear`: `resolved` if an incident is open (sends `resolved`), else `ok`; the breach count is 0 and an
  acknowledgement is cleared.
- `no_data`: `no_data`; the breach count is 0; an open incident stays open.
- `error`: `error` (with the reason); the breach count is kept; an open incident stays open.

By hand: `resolve` closes an open incident (state `resolved`, sends `resolved`); `acknowledge` notes
a comment on an open incident (pending or firing) without changing the state; `snooze` silences
notifications until a time (states still change and are recorded).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Literal

Outcome = Literal["breach", "clear", "no_data", "error"]
Notice = Literal["triggered", "resolved"]


@dataclass(frozen=True)
class RuleState:
    state: str = "ok"
    breaches: int = 0
    firing_since: datetime | None = None
    last_notified_at: datetime | None = None
    snoozed_until: datetime | None = None
    acknowledged_at: datetime | None = None
    acknowledged_comment: str | None = None


@dataclass(frozen=True)
class Step:
    before: RuleState
    after: RuleState
    notice: Notice | None = None  # what to send
    suppressed: str | None = None  # why a notice was not sent (snoozed, cool-down)

    @property
    def changed(self) -> bool:
        return self.before.state != self.after.state


def snoozed(state: RuleState, now: datetime) -> bool:
    return state.snoozed_until is not None and now < state.snoozed_until


def _notice(before: RuleState, after: RuleState, notice: Notice, now: datetime, cooldown_seconds: int) -> Step:
    if snoozed(before, now):
        return Step(before, after, suppressed=f"{notice}: snoozed until {before.snoozed_until:%Y-%m-%d %H:%M} UTC")
    last = before.last_notified_at
    if notice == "triggered" and last is not None and now < last + timedelta(seconds=cooldown_seconds):
        return Step(before, after, suppressed=f"triggered: within the cool-down ({cooldown_seconds} s)")
    if notice == "triggered":
        after = replace(after, last_notified_at=now)
    return Step(before, after, notice=notice)


def _close(state: RuleState, new_state: str) -> RuleState:
    return replace(
        state, state=new_state, breaches=0, firing_since=None, acknowledged_at=None, acknowledged_comment=None
    )


def advance(before: RuleState, outcome: Outcome, *, pending_periods: int, cooldown_seconds: int, now: datetime) -> Step:
    """The next state after an evaluation's outcome, and the notice to send (if any)."""
    if outcome == "error":
        return Step(before, replace(before, state="error"))
    if outcome == "no_data":
        return Step(before, replace(before, state="no_data", breaches=0))
    if outcome == "clear":
        if before.firing_since is not None:
            return _notice(before, _close(before, "resolved"), "resolved", now, cooldown_seconds)
        return Step(before, _close(before, "ok"))
    breaches = before.breaches + 1
    if breaches < pending_periods:
        return Step(before, replace(before, state="pending", breaches=breaches))
    after = replace(before, state="firing", breaches=breaches)
    if before.firing_since is not None:
        return Step(before, after)  # still firing: the incident is already open and was announced
    return _notice(before, replace(after, firing_since=now), "triggered", now, cooldown_seconds)


def resolve_by_hand(before: RuleState, *, now: datetime) -> Step | None:
    """Close the open incident; None when there is none."""
    if before.firing_since is None:
        return None
    return _notice(before, _close(before, "resolved"), "resolved", now, 0)
