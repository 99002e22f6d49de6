"""POST /v1/ai/ask offline over the demo generator's data: "Why is retention dropping in June?" finds
the planted cause (browser = Safari); how-many and compare questions; what cannot be parsed is said
plainly; every number in every answer is backed by its evidence; answers are stored, listed, read and
take feedback, for their own tenant only."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from analytics_engine.ai.numbers import check_numbers
from analytics_engine.ai.schemas import Evidence
from analytics_engine.ai.service import AIService
from analytics_engine.datagen.demo import DEMO_DAYS
from analytics_engine.datagen.generator import GeneratorSpec, generate_events
from analytics_engine.datagen.loader import load_events
from tests.support.factories import make_tenant

# The data ends at a fixed moment and the service's "today" is that day, so the data and the
# answers are the same every day (the generator's events are placed relative to their end: data
# ending at `datetime.now()` changed from day to day, and with it the explanation).
END = datetime(2026, 9, 30, 12, 0, tzinfo=UTC)
TODAY = END.date()
# The latest June that has begun (what the parser resolves "June" to); a year of data covers it and May.
JUNE_YEAR = TODAY.year if TODAY.month >= 6 else TODAY.year - 1


@pytest.fixture(scope="module")
def demo(client, admin_headers, runtime):
    handle = make_tenant(client, admin_headers, "ai-demo")
    # the demo's shape (datagen/demo.py), smaller: a year of events, June's Safari signups churn
    spec = GeneratorSpec(events=60_000, days=DEMO_DAYS, seed=11, june_safari_churn=True, end=END)
    load_events(runtime.warehouse, handle.id, generate_events(spec))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(AIService, "today", lambda self, tenant: TODAY)
        yield handle


def _checked(body):
    evidence = [Evidence.model_validate(e) for e in body["evidence"]]
    assert not check_numbers(body["answer"], evidence), body["answer"]
    return body


def test_why_is_retention_dropping_in_june(demo):
    response = demo.post("/v1/ai/ask", json={"question": "Why is retention dropping in June?"})
    assert response.status_code == 200, response.text
    body = _checked(response.json())
    assert body["understood"] is True
    assert body["answer"].startswith("Retention fell from"), body["answer"]
    assert 'browser = "Safari"' in body["answer"], body["answer"]
    computed = [e for e in body["evidence"] if e["kind"] == "computation"]
    assert computed and computed[-1]["result"]["contributors"][0]["value"] == "Safari", body["answer"]
    assert all(e["query"]["kind"] == "retention" for e in body["evidence"] if e["kind"] == "insight")
    june = [
        e
        for e in body["evidence"]
        if e["kind"] == "insight" and e["query"]["date_range"]["date_from"] == f"{JUNE_YEAR}-06-01"
    ]
    assert june, "the period is June"
    assert body["provenance"] == {
        "model": "offline-parser",
        "prompt_version": "ai-1",
        "tools": ["catalog", "run_insight", "explain_change"],
    }
    assert 0 < body["confidence"] <= 1
    assert body["charts"] and body["charts"][0]["type"] == "line"


def test_how_many_by_dimension_and_compare(demo):
    response = demo.post("/v1/ai/ask", json={"question": f"How many signups by plan in June {JUNE_YEAR}?"})
    assert response.status_code == 200, response.text
    body = _checked(response.json())
    assert body["understood"] and '"free":' in body["answer"], body["answer"]
    total = next(e for e in body["evidence"] if e["query"].get("breakdown") in (None, []))
    by_plan = next(e for e in body["evidence"] if e["query"].get("breakdown"))
    assert sum(r["value"] for r in by_plan["result"]["rows"]) == total["result"]["rows"][0]["value"]

    response = demo.post(
        "/v1/ai/ask", json={"question": f"Compare purchases between May {JUNE_YEAR} and June {JUNE_YEAR}"}
    )
    assert response.status_code == 200, response.text
    body = _checked(response.json())
    assert body["understood"] and body["answer"].startswith("Purchase events: "), body["answer"]
    change = next(e for e in body["evidence"] if e["kind"] == "computation")
    assert change["result"]["absolute"] == change["result"]["second"] - change["result"]["first"]


@pytest.mark.parametrize(
    ("question", "said"),
    [
        ("What is the meaning of life?", "does not have one of the shapes"),
        ("Why did unicorn sightings drop last week?", "'unicorn sightings' is not a metric I know"),
        ("How many signups by shoe size last month?", "'shoe size' is not a property"),
        ("Why did signups change in Smarch?", "smarch' is not a period I know"),
    ],
)
def test_what_it_cannot_parse_it_says(demo, question, said):
    response = demo.post("/v1/ai/ask", json={"question": question})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["understood"] is False and body["confidence"] == 0
    assert "I could not parse this question" in body["answer"] and said in body["answer"], body["answer"]
    assert body["evidence"] == []


@pytest.mark.parametrize("question", ["", "x" * 501])
def test_empty_or_over_long_question_is_422(demo, question):
    response = demo.post("/v1/ai/ask", json={"question": question})
    assert response.status_code == 422, response.text
    assert response.json()["error"]["details"]["errors"][0]["loc"][-1] == "question"


def test_answers_are_stored_listed_and_take_feedback_per_tenant(demo, new_tenant):
    asked = demo.post("/v1/ai/ask", json={"question": f"How many purchases by country in June {JUNE_YEAR}"}).json()
    listed = demo.get("/v1/ai/answers").json()["answers"]
    assert listed[0]["id"] == asked["id"] and len(listed) >= 2
    one = demo.get(f"/v1/ai/answers/{asked['id']}")
    assert one.status_code == 200 and one.json()["answer"] == asked["answer"] and one.json()["feedback"] is None
    marked = demo.post(f"/v1/ai/answers/{asked['id']}/feedback", json={"useful": False, "comment": "wrong month"})
    assert marked.status_code == 200, marked.text
    assert marked.json()["feedback"]["useful"] is False and marked.json()["feedback"]["comment"] == "wrong month"
    assert demo.get(f"/v1/ai/answers/{asked['id']}").json()["feedback"]["useful"] is False

    other = new_tenant()
    assert other.get("/v1/ai/answers").json()["answers"] == []
    assert other.get(f"/v1/ai/answers/{asked['id']}").status_code == 404
    assert other.post(f"/v1/ai/answers/{asked['id']}/feedback", json={"useful": True}).status_code == 404
    # The other tenant's question about the same names reads only its own (empty) data: not parsed.
    own = other.post("/v1/ai/ask", json={"question": "How many purchases by country last month"}).json()
    assert own["understood"] is False and own["evidence"] == []


def test_unknown_answer_is_404(demo):
    assert demo.get("/v1/ai/answers/ans_nope").status_code == 404
    assert demo.post("/v1/ai/answers/ans_nope/feedback", json={"useful": True}).status_code == 404


def test_bad_feedback_is_422(demo):
    asked = demo.get("/v1/ai/answers").json()["answers"][0]
    response = demo.post(f"/v1/ai/answers/{asked['id']}/feedback", json={"useful": "maybe"})
    assert response.status_code == 422
