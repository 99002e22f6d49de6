"""Evaluation of rules, without storage: a rule's slots, its stored state as the state machine's,
and `judge_rules`, which groups rules by what they fetch (`sources.Prepared.key`), fetches each
group once with the longest history its rules need and judges every rule on its own series. Any
failure becomes that rule's (or that group's) `Outcome.error`; nothing here raises."""

from __future__ import annotations

import builtins
import hashlib
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import structlog

from analytics_engine.alerts import conditions as cond
from analytics_engine.alerts.models import AlertRule
from analytics_engine.alerts.schemas import RuleBody
from analytics_engine.alerts.sources import Prepared, Window, kind_of, prepare
from analytics_engine.alerts.states import RuleState

if TYPE_CHECKING:
    from analytics_engine.runtime import Runtime

log = structlog.get_logger(__name__)


def aware(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def next_slot(rule_id: str, every_seconds: int, after: datetime) -> datetime:
    """The rule's first slot strictly after `after`: slots are `every_seconds` apart, offset from
    the epoch by a hash of the id (stable across processes), so rules spread over the period."""
    offset = int(hashlib.sha256(rule_id.encode()).hexdigest()[:12], 16) % every_seconds
    seconds = after.timestamp()
    slot = ((int(seconds) - offset) // every_seconds + 1) * every_seconds + offset
    return datetime.fromtimestamp(slot, UTC)


def rule_state(rule: AlertRule) -> RuleState:
    return RuleState(
        state=rule.state,
        breaches=rule.breaches,
        firing_since=aware(rule.firing_since),
        last_notified_at=aware(rule.last_notified_at),
        snoozed_until=aware(rule.snoozed_until),
        acknowledged_at=aware(rule.acknowledged_at),
        acknowledged_comment=rule.acknowledged_comment,
    )


def store_state(rule: AlertRule, state: RuleState) -> None:
    rule.state = state.state
    rule.breaches = state.breaches
    rule.firing_since = state.firing_since
    rule.last_notified_at = state.last_notified_at
    rule.snoozed_until = state.snoozed_until
    rule.acknowledged_at = state.acknowledged_at
    rule.acknowledged_comment = state.acknowledged_comment


@dataclass
class Outcome:
    """The result of judging one rule: the verdict or the error."""

    verdict: cond.Verdict | None = None
    error: str | None = None


@dataclass
class EvaluationSummary:
    evaluated: int = 0
    groups: int = 0
    states: dict[str, int] = field(default_factory=dict)
    notices: int = 0
    seconds: float = 0.0


def error_message(exc: BaseException) -> str:
    return (getattr(exc, "message", None) or str(exc) or type(exc).__name__)[:500]


def judge_rules(
    runtime: Runtime, tenant: Any, rules: builtins.list[AlertRule], now: datetime, *, refresh: bool = False
) -> tuple[dict[str, Outcome], int]:
    """Every rule's outcome; one fetch per group of rules with the same source key."""
    outcomes: dict[str, Outcome] = {}
    groups: dict[str, builtins.list[tuple[AlertRule, Any, Prepared]]] = defaultdict(builtins.list)
    for rule in rules:
        try:
            body = RuleBody.model_validate({"source": rule.source, "condition": rule.condition})
            prepared = prepare(runtime, rule.tenant_id, body.source)
            groups[prepared.key].append((rule, body, prepared))
        except Exception as exc:
            outcomes[rule.id] = Outcome(error=error_message(exc))
    for members in groups.values():
        first = members[0][2]
        try:
            needed = max(cond.points_needed(body.condition, prepared.interval) for _, body, prepared in members)
            answer = kind_of(first).fetch(runtime, tenant, first, Window(points=needed + 1, refresh=refresh))
        except Exception as exc:
            error = error_message(exc)
            log.warning("alerts.fetch_failed", key=first.key[:200], error=error)
            for rule, _, _ in members:
                outcomes[rule.id] = Outcome(error=error)
            continue
        for rule, body, prepared in members:
            try:
                points = kind_of(prepared).extract(answer, body.source, now)
                verdict = cond.judge(body.condition, points, len(points) - 1, prepared.interval)
                outcomes[rule.id] = Outcome(verdict=verdict)
            except Exception as exc:
                outcomes[rule.id] = Outcome(error=error_message(exc))
    return outcomes, len(groups)
