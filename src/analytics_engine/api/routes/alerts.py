"""`/v1/alerts`: alert rules (scope `admin` to change, `read` to see), their history, the actions on
an incident (acknowledge, snooze, resolve) and `simulate`. docs/alerts.md."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Query, Response

from analytics_engine.alerts.schemas import (
    STATES,
    AcknowledgeBody,
    AlertCreate,
    AlertEventPublic,
    AlertPublic,
    AlertUpdate,
    ResolveBody,
    SimulateRequest,
    SimulateResponse,
    SnoozeBody,
)
from analytics_engine.api.deps import AdminTenant, ReadTenant, RuntimeDep
from analytics_engine.api.openapi import examples
from analytics_engine.metadata.models import utcnow

router = APIRouter(prefix="/v1/alerts", tags=["alerts"])


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    text = {
        401: "No key, or an unknown or revoked key.",
        403: "The key lacks the scope (`admin` to change, `read` to see).",
        404: "No alert with this id for this tenant (another tenant's alert is a 404 too).",
        409: "The action does not fit the alert's state (nothing to acknowledge or resolve).",
        422: "Invalid input: unknown metric, invalid query or condition, unknown detector, internal webhook "
        "address, a range over the limit; `error.message` says which.",
    }
    return {code: {"description": text[code]} for code in codes}


_RULE = {
    "name": "Signups dropped",
    "source": {"type": "insight", "query": {"kind": "trends", "series": [{"event": "signup"}], "interval": "day"}},
    "condition": {"type": "relative", "compare_to": "week_ago", "direction": "down", "by": 30, "unit": "percent"},
    "pending_periods": 1,
    "cooldown_seconds": 3600,
    "every_seconds": 3600,
    "notify": {"emails": ["oncall@example.com"], "webhooks": [{"url": "https://example.com/hooks/alerts"}]},
}
_SIMULATE = {
    "source": {"type": "insight", "query": {"kind": "trends", "series": [{"event": "signup"}], "interval": "day"}},
    "condition": {"type": "threshold", "operator": "below", "value": 100},
    "pending_periods": 2,
    "date_range": {"date_from": "-60d"},
}


@router.post(
    "",
    status_code=201,
    response_model=AlertPublic,
    summary="Create an alert rule",
    responses=_errors(401, 403, 422),
    openapi_extra=examples(request=_RULE),
)
def create_alert(body: AlertCreate, tenant: AdminTenant, runtime: RuntimeDep) -> AlertPublic:
    """A rule watches one value (an insight, a registry metric, an impact figure, a restricted SQL
    query or an SLA signal), judges it by its condition every `every_seconds` and notifies on the
    bus, by webhook and email. A `sql` source the SQL guard refuses is a 422 with the guard's reason."""
    return runtime.alerts.create(tenant, body)


@router.get(
    "",
    response_model=list[AlertPublic],
    summary="This tenant's alert rules",
    responses=_errors(401, 403, 422),
)
def list_alerts(
    tenant: ReadTenant,
    runtime: RuntimeDep,
    state: str | None = Query(None, description=f"Only rules in this state: {', '.join(STATES)}."),
) -> list[AlertPublic]:
    """Every rule of the tenant with its current state, oldest first."""
    if state is not None and state not in STATES:
        from analytics_engine.errors import InvalidInput

        raise InvalidInput(f"unknown state {state!r}; one of: {', '.join(STATES)}")
    return runtime.alerts.list(tenant.tenant_id, state)


@router.post(
    "/simulate",
    response_model=SimulateResponse,
    summary="Replay a rule over past data",
    responses=_errors(401, 403, 422),
    openapi_extra=examples(request=_SIMULATE),
)
def simulate_alert(body: SimulateRequest, tenant: ReadTenant, runtime: RuntimeDep) -> SimulateResponse:
    """What the rule would have done over `date_range`: each point judged only on what came before it
    (expected value, interval and score where the condition has them), `firing` after the state
    machine (pending periods, cool-down), and the moments it would have fired."""
    return runtime.alerts.simulate(tenant, body)


@router.get(
    "/{alert_id}",
    response_model=AlertPublic,
    summary="One alert rule",
    responses=_errors(401, 403, 404),
)
def get_alert(alert_id: str, tenant: ReadTenant, runtime: RuntimeDep) -> AlertPublic:
    """The rule, its state, the last value judged and why."""
    return runtime.alerts.get(tenant.tenant_id, alert_id)


@router.patch(
    "/{alert_id}",
    response_model=AlertPublic,
    summary="Change an alert rule",
    responses=_errors(401, 403, 404, 422),
    openapi_extra=examples(
        request={"condition": {"type": "threshold", "operator": "below", "value": 50}, "pending_periods": 3}
    ),
)
def update_alert(alert_id: str, body: AlertUpdate, tenant: AdminTenant, runtime: RuntimeDep) -> AlertPublic:
    """Fields left out are unchanged. A new source or condition restarts the breach count."""
    return runtime.alerts.update(tenant, alert_id, body)


@router.delete(
    "/{alert_id}",
    status_code=204,
    summary="Delete an alert rule and its history",
    responses=_errors(401, 403, 404),
)
def delete_alert(alert_id: str, tenant: AdminTenant, runtime: RuntimeDep) -> Response:
    """The rule stops being evaluated at once."""
    runtime.alerts.delete(tenant.tenant_id, alert_id)
    return Response(status_code=204)


@router.get(
    "/{alert_id}/events",
    response_model=list[AlertEventPublic],
    summary="History of an alert rule, newest first",
    responses=_errors(401, 403, 404),
)
def list_events(
    alert_id: str, tenant: ReadTenant, runtime: RuntimeDep, limit: int = Query(100, ge=1, le=1000)
) -> list[AlertEventPublic]:
    """State changes, acknowledgements, snoozes, resolutions and notifications (with deliveries)."""
    return runtime.alerts.events(tenant.tenant_id, alert_id, limit)


@router.post(
    "/{alert_id}/evaluate",
    response_model=AlertPublic,
    summary="Evaluate an alert rule now",
    responses=_errors(401, 403, 404),
)
def evaluate_alert(alert_id: str, tenant: AdminTenant, runtime: RuntimeDep) -> AlertPublic:
    """Outside its schedule: the state moves and notifications go out exactly as on schedule."""
    return runtime.alerts.evaluate_now(tenant, alert_id)


@router.post(
    "/{alert_id}/acknowledge",
    response_model=AlertPublic,
    summary="Acknowledge an open incident with a comment",
    responses=_errors(401, 403, 404, 409, 422),
    openapi_extra=examples(request={"comment": "Looking into it: the signup form is down."}),
)
def acknowledge_alert(alert_id: str, body: AcknowledgeBody, tenant: AdminTenant, runtime: RuntimeDep) -> AlertPublic:
    """Notes who is on it; the state is unchanged. Cleared when the incident resolves."""
    return runtime.alerts.acknowledge(tenant, alert_id, body.comment)


@router.post(
    "/{alert_id}/snooze",
    response_model=AlertPublic,
    summary="Silence an alert's notifications for a while",
    responses=_errors(401, 403, 404, 422),
    openapi_extra=examples(request={"minutes": 120, "comment": "deploy window"}),
)
def snooze_alert(alert_id: str, body: SnoozeBody, tenant: AdminTenant, runtime: RuntimeDep) -> AlertPublic:
    """Evaluation and states go on; no notification is sent until the time (recorded as suppressed)."""
    until = body.until if body.until is not None else utcnow() + timedelta(minutes=body.minutes or 0)
    if until.tzinfo is None:
        from datetime import UTC

        until = until.replace(tzinfo=UTC)
    return runtime.alerts.snooze(tenant, alert_id, until, body.comment)


@router.delete(
    "/{alert_id}/snooze",
    response_model=AlertPublic,
    summary="End a snooze",
    responses=_errors(401, 403, 404),
)
def unsnooze_alert(alert_id: str, tenant: AdminTenant, runtime: RuntimeDep) -> AlertPublic:
    """Notifications go out again from the next evaluation."""
    return runtime.alerts.unsnooze(tenant, alert_id)


@router.post(
    "/{alert_id}/resolve",
    response_model=AlertPublic,
    summary="Resolve an open incident by hand",
    responses=_errors(401, 403, 404, 409, 422),
    openapi_extra=examples(request={"comment": "Fixed by the 14:05 deploy."}),
)
def resolve_alert(alert_id: str, body: ResolveBody, tenant: AdminTenant, runtime: RuntimeDep) -> AlertPublic:
    """State `resolved`, a `resolved` notification; if the value still breaches, the rule fires again
    after its pending periods."""
    return runtime.alerts.resolve(tenant, alert_id, body.comment)
