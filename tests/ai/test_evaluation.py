"""The evaluation harness (ai/evaluation.py) run against the scripted OpenAI-compatible server: a model
that calls the right tools scores full execution accuracy, one that invents numbers scores zero (its
answers are refused), and the offline parser scores full marks on its own questions."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from analytics_engine.ai.answers import fmt_value
from analytics_engine.ai.evaluation import evaluate, questions
from analytics_engine.ai.explain import _rows, metric_type
from analytics_engine.ai.parser import Vocabulary, parse_question
from analytics_engine.ai.schemas import AskRequest
from analytics_engine.ai.service import AIService, previous_baseline
from analytics_engine.datagen.generator import GeneratorSpec, generate_events
from analytics_engine.datagen.loader import load_events
from analytics_engine.insights.registry import result_from_json
from tests.ai.scripted_llm import Reply, message, scripted_server, tool_call, tool_results
from tests.conftest import build_settings
from tests.support.factories import make_tenant


@pytest.fixture(scope="module")
def llm():
    with scripted_server(lambda body: Reply(500, b"{}")) as server:
        yield server


@pytest.fixture(scope="module")
def settings(tmp_path_factory, warehouse_path, llm):
    return build_settings(
        tmp_path_factory.mktemp("data"), warehouse_path, ai_url=llm.url, outgoing_allow=["127.0.0.1/32"]
    )


@pytest.fixture(scope="module")
def tenant(client, admin_headers, runtime):
    handle = make_tenant(client, admin_headers, "ai-eval")
    load_events(runtime.warehouse, handle.id, generate_events(GeneratorSpec(events=25_000, days=160, seed=5)))
    return runtime.tenants.authenticate(handle.key)


def _period(period):
    return {"date_from": period.date_from.isoformat(), "date_to": period.date_to.isoformat()}


def perfect_model(body):
    """Calls the catalog, then the tools the question needs, and states what they returned."""
    question = next(m["content"] for m in body["messages"] if m["role"] == "user")
    results = tool_results(body)
    if not results:
        return message(tool_calls=[tool_call("catalog", {})])
    catalog = results[0]["result"]
    vocabulary = Vocabulary([e["name"] for e in catalog["events"]], [p["key"] for p in catalog["properties"]])
    parsed = parse_question(question, vocabulary, datetime.now(UTC).date())
    metric = parsed.metric.model_dump()
    if len(results) == 1:
        if parsed.intent == "why":
            args = {
                "metric": metric,
                "period": _period(parsed.period),
                "baseline": _period(previous_baseline(parsed.period)),
            }
            return message(tool_calls=[tool_call("explain_change", args)])
        periods = [parsed.period] if parsed.intent == "how_many" else [parsed.period, parsed.second]
        calls = [
            tool_call("run_insight", {"query": {**parsed.metric.query, "date_range": _period(p)}}, f"call_{i}")
            for i, p in enumerate(periods)
        ]
        return message(tool_calls=calls)
    if parsed.intent == "why":
        top = results[1]["result"]["contributors"][0]
        return message(f"Mostly {top['dimension']} = {top['value']}.")
    mtype = metric_type(parsed.metric.kind, parsed.metric.query)
    parts = []
    for result in results[1:]:
        typed = result_from_json({**result["result"], "computed_at": "2026-01-01T00:00:00Z"})
        rows = _rows(parsed.metric.kind, typed, 1)
        num, den = sum(n for n, _ in rows.values()), sum(d for _, d in rows.values())
        value = num if mtype == "count" else (num / den if den else 0.0)
        parts.append(f"{fmt_value(value, mtype == 'ratio')} [{result['evidence_id']}]")
    return message(" then ".join(parts) + ".")


def inventing_model(body):
    results = tool_results(body)
    if not results:
        return message(tool_calls=[tool_call("catalog", {})])
    return message(f"About 123,456 [{results[0]['evidence_id']}].")


def test_question_set_has_at_least_100_questions(tenant, runtime):
    service = AIService(runtime)
    taxonomy = runtime.taxonomy.get(tenant.tenant_id)
    asked = questions([e.name for e in taxonomy.events[:5]], ["plan", "country", "browser"], service.today(tenant))
    assert len(asked) >= 100 and len(set(asked)) == len(asked)


def test_harness_scores_a_perfect_and_an_inventing_model(llm, tenant, runtime):
    service = AIService(runtime)
    llm.script = perfect_model
    report = evaluate(service, tenant, limit=100)
    assert not llm.errors, llm.errors[:3]
    assert report["questions"] >= 90, report
    assert report["endpoint"] == llm.url
    assert report["execution_accuracy"] == 1.0, report["failures"]
    assert set(report["by_intent"]) == {"how_many", "compare", "why"}

    llm.script = inventing_model
    bad = evaluate(service, tenant, limit=20)
    assert bad["execution_accuracy"] == 0.0
    assert all(f["reason"] == "not answered" for f in bad["failures"])


def test_offline_parser_answers_its_own_questions(tenant, runtime):
    service = AIService(runtime)
    report = evaluate(
        service, tenant, limit=30, ask=lambda q: service.ask(tenant, AskRequest(question=q, offline=True))
    )
    assert report["execution_accuracy"] == 1.0, report["failures"]
