"""A user-level simulation that produces real-looking product analytics.

Each user signs up on a day drawn with growth over the period, lives for a geometric number of days
(churn), visits on a share of those days with weekday seasonality, and walks a funnel
signup -> activated -> purchase with drop-off. Properties are skewed (plan, country, browser,
utm_source, purchase amounts log-normal). Deterministic for a given seed.
"""

from __future__ import annotations

import math
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

PLANS = (("free", 0.70), ("pro", 0.25), ("enterprise", 0.05))
COUNTRIES = ("US", "GB", "DE", "NO", "FR", "IN", "BR", "NG", "CA", "ES", "JP", "KE")
BROWSERS = (("Chrome", 0.62), ("Safari", 0.2), ("Firefox", 0.08), ("Edge", 0.08), ("Other", 0.02))
SOURCES = (("direct", 0.4), ("google", 0.3), ("newsletter", 0.15), ("partner", 0.1), ("linkedin", 0.05))
PAGES = ("/home", "/dashboard", "/courses", "/sessions", "/settings", "/reports", "/help")
FEATURES = ("export", "invite", "comment", "schedule", "search", "upload")
WEEKDAY_FACTOR = (1.0, 1.05, 1.05, 1.0, 0.9, 0.45, 0.4)  # Monday first


def _pick(rng: random.Random, options: tuple[tuple[str, float], ...]) -> str:
    point, total = rng.random(), 0.0
    for value, weight in options:
        total += weight
        if point < total:
            return value
    return options[-1][0]


def _zipf_pick(rng: random.Random, options: tuple[str, ...], skew: float = 1.1) -> str:
    weights = [1 / (rank + 1) ** skew for rank in range(len(options))]
    return rng.choices(options, weights)[0]


@dataclass(frozen=True)
class GeneratorSpec:
    events: int
    days: int = 180
    end: datetime | None = None
    seed: int = 7
    events_per_user: int = 40
    # The demo's story for AI insights (docs/ai.md): people who sign up in June on Safari stop
    # coming back after their first day, so June's retention drops and the cause is browser = Safari.
    june_safari_churn: bool = False


def generate_events(spec: GeneratorSpec) -> Iterator[dict[str, Any]]:
    """Yield about `spec.events` events (exactly, the last user is cut) ordered by user."""
    rng = random.Random(spec.seed)
    end = (spec.end or datetime.now(UTC)).replace(microsecond=0)
    start = end - timedelta(days=spec.days)
    produced = 0
    user_number = 0
    while produced < spec.events:
        user_number += 1
        for event in _user_events(rng, f"user-{spec.seed}-{user_number}", start, end, spec):
            yield event
            produced += 1
            if produced >= spec.events:
                return


def _user_events(
    rng: random.Random, distinct_id: str, start: datetime, end: datetime, spec: GeneratorSpec
) -> Iterator[dict[str, Any]]:
    # Growth: later signups more likely (square-root of a uniform skews towards the end).
    signup = start + timedelta(seconds=math.sqrt(rng.random()) * (end - start).total_seconds())
    plan = _pick(rng, PLANS)
    country = _zipf_pick(rng, COUNTRIES)
    browser = _pick(rng, BROWSERS)
    source = _pick(rng, SOURCES)
    base = {"plan": plan, "country": country, "browser": browser}
    yield _event(rng, "signup", distinct_id, signup, {**base, "utm_source": source})
    engagement = rng.betavariate(2, 5)  # most users light, a few heavy
    lifetime_days = int(rng.expovariate(1 / max(5.0, spec.events_per_user * 1.5 * engagement + 5)))
    activated_at = None
    if rng.random() < 0.55 + 0.3 * engagement:
        activated_at = signup + timedelta(hours=rng.expovariate(1 / 20))
        if activated_at < end:
            yield _event(rng, "activated", distinct_id, activated_at, base)
    purchase_probability = 0.25 if plan == "free" else 0.6
    if activated_at and rng.random() < purchase_probability:
        bought = activated_at + timedelta(days=rng.expovariate(1 / 4))
        if bought < end:
            yield _purchase(rng, distinct_id, bought, base, plan)
    if spec.june_safari_churn and signup.month == 6 and browser == "Safari":
        lifetime_days = 0
    last_day = min(end, signup + timedelta(days=lifetime_days))
    day = signup.replace(hour=0, minute=0, second=0) + timedelta(days=1)
    while day < last_day:
        if rng.random() < engagement * WEEKDAY_FACTOR[day.weekday()]:
            for _ in range(1 + int(rng.expovariate(1 / 2.5))):
                moment = day + timedelta(seconds=rng.gauss(14 * 3600, 3 * 3600) % 86400)
                if moment >= end:
                    break
                kind = rng.random()
                if kind < 0.6:
                    yield _event(rng, "pageview", distinct_id, moment, {**base, "path": _zipf_pick(rng, PAGES)})
                elif kind < 0.95:
                    feature = _zipf_pick(rng, FEATURES, 0.8)
                    yield _event(rng, "feature_used", distinct_id, moment, {**base, "feature": feature})
                elif activated_at:
                    yield _purchase(rng, distinct_id, moment, base, plan)
        day += timedelta(days=1)


def _purchase(
    rng: random.Random, distinct_id: str, moment: datetime, base: dict[str, Any], plan: str
) -> dict[str, Any]:
    scale = {"free": 20.0, "pro": 60.0, "enterprise": 400.0}[plan]
    amount = round(rng.lognormvariate(math.log(scale), 0.6), 2)
    return _event(rng, "purchase", distinct_id, moment, {**base, "amount": amount, "currency": "USD"})


def _event(
    rng: random.Random, name: str, distinct_id: str, moment: datetime, properties: dict[str, Any]
) -> dict[str, Any]:
    return {
        "event": name,
        "distinct_id": distinct_id,
        "timestamp": moment.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "event_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "properties": properties,
    }
