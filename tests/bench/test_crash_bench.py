"""Ingest SIGKILLed at random instants on each path, clients retrying: every acknowledged event is
stored once and every derived table equals `events` (issue 17). The metadata database (tenants,
keys, NATS checkpoints) is SQLite or PostgreSQL. `analytics-engine bench crash` runs more kills."""

from __future__ import annotations

import random

import pytest

from analytics_engine.bench.crash import Harness, run_path
from tests.support.postgres import postgres_schema_url
from tests.support.services import NATS, require_service


@pytest.mark.parametrize("metadata", ["sqlite", "postgresql"])
@pytest.mark.parametrize("path", ["http", "nats-worker", "nats-serve"])
def test_killed_ingest_keeps_each_acknowledged_event_exactly_once(path, metadata, tmp_path):
    if path.startswith("nats"):
        require_service("NATS", NATS)
    rng = random.Random(f"{path}/{metadata}")
    if metadata == "postgresql":
        with postgres_schema_url() as url:
            report = run_path(path, Harness(tmp_path, url), kills=3, rng=rng)
    else:
        report = run_path(path, Harness(tmp_path, f"sqlite:///{tmp_path / 'meta.db'}"), kills=3, rng=rng)
    assert report.acknowledged > 0
    assert sum(report.states.values()) == report.kills == 3
    assert report.mismatches == []
    assert report.journal_left == 0
    assert report.stored == report.distinct == report.acknowledged, report
