"""Delivering a report: one email (SMTP) with the files attached, and a signed JSON POST per
webhook. The webhook signature is `X-Analytics-Signature: t=<unix time>,v1=<hex>` where `<hex>` is
HMAC-SHA256(report's webhook_secret, "<t>.<raw body>").

Webhooks go through the outgoing guard (analytics_engine.net): internal addresses are refused at
connect time, redirects are not followed, and a delivery records the status code only, never the
response body (a body would let a tenant read what an internal service answers)."""

from __future__ import annotations

import hashlib
import hmac
import smtplib
import time
from collections.abc import Iterable
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import orjson

from analytics_engine.net import OutgoingPolicy, UrlNotAllowed, outgoing_client
from analytics_engine.reports.schemas import Delivery

MAX_ATTACHMENT_BYTES = 20_000_000


def sign_webhook(secret: str, body: bytes, timestamp: int | None = None) -> str:
    moment = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{moment}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={moment},v1={digest}"


def verify_webhook(secret: str, body: bytes, header: str, *, tolerance: int = 300) -> bool:
    """What a receiver does: recompute the HMAC and check the time stamp is recent."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        moment = int(parts["t"])
    except (KeyError, ValueError):
        return False
    expected = sign_webhook(secret, body, moment).split("v1=", 1)[1]
    return abs(time.time() - moment) <= tolerance and hmac.compare_digest(expected, parts.get("v1", ""))


def send_email(
    settings: Any,
    recipients: list[str],
    subject: str,
    text: str,
    attachments: list[tuple[str, str, Path]],
) -> list[Delivery]:
    if not recipients:
        return []
    if not settings.smtp_host:
        return [
            Delivery(channel="email", target=r, ok=False, error="SMTP is not configured (ANALYTICS_SMTP_HOST)")
            for r in recipients
        ]
    message = EmailMessage()
    message["From"] = settings.smtp_from
    message["To"] = ", ".join(recipients)
    message["Subject"] = subject
    message.set_content(text)
    for filename, content_type, path in attachments:
        if path.stat().st_size > MAX_ATTACHMENT_BYTES:
            continue  # the link in the text still reaches it
        maintype, _, subtype = content_type.partition("/")
        message.add_attachment(path.read_bytes(), maintype=maintype, subtype=subtype, filename=filename)
    try:
        with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=30) as smtp:
            if settings.smtp_starttls:
                smtp.starttls()
            if settings.smtp_username:
                smtp.login(settings.smtp_username, settings.smtp_password or "")
            refused = smtp.send_message(message)
    except (OSError, smtplib.SMTPException) as exc:
        return [Delivery(channel="email", target=r, ok=False, error=str(exc)[:300]) for r in recipients]
    return [
        Delivery(channel="email", target=r, ok=r not in refused, error=str(refused[r])[:300] if r in refused else None)
        for r in recipients
    ]


def post_webhook(
    url: str,
    secret: str,
    payload: dict[str, Any],
    timeout: float,
    allow: Iterable[str] | OutgoingPolicy = (),
) -> Delivery:
    body = orjson.dumps(payload, default=str)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "analytics-engine-reports",
        "X-Analytics-Event": "report.delivered",
        "X-Analytics-Signature": sign_webhook(secret, body),
    }
    try:
        with outgoing_client(allow, timeout=timeout) as client:
            response = client.post(url, content=body, headers=headers)
    except UrlNotAllowed as exc:
        return Delivery(channel="webhook", target=url, ok=False, error=f"{exc.code}: {exc.message}"[:300])
    except httpx.HTTPError as exc:
        return Delivery(channel="webhook", target=url, ok=False, error=str(exc)[:300] or type(exc).__name__)
    ok = 200 <= response.status_code < 300
    return Delivery(
        channel="webhook",
        target=url,
        ok=ok,
        status=response.status_code,
        error=None if ok else f"HTTP {response.status_code}",
    )
