"""Builders of impact events (the default vocabulary) for the API tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any


def at(days_ago: float) -> str:
    return (datetime.now(UTC) - timedelta(days=days_ago)).isoformat()


def outcome(
    participant: str,
    score: float,
    phase: str,
    *,
    dimension: str = "job_readiness",
    control: bool = False,
    volunteer: str | None = None,
    programme: str = "mentoring",
    days_ago: float = 10,
) -> dict[str, Any]:
    props: dict[str, Any] = {"dimension": dimension, "score": score, "phase": phase, "programme": programme}
    if control:
        props["control"] = True
    if volunteer:
        props["volunteer_id"] = volunteer
    return {"event": "impact.outcome", "distinct_id": participant, "timestamp": at(days_ago), "properties": props}


def activity(volunteer: str, hours: float, *, programme: str = "mentoring", days_ago: float = 5) -> dict[str, Any]:
    return {
        "event": "impact.activity",
        "distinct_id": volunteer,
        "timestamp": at(days_ago),
        "properties": {"hours": hours, "programme": programme, "volunteer_id": volunteer},
    }


def cost(amount: float, *, currency: str = "USD", programme: str = "mentoring", days_ago: float = 20) -> dict[str, Any]:
    return {
        "event": "impact.cost",
        "distinct_id": "finance",
        "timestamp": at(days_ago),
        "properties": {"amount": amount, "currency": currency, "programme": programme},
    }


def worked_example() -> list[dict[str, Any]]:
    """The SROI worked example of docs/impact.md as events: ratio 4.0542."""
    events = []
    for i in range(40):
        events += [outcome(f"p{i}", 0.5, "baseline", days_ago=60), outcome(f"p{i}", 0.75, "post", days_ago=30)]
        if i < 20:
            events.append(outcome(f"p{i}", 0.625, "follow_up", days_ago=2))
    for i in range(10):
        events += [
            outcome(f"c{i}", 0.5, "baseline", control=True, days_ago=60),
            outcome(f"c{i}", 0.5625, "post", control=True, days_ago=30),
        ]
    events.append(cost(20_000))
    events += [activity(f"v{i % 5}", 10.0, days_ago=1 + i % 20) for i in range(50)]  # 500 hours
    return events
