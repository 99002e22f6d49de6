"""deploy/prometheus/alerts.yml names only metrics the service exports, and each rule points at a
section of docs/runbook.md that exists (issue 26)."""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from prometheus_client import REGISTRY

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy" / "prometheus" / "alerts.yml"
RUNBOOK = ROOT / "docs" / "runbook.md"
SUFFIXES = {
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "summary": ("_count", "_sum", "_created"),
}


def exported_names() -> set[str]:
    # Every module that defines metrics is imported by the app and the runtime it serves.
    import analytics_engine.api.app
    import analytics_engine.bus.nats
    import analytics_engine.runtime  # noqa: F401

    names = set()
    for family in REGISTRY.collect():
        for suffix in SUFFIXES.get(family.type, ("",)):
            names.add(family.name + suffix)
    return names


def rules() -> list[dict]:  # type: ignore[type-arg]
    loaded = yaml.safe_load(RULES.read_text())
    return [rule for group in loaded["groups"] for rule in group["rules"]]


def slug(heading: str) -> str:
    return re.sub(r"[^a-z0-9 -]", "", heading.strip().lower()).replace(" ", "-")


def test_every_metric_in_the_rules_is_exported():
    exported = exported_names()
    named = {name for rule in rules() for name in re.findall(r"\banalytics_[a-z0-9_]+", rule["expr"])}
    assert len(named) >= 12
    assert named - exported == set(), "alert rules name metrics the service does not export"


def test_the_memory_rule_names_the_process_collectors_metric():
    exported = exported_names()
    memory = next(rule for rule in rules() if rule["alert"] == "AnalyticsMemoryGrowing")
    named = set(re.findall(r"\bprocess_[a-z_]+", memory["expr"]))
    assert named == {"process_resident_memory_bytes"} and named <= exported


def test_rules_cover_the_issue_list_and_point_at_the_runbook():
    all_rules = rules()
    text = " ".join(rule["expr"] for rule in all_rules)
    for needed in (
        "analytics_nats_consumer_lag",  # ingest lag
        "analytics_events_rejected_total",  # rejected rate
        "analytics_http_request_seconds_bucket",  # query p95
        'outcome="failed"',  # job failures
        "analytics_data_dir_free_bytes",  # disk
    ):
        assert needed in text, needed
    anchors = {slug(line.lstrip("#")) for line in RUNBOOK.read_text().splitlines() if line.startswith("#")}
    for rule in all_rules:
        assert {"alert", "expr", "labels", "annotations"} <= set(rule), rule
        target = rule["annotations"]["runbook"]
        assert target.startswith("docs/runbook.md#") and target.split("#", 1)[1] in anchors, target
