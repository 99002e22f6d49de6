"""Impact demo data: `impact.activity`, `impact.outcome` and `impact.cost` events (the default
vocabulary of docs/impact.md) for each demo tenant, the tenants' peer-group attributes and opt-in,
and four benchmark-only peer tenants.

Why the peers: benchmarks need at least k = 5 opted-in tenants in a peer group. With only the three
demo tenants every group would be suppressed, so the demo adds four opted-in tenants that hold
impact data only (no product events, no API keys), named "Demo peer ...". They exist to make the
benchmark page show numbers; their figures are as synthetic as everything else in the demo.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from analytics_engine.datagen.loader import load_events
from analytics_engine.runtime import Runtime
from analytics_engine.tenants.schemas import TenantCreate, TenantUpdate

DIMENSIONS = ("integration", "language", "job_readiness", "wellbeing", "belonging")


@dataclass(frozen=True)
class ImpactSpec:
    seed: int
    programmes: tuple[str, ...]
    dimensions: tuple[str, ...]
    participants: int = 120
    volunteers: int = 25
    days: int = 200
    effect: float = 0.15  # mean gain of intervention participants (0..1 scale)
    control_share: float = 0.2
    follow_up_share: float = 0.5
    retention: float = 0.6  # share of the post gain still there at follow-up
    monthly_cost: float = 6_000.0
    end: datetime | None = None


@dataclass(frozen=True)
class DemoProfile:
    industry: str
    region: str
    size_band: str
    spec: ImpactSpec


PROFILES = {
    "Acme Learning": DemoProfile(
        "education",
        "europe",
        "medium",
        ImpactSpec(11, ("language", "job_club"), ("language", "job_readiness", "integration"), effect=0.18),
    ),
    "Globex Volunteers": DemoProfile(
        "social_services",
        "north_america",
        "medium",
        ImpactSpec(
            23,
            ("mentoring", "community_meals"),
            ("belonging", "wellbeing", "integration"),
            participants=160,
            volunteers=40,
            effect=0.12,
            monthly_cost=9_000.0,
        ),
    ),
    "Initech Foundation": DemoProfile(
        "health",
        "asia",
        "medium",
        ImpactSpec(
            37,
            ("peer_support",),
            ("wellbeing", "belonging"),
            participants=80,
            volunteers=15,
            effect=0.2,
            monthly_cost=4_000.0,
            control_share=0.0,
        ),
    ),
}
PEERS = {
    "Demo peer Northwind Academy": DemoProfile(
        "education", "europe", "medium", ImpactSpec(101, ("tutoring",), ("language", "job_readiness"), effect=0.1)
    ),
    "Demo peer Fjord Schools": DemoProfile(
        "education",
        "europe",
        "small",
        ImpactSpec(102, ("reading",), ("language",), participants=60, volunteers=10, effect=0.22, monthly_cost=2_500.0),
    ),
    "Demo peer Contoso Learning": DemoProfile(
        "education",
        "north_america",
        "medium",
        ImpactSpec(103, ("coding_club",), ("job_readiness",), effect=0.14, monthly_cost=7_500.0),
    ),
    "Demo peer Tailspin Education": DemoProfile(
        "education",
        "asia",
        "small",
        ImpactSpec(104, ("mentoring",), ("job_readiness", "wellbeing"), participants=70, effect=0.08),
    ),
}


def _clip(value: float) -> float:
    return round(min(1.0, max(0.0, value)), 4)


def generate_impact_events(spec: ImpactSpec, scale: float = 1.0) -> Iterator[dict[str, Any]]:
    """Deterministic for a seed: volunteers log sessions with hours; participants are measured at
    baseline, post (about three months later) and some at follow-up; costs arrive monthly."""
    rng = random.Random(spec.seed)
    end = (spec.end or datetime.now(UTC)).replace(microsecond=0)
    start = end - timedelta(days=spec.days)
    volunteers = [f"vol-{spec.seed}-{i}" for i in range(max(1, int(spec.volunteers * scale)))]

    def moment(day: float) -> str:
        return (start + timedelta(days=min(day, spec.days - 0.01))).isoformat()

    for volunteer in volunteers:
        programme = rng.choice(spec.programmes)
        every = rng.choice((3.5, 7, 7, 14, 30))  # twice a week .. monthly
        hours_each = rng.choice((1.5, 2, 2, 3, 4))
        day = rng.uniform(0, every)
        while day < spec.days:
            yield {
                "event": "impact.activity",
                "distinct_id": volunteer,
                "timestamp": moment(day),
                "properties": {"hours": hours_each, "programme": programme, "volunteer_id": volunteer},
            }
            day += rng.expovariate(1 / every)
    for i in range(max(1, int(spec.participants * scale))):
        participant = f"part-{spec.seed}-{i}"
        programme = rng.choice(spec.programmes)
        control = rng.random() < spec.control_share
        mentor = None if control else rng.choice(volunteers)
        followed = not control and rng.random() < spec.follow_up_share
        first = rng.uniform(0, max(1.0, spec.days - 100))
        for dimension in spec.dimensions:
            baseline = rng.uniform(0.2, 0.6)
            gain = rng.gauss(spec.effect * (0.3 if control else 1.0), 0.08)
            post = baseline + gain
            base_props: dict[str, str | bool] = {"dimension": dimension, "programme": programme}
            if control:
                base_props["control"] = True
            if mentor:
                base_props["volunteer_id"] = mentor
            measures = [("baseline", first, baseline), ("post", first + 90, post)]
            if followed and first + 90 + 60 < spec.days:
                measures.append(("follow_up", first + 150, baseline + gain * spec.retention + rng.gauss(0, 0.03)))
            for phase, day, score in measures:
                yield {
                    "event": "impact.outcome",
                    "distinct_id": participant,
                    "timestamp": moment(day),
                    "properties": {**base_props, "phase": phase, "score": _clip(score)},
                }
    for month in range(max(1, spec.days // 30)):
        for programme in spec.programmes:
            yield {
                "event": "impact.cost",
                "distinct_id": "finance",
                "timestamp": moment(month * 30 + 1),
                "properties": {
                    "amount": round(spec.monthly_cost / len(spec.programmes) * rng.uniform(0.8, 1.2), 2),
                    "currency": "USD",
                    "programme": programme,
                },
            }


def _profile(runtime: Runtime, tenant_id: str, profile: DemoProfile) -> None:
    runtime.tenants.update(
        tenant_id,
        TenantUpdate(
            industry=profile.industry,
            region=profile.region,
            size_band=profile.size_band,
            data_sharing_opt_in=True,
        ),
    )


def load_impact_demo(runtime: Runtime, tenant_id: str, name: str, *, scale: float = 1.0) -> int:
    """Give a demo tenant its peer-group attributes, opt-in and impact events; returns events written."""
    profile = PROFILES.get(name)
    if profile is None:
        return 0
    _profile(runtime, tenant_id, profile)
    return load_events(runtime.warehouse, tenant_id, generate_impact_events(profile.spec, scale))


def load_impact_peers(runtime: Runtime, *, scale: float = 1.0) -> list[str]:
    """Create (or reuse) the benchmark-only peer tenants with impact data; returns their ids."""
    ids = []
    for name, profile in PEERS.items():
        existing = runtime.tenants.find_by_name(name)
        tenant = existing or runtime.tenants.create(TenantCreate(name=name))
        _profile(runtime, tenant.id, profile)
        if existing is None:
            load_events(runtime.warehouse, tenant.id, generate_impact_events(profile.spec, scale))
        ids.append(tenant.id)
    return ids
