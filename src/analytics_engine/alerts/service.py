"""Alert rules: CRUD and actions, scheduled evaluation and notifications, simulate.

Evaluation. Each rule has its own slot every `every_seconds`, offset by a hash of its id
(`next_slot`), so rules created together do not all run in the same second. The scheduler's
`alerts` entry looks for due rules every `alerts_tick_seconds` and enqueues one `alert_evaluation`
job per tenant (visible at `/v1/jobs`); the job runner runs it. Inside a job, rules are grouped by
what they fetch (`sources.Prepared.key`: the same insight query whatever its date range, the same
metric, the same SLA signal), each group is fetched once with the longest history its rules need,
and every rule is judged on its own series. A failure (the fetch, a rule's value, its condition)
puts the rules concerned in `error` with the reason; the job, the other rules and the scheduler go
on.
"""

from __future__ import annotations

import asyncio
import builtins
import secrets
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import structlog
from sqlalchemy import func, select

from analytics_engine.alerts import conditions as cond
from analytics_engine.alerts.evaluation import (
    EvaluationSummary,
    Outcome,
    aware,
    error_message,
    judge_rules,
    next_slot,
    rule_state,
    store_state,
)
from analytics_engine.alerts.models import AlertEvent, AlertRule
from analytics_engine.alerts.notify import EVENT_TYPES, event_data, send_all
from analytics_engine.alerts.schemas import (
    Acknowledgement,
    AlertCreate,
    AlertEventPublic,
    AlertPublic,
    AlertUpdate,
    RuleBody,
    SimulateRequest,
    SimulateResponse,
    ThresholdCondition,
)
from analytics_engine.alerts.sources import Prepared, prepare
from analytics_engine.alerts.states import Step, advance, resolve_by_hand
from analytics_engine.errors import Conflict, InvalidInput, NotFound
from analytics_engine.jobs.context import JobContext
from analytics_engine.metadata.models import utcnow
from analytics_engine.net import OutgoingPolicy, check_url
from analytics_engine.tenants.service import TenantContext

if TYPE_CHECKING:
    from analytics_engine.runtime import Runtime

log = structlog.get_logger(__name__)
JOB_KIND = "alert_evaluation"
SCHEDULE_NAME = "alerts"


@dataclass
class Notice:
    rule: AlertRule  # a detached copy
    notice: str
    value: float | None
    reason: str | None
    at: datetime


class AlertService:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        # The event loop of `serve` (set by the start hook): evaluations run in worker threads and
        # publish on the bus through it.
        self.loop: asyncio.AbstractEventLoop | None = None

    # --- validation ---------------------------------------------------------------------------
    def check_rule(self, tenant_id: str, body: RuleBody | Any) -> Prepared:
        """422 for a rule that cannot run: an unknown metric, an invalid query, a selector that does
        not fit, a condition the source cannot feed or an unknown detector."""
        prepared = prepare(self.runtime, tenant_id, body.source)
        condition = body.condition
        if not isinstance(condition, ThresholdCondition) and prepared.interval is None:
            raise InvalidInput(
                f"a {condition.type} condition compares over time, and this source gives one value; "
                "give the query an interval"
            )
        cond.points_needed(condition, prepared.interval)
        cond.check_condition(condition)
        return prepared

    def _check_webhooks(self, notify: Any) -> None:
        policy = OutgoingPolicy.from_entries(self.runtime.settings.outgoing_allow)
        for hook in notify.webhooks:
            check_url(hook.url, policy)

    # --- CRUD ---------------------------------------------------------------------------------
    def _rule(self, session: Any, tenant_id: str, alert_id: str) -> AlertRule:
        rule: AlertRule | None = session.get(AlertRule, alert_id)
        if rule is None or rule.tenant_id != tenant_id:
            raise NotFound(f"No alert with id {alert_id!r}.")
        return rule

    @staticmethod
    def _public(rule: AlertRule) -> AlertPublic:
        acknowledged = None
        if rule.acknowledged_at is not None:
            acknowledged = Acknowledgement(at=aware(rule.acknowledged_at), comment=rule.acknowledged_comment or "")
        return AlertPublic(
            id=rule.id,
            name=rule.name,
            source=rule.source,
            condition=rule.condition,
            every_seconds=rule.every_seconds,
            pending_periods=rule.pending_periods,
            cooldown_seconds=rule.cooldown_seconds,
            notify=rule.notify,
            enabled=rule.enabled,
            webhook_secret=rule.webhook_secret,
            state=rule.state,
            reason=rule.reason,
            value=rule.value,
            breaches=rule.breaches,
            last_evaluated_at=aware(rule.last_evaluated_at),
            next_evaluation_at=aware(rule.next_evaluation_at) if rule.enabled else None,
            firing_since=aware(rule.firing_since),
            snoozed_until=aware(rule.snoozed_until),
            acknowledged=acknowledged,
            created_at=aware(rule.created_at),
            updated_at=aware(rule.updated_at),
        )

    def create(self, tenant: Any, body: AlertCreate) -> AlertPublic:
        self.check_rule(tenant.tenant_id, body)
        self._check_webhooks(body.notify)
        limit = self.runtime.settings.alerts_max_rules_per_tenant
        with self.runtime.metadata.session() as session:
            count = session.scalar(
                select(func.count()).select_from(AlertRule).where(AlertRule.tenant_id == tenant.tenant_id)
            )
            if limit and (count or 0) >= limit:
                raise InvalidInput(f"a tenant may have at most {limit} alert rules", details={"limit": limit})
            now = utcnow()
            rule = AlertRule(
                tenant_id=tenant.tenant_id,
                name=body.name,
                source=body.source.model_dump(mode="json"),
                condition=body.condition.model_dump(mode="json"),
                every_seconds=body.every_seconds,
                pending_periods=body.pending_periods,
                cooldown_seconds=body.cooldown_seconds,
                notify=body.notify.model_dump(mode="json"),
                webhook_secret="whsec_" + secrets.token_urlsafe(24),
                enabled=body.enabled,
                state="ok",
                breaches=0,
                created_at=now,
                updated_at=now,
            )
            session.add(rule)
            session.flush()
            rule.next_evaluation_at = next_slot(rule.id, rule.every_seconds, now)
            session.flush()
            return self._public(rule)

    def list(self, tenant_id: str, state: str | None = None) -> builtins.list[AlertPublic]:
        with self.runtime.metadata.session() as session:
            query = select(AlertRule).where(AlertRule.tenant_id == tenant_id)
            if state:
                query = query.where(AlertRule.state == state)
            return [self._public(r) for r in session.scalars(query.order_by(AlertRule.created_at, AlertRule.id))]

    def get(self, tenant_id: str, alert_id: str) -> AlertPublic:
        with self.runtime.metadata.session() as session:
            return self._public(self._rule(session, tenant_id, alert_id))

    def update(self, tenant: Any, alert_id: str, body: AlertUpdate) -> AlertPublic:
        values = body.model_dump(exclude_unset=True)
        with self.runtime.metadata.session() as session:
            rule = self._rule(session, tenant.tenant_id, alert_id)
            if body.source is not None or body.condition is not None:
                merged = RuleBody.model_validate(
                    {
                        "source": body.source.model_dump() if body.source is not None else rule.source,
                        "condition": body.condition.model_dump() if body.condition is not None else rule.condition,
                    }
                )
                self.check_rule(tenant.tenant_id, merged)
                rule.source = merged.source.model_dump(mode="json")
                rule.condition = merged.condition.model_dump(mode="json")
                rule.breaches = 0  # a new question starts a new count
            if body.notify is not None:
                self._check_webhooks(body.notify)
                rule.notify = body.notify.model_dump(mode="json")
            for key in ("name", "pending_periods", "cooldown_seconds", "enabled"):
                if key in values:
                    setattr(rule, key, values[key])
            if "every_seconds" in values or "enabled" in values:
                if body.every_seconds is not None:
                    rule.every_seconds = body.every_seconds
                rule.next_evaluation_at = next_slot(rule.id, rule.every_seconds, utcnow())
            rule.updated_at = utcnow()
            session.flush()
            return self._public(rule)

    def delete(self, tenant_id: str, alert_id: str) -> None:
        with self.runtime.metadata.session() as session:
            session.delete(self._rule(session, tenant_id, alert_id))

    def events(self, tenant_id: str, alert_id: str, limit: int = 100) -> builtins.list[AlertEventPublic]:
        with self.runtime.metadata.session() as session:
            self._rule(session, tenant_id, alert_id)
            query = (
                select(AlertEvent)
                .where(AlertEvent.alert_id == alert_id, AlertEvent.tenant_id == tenant_id)
                .order_by(AlertEvent.time.desc(), AlertEvent.id.desc())
                .limit(limit)
            )
            return [AlertEventPublic.model_validate(e) for e in session.scalars(query)]

    # --- actions ------------------------------------------------------------------------------
    def acknowledge(self, tenant: Any, alert_id: str, comment: str) -> AlertPublic:
        with self.runtime.metadata.session() as session:
            rule = self._rule(session, tenant.tenant_id, alert_id)
            if rule.firing_since is None and rule.state != "pending":
                raise Conflict(f"Alert {alert_id!r} is {rule.state}: only a pending or firing alert is acknowledged.")
            now = utcnow()
            rule.acknowledged_at, rule.acknowledged_comment = now, comment
            session.add(self._event(rule, "acknowledged", now, comment=comment, details={"key_id": tenant.key_id}))
            session.flush()
            return self._public(rule)

    def snooze(self, tenant: Any, alert_id: str, until: datetime, comment: str | None) -> AlertPublic:
        with self.runtime.metadata.session() as session:
            rule = self._rule(session, tenant.tenant_id, alert_id)
            now = utcnow()
            if until <= now:
                raise InvalidInput("'until' must be in the future")
            rule.snoozed_until = until
            session.add(
                self._event(
                    rule, "snoozed", now, comment=comment, details={"until": until.isoformat(), "key_id": tenant.key_id}
                )
            )
            session.flush()
            return self._public(rule)

    def unsnooze(self, tenant: Any, alert_id: str) -> AlertPublic:
        with self.runtime.metadata.session() as session:
            rule = self._rule(session, tenant.tenant_id, alert_id)
            rule.snoozed_until = None
            session.add(self._event(rule, "unsnoozed", utcnow(), details={"key_id": tenant.key_id}))
            session.flush()
            return self._public(rule)

    def resolve(self, tenant: Any, alert_id: str, comment: str | None) -> AlertPublic:
        now = utcnow()
        with self.runtime.metadata.session() as session:
            rule = self._rule(session, tenant.tenant_id, alert_id)
            step = resolve_by_hand(rule_state(rule), now=now)
            if step is None:
                raise Conflict(f"Alert {alert_id!r} is {rule.state}: there is no open incident to resolve.")
            store_state(rule, step.after)
            session.add(
                self._event(
                    rule,
                    "resolved",
                    now,
                    comment=comment,
                    step=step,
                    value=rule.value,
                    details={"key_id": tenant.key_id},
                )
            )
            notices = self._record_notice(session, rule, step, rule.value, comment or "resolved by hand", now)
            session.flush()
            public = self._public(rule)
        self._send(notices)
        return public

    # --- history ------------------------------------------------------------------------------
    @staticmethod
    def _event(
        rule: AlertRule,
        kind: str,
        now: datetime,
        *,
        comment: str | None = None,
        step: Step | None = None,
        value: float | None = None,
        reason: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> AlertEvent:
        return AlertEvent(
            alert_id=rule.id,
            tenant_id=rule.tenant_id,
            time=now,
            kind=kind,
            from_state=step.before.state if step else None,
            to_state=step.after.state if step else None,
            value=value,
            reason=reason,
            comment=comment,
            details=details or {},
        )

    def _record_notice(
        self, session: Any, rule: AlertRule, step: Step, value: float | None, reason: str | None, now: datetime
    ) -> builtins.list[Notice]:
        if step.suppressed:
            session.add(self._event(rule, "notification_suppressed", now, value=value, reason=step.suppressed))
        if step.notice is None:
            return []
        session.flush()
        copy = AlertRule(**{c.key: getattr(rule, c.key) for c in AlertRule.__table__.columns})
        return [Notice(copy, step.notice, value, reason, now)]

    # --- notifications ------------------------------------------------------------------------
    def publish(self, event_type: str, data: dict[str, Any], tenant_id: str) -> dict[str, Any]:
        """Publish on the bus from a worker thread (through `serve`'s loop when there is one)."""
        coroutine = self.runtime.bus.publish(event_type, data, tenant_id=tenant_id)
        loop = self.loop
        if loop is not None and loop.is_running():
            event = asyncio.run_coroutine_threadsafe(coroutine, loop).result(timeout=30)
        else:
            event = asyncio.run(coroutine)
        envelope: dict[str, Any] = event.model_dump(mode="json")
        return envelope

    def _send(self, notices: builtins.list[Notice]) -> None:
        for item in notices:
            rule = item.rule
            try:
                data = event_data(rule, item.notice, item.value, item.reason, item.at)
                envelope = self.publish(EVENT_TYPES[item.notice], data, rule.tenant_id)
                deliveries = send_all(self.runtime.settings, rule, item.notice, envelope, item.value, item.reason)
                details = {
                    "type": envelope["type"],
                    "event_id": envelope["id"],
                    "deliveries": [d.model_dump(mode="json") for d in deliveries],
                }
                error = None
            except Exception as exc:  # a notification never breaks an evaluation
                log.exception("alerts.notify_failed", alert_id=rule.id)
                details, error = {}, error_message(exc)
            with self.runtime.metadata.session() as session:
                if session.get(AlertRule, rule.id) is None:
                    continue
                event = self._event(rule, "notified", utcnow(), value=item.value, reason=error or item.notice)
                event.details = details
                session.add(event)

    # --- evaluation ---------------------------------------------------------------------------
    def tenant_context(self, tenant_id: str) -> TenantContext:
        tenant = self.runtime.tenants.get(tenant_id)
        return TenantContext(tenant.id, tenant.name, tenant.timezone, frozenset({"read"}), "alerts")

    def evaluate(
        self, tenant_id: str, rule_ids: builtins.list[str], now: datetime | None = None, *, refresh: bool = False
    ) -> EvaluationSummary:
        """Evaluate these rules of one tenant now; record states, history and notify."""
        started = time.perf_counter()
        now = now or utcnow()
        with self.runtime.metadata.session() as session:
            rules = builtins.list(
                session.scalars(select(AlertRule).where(AlertRule.tenant_id == tenant_id, AlertRule.id.in_(rule_ids)))
            )
            session.expunge_all()
        summary = EvaluationSummary()
        if not rules:
            return summary
        try:
            tenant = self.tenant_context(tenant_id)
            outcomes, summary.groups = judge_rules(self.runtime, tenant, rules, now, refresh=refresh)
        except Exception as exc:
            outcomes = {rule.id: Outcome(error=error_message(exc)) for rule in rules}
        notices: builtins.list[Notice] = []
        with self.runtime.metadata.session() as session:
            stored = {
                r.id: r for r in session.scalars(select(AlertRule).where(AlertRule.id.in_([rule.id for rule in rules])))
            }
            for rule_id, outcome in outcomes.items():
                rule = stored.get(rule_id)
                if rule is None:
                    continue  # deleted meanwhile
                notices += self._apply(session, rule, outcome, now)
                summary.states[rule.state] = summary.states.get(rule.state, 0) + 1
                summary.evaluated += 1
        self._send(notices)
        summary.notices = len(notices)
        summary.seconds = round(time.perf_counter() - started, 3)
        return summary

    def _apply(self, session: Any, rule: AlertRule, outcome: Outcome, now: datetime) -> builtins.list[Notice]:
        verdict = outcome.verdict
        if outcome.error is not None or verdict is None:
            kind, value, reason = "error", None, outcome.error or "no verdict"
        elif verdict.no_data:
            kind, value, reason = "no_data", verdict.value, verdict.reason
        else:
            kind = "breach" if verdict.breach else "clear"
            value, reason = verdict.value, verdict.reason
        step = advance(
            rule_state(rule),
            kind,  # type: ignore[arg-type]
            pending_periods=rule.pending_periods,
            cooldown_seconds=rule.cooldown_seconds,
            now=now,
        )
        store_state(rule, step.after)
        rule.value, rule.reason, rule.last_evaluated_at = value, reason, now
        details: dict[str, Any] = {}
        if verdict is not None and not outcome.error:
            details = {
                k: getattr(verdict, k)
                for k in ("expected", "lower", "upper", "score")
                if getattr(verdict, k) is not None
            }
        if step.changed:
            session.add(self._event(rule, "state", now, step=step, value=value, reason=reason, details=details))
        return self._record_notice(session, rule, step, value, reason, now)

    # --- scheduling ---------------------------------------------------------------------------
    def due(self, now: datetime | None = None) -> dict[str, builtins.list[str]]:
        """Rules whose slot has come, by tenant; their next slot is set at once (a slow evaluation is
        never started twice)."""
        now = now or utcnow()
        out: dict[str, builtins.list[str]] = defaultdict(builtins.list)
        with self.runtime.metadata.session() as session:
            query = select(AlertRule).where(AlertRule.enabled.is_(True), AlertRule.next_evaluation_at <= now)
            for rule in session.scalars(query.limit(50_000)):
                rule.next_evaluation_at = next_slot(rule.id, rule.every_seconds, now)
                out[rule.tenant_id].append(rule.id)
        return dict(out)

    def tick(self, now: datetime | None = None) -> builtins.list[str]:
        """Enqueue one evaluation job per tenant with due rules; returns the job ids."""
        jobs = []
        for tenant_id, rule_ids in self.due(now).items():
            job = self.runtime.runner.enqueue(
                JOB_KIND, tenant_id=tenant_id, params={"rule_ids": rule_ids}, source="schedule"
            )
            jobs.append(job.id)
        return jobs

    def execute(self, ctx: JobContext) -> dict[str, Any]:
        """The `alert_evaluation` job handler."""
        assert ctx.tenant_id is not None
        rule_ids = builtins.list(ctx.params.get("rule_ids") or [])
        summary = self.evaluate(ctx.tenant_id, rule_ids, refresh=bool(ctx.params.get("refresh")))
        return {
            "evaluated": summary.evaluated,
            "groups": summary.groups,
            "states": summary.states,
            "notices": summary.notices,
            "seconds": summary.seconds,
        }

    def evaluate_now(self, tenant: Any, alert_id: str) -> AlertPublic:
        self.get(tenant.tenant_id, alert_id)  # 404 first
        self.evaluate(tenant.tenant_id, [alert_id])
        return self.get(tenant.tenant_id, alert_id)

    # --- simulate -----------------------------------------------------------------------------
    def simulate(self, tenant: Any, body: SimulateRequest) -> SimulateResponse:
        """What the rule would have done over past data (alerts/simulate.py)."""
        from analytics_engine.alerts.simulate import simulate

        return simulate(self, tenant, body)
