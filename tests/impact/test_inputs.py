"""The warehouse side of impact inputs against the Python reference, on random data: per-dimension
statistics and reach (SQL, GROUPING SETS) equal `summarize` over the same participants."""

from __future__ import annotations

import random
from statistics import fmean

import pytest

from analytics_engine.impact.inputs import Window, default_vocabulary, read_sroi_data, read_vis_data
from analytics_engine.impact.service import make_window
from analytics_engine.impact.sroi import ParticipantScores, summarize
from analytics_engine.warehouse.scoped import TenantScope
from tests.impact.support import outcome


def random_outcomes(seed: int) -> tuple[list[dict], dict[str, list[ParticipantScores]]]:
    rng = random.Random(seed)
    events, reference = [], {}
    for dimension in ("language", "wellbeing"):
        rows = []
        for i in range(30):
            participant, control = f"p{i}", i % 4 == 0
            means = {}
            for phase in ("baseline", "post", "follow_up"):
                if rng.random() < 0.25:
                    continue  # not measured in this phase
                scores = [round(rng.random(), 2) for _ in range(rng.randint(1, 2))]
                means[phase] = fmean(scores)
                events += [
                    outcome(
                        participant, s, phase, dimension=dimension, control=control, volunteer=f"v{i % 3}", days_ago=3
                    )
                    for s in scores
                ]
            if means:
                rows.append(
                    ParticipantScores(
                        participant, control, means.get("baseline"), means.get("post"), means.get("follow_up")
                    )
                )
        reference[dimension] = rows
    return events, reference


@pytest.mark.parametrize("seed", [1, 2])
def test_sql_statistics_match_the_python_reference(runtime, new_tenant, seed: int) -> None:  # type: ignore[no-untyped-def]
    tenant = new_tenant()
    events, reference = random_outcomes(seed)
    tenant.ingest(events)
    window: Window = make_window(None, None, None)
    data = read_sroi_data(TenantScope(runtime.warehouse, tenant.id), default_vocabulary(), window, min_gain=0.05)
    stats, reach = summarize(reference, min_gain=0.05)
    assert data.reach == reach
    assert set(data.outcomes) == set(stats)
    for dimension, expected in stats.items():
        got = data.outcomes[dimension]
        for name in expected._fields:
            want, have = getattr(expected, name), getattr(got, name)
            assert (have is None) == (want is None), name
            if want is not None:
                assert have == pytest.approx(want, abs=1e-9), (dimension, name)

    vis = read_vis_data(TenantScope(runtime.warehouse, tenant.id), default_vocabulary(), window)
    gains = {}
    for rows in reference.values():
        for r in rows:
            if not r.control and r.baseline is not None and r.post is not None:
                gains.setdefault(r.participant, []).append(r.post - r.baseline)
    assert {p: g for p, g, _, _ in vis.participants} == pytest.approx({p: fmean(g) for p, g in gains.items()})
