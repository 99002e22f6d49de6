"""Impact demo data: deterministic, valid through the ingest validation path, all three event kinds,
and enough opted-in peers that at least one benchmark of each demo tenant is not suppressed."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

from analytics_engine.datagen.impact import PEERS, PROFILES, generate_impact_events
from analytics_engine.datagen.loader import GENERATOR_LIMITS
from analytics_engine.ingest.validation import validate_events


def test_deterministic_and_valid() -> None:
    spec = PROFILES["Acme Learning"].spec
    end = datetime(2026, 6, 1, tzinfo=UTC)
    from dataclasses import replace

    fixed = replace(spec, end=end)
    first, second = list(generate_impact_events(fixed, 0.2)), list(generate_impact_events(fixed, 0.2))
    assert first == second
    kinds = Counter(e["event"] for e in first)
    assert set(kinds) == {"impact.activity", "impact.outcome", "impact.cost"}
    outcome = validate_events(first, "t", GENERATOR_LIMITS)
    assert not outcome.rejected and len(outcome.accepted) == len(first)
    phases = Counter(e["properties"]["phase"] for e in first if e["event"] == "impact.outcome")
    assert phases["baseline"] == phases["post"] > phases["follow_up"] > 0


def test_each_demo_tenant_has_a_peer_group_of_five() -> None:
    everyone = [*PROFILES.values(), *PEERS.values()]
    for profile in PROFILES.values():
        sizes = [
            sum(1 for p in everyone if getattr(p, attr) == getattr(profile, attr))
            for attr in ("industry", "region", "size_band")
        ]
        assert max(sizes) >= 5
