"""Notifications of a rule: `analytics.alert.triggered.v1` / `analytics.alert.resolved.v1` on the
bus, a signed JSON POST to each webhook (retried with backoff) and one email over SMTP.

The webhook body is the bus event's envelope (`{"type", "version", "id", "tenant_id", "time",
"data"}`), signed like report webhooks: `X-Analytics-Signature: t=<unix time>,v1=<hex>` with
`<hex>` = HMAC-SHA256(the rule's webhook_secret, "<t>.<raw body>"). Webhooks go through the
outgoing guard (`analytics_engine.net`): internal addresses are refused unless allowlisted. A
network error, a 429 or a 5xx is retried (`alerts_webhook_attempts` in all, waiting
`alerts_webhook_backoff_seconds` * 2**(n-1) before retry n); another status is final."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

import httpx
import orjson

from analytics_engine.net import OutgoingPolicy, UrlNotAllowed, outgoing_client
from analytics_engine.reports.delivery import send_email, sign_webhook
from analytics_engine.reports.schemas import Delivery

EVENT_TYPES = {"triggered": "alert.triggered", "resolved": "alert.resolved"}


def event_data(rule: Any, notice: str, value: float | None, reason: str | None, at: Any) -> dict[str, Any]:
    """`data` of `analytics.alert.<notice>.v1` (schema in docs/events.md)."""
    return {
        "alert_id": rule.id,
        "name": rule.name,
        "state": "firing" if notice == "triggered" else "resolved",
        "value": value,
        "reason": reason,
        "source": rule.source,
        "condition": rule.condition,
        "firing_since": rule.firing_since.isoformat() if notice == "triggered" and rule.firing_since else None,
        "at": at.isoformat(),
    }


def post_with_retries(
    url: str,
    secret: str,
    envelope: dict[str, Any],
    *,
    timeout: float,
    allow: Iterable[str] | OutgoingPolicy,
    attempts: int,
    backoff_seconds: float,
    sleep: Callable[[float], None] = time.sleep,
) -> Delivery:
    body = orjson.dumps(envelope, default=str)
    last = Delivery(channel="webhook", target=url, ok=False, error="not sent")
    for attempt in range(1, max(1, attempts) + 1):
        if attempt > 1:
            sleep(backoff_seconds * 2 ** (attempt - 2))
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "analytics-engine-alerts",
            "X-Analytics-Event": str(envelope.get("type")),
            "X-Analytics-Delivery-Attempt": str(attempt),
            "X-Analytics-Signature": sign_webhook(secret, body),
        }
        try:
            with outgoing_client(allow, timeout=timeout) as client:
                response = client.post(url, content=body, headers=headers)
        except UrlNotAllowed as exc:
            return Delivery(channel="webhook", target=url, ok=False, error=f"{exc.code}: {exc.message}"[:300])
        except httpx.HTTPError as exc:
            last = Delivery(
                channel="webhook",
                target=url,
                ok=False,
                error=f"attempt {attempt}: {str(exc)[:250] or type(exc).__name__}",
            )
            continue
        if 200 <= response.status_code < 300:
            return Delivery(channel="webhook", target=url, ok=True, status=response.status_code)
        last = Delivery(
            channel="webhook",
            target=url,
            ok=False,
            status=response.status_code,
            error=f"HTTP {response.status_code} after {attempt} attempt(s)",
        )
        if response.status_code != 429 and response.status_code < 500:
            return last
    return last


def email_text(rule: Any, notice: str, value: float | None, reason: str | None) -> tuple[str, str]:
    subject = f"[{'FIRING' if notice == 'triggered' else 'RESOLVED'}] {rule.name}"
    lines = [
        f"Alert {rule.name!r} ({rule.id}) is {'firing' if notice == 'triggered' else 'resolved'}.",
        "",
        f"Value: {value}",
        f"Reason: {reason or '-'}",
        f"Condition: {orjson.dumps(rule.condition).decode()}",
        f"Source: {orjson.dumps(rule.source).decode()[:1000]}",
    ]
    return subject, "\n".join(lines)


def send_all(
    settings: Any, rule: Any, notice: str, envelope: dict[str, Any], value: float | None, reason: str | None
) -> list[Delivery]:
    """Email and webhooks of one notice (the bus is published by the caller)."""
    notify = rule.notify or {}
    subject, text = email_text(rule, notice, value, reason)
    deliveries = send_email(settings, list(notify.get("emails") or []), subject, text, [])
    for hook in notify.get("webhooks") or []:
        deliveries.append(
            post_with_retries(
                hook["url"],
                rule.webhook_secret,
                envelope,
                timeout=settings.alerts_webhook_timeout_seconds,
                allow=settings.outgoing_allow,
                attempts=settings.alerts_webhook_attempts,
                backoff_seconds=settings.alerts_webhook_backoff_seconds,
            )
        )
    return deliveries
