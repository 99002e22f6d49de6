"""The number checker (every number backed by the evidence it cites) and the offline parser."""

from __future__ import annotations

from datetime import date

import pytest

from analytics_engine.ai.numbers import check_numbers
from analytics_engine.ai.parser import NotUnderstood, Vocabulary, parse_question
from analytics_engine.ai.schemas import Evidence
from analytics_engine.ai.service import previous_baseline

EVIDENCE = [
    Evidence(id="e1", kind="insight", query={}, result={"rows": [{"value": 1204.0}, {"value": 0.41234}]}),
    Evidence(id="e2", kind="computation", query={}, result={"change": {"absolute": -0.118, "relative": -0.1823}}),
]


@pytest.mark.parametrize(
    "answer",
    [
        "Signups: 1,204 [e1].",
        "Retention was 41.2% [e1] and fell by 11.8 points [e2] or 18.2% [e2].",
        "Down 0.118 [e2] since 2026-05-01.",
        'Most of it is browser = "Chrome 120": 1,204 [e1].',
        "No numbers at all.",
    ],
)
def test_backed_numbers_pass(answer):
    assert check_numbers(answer, EVIDENCE) == []


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        ("Signups: 1,205 [e1].", "not in the result of e1"),
        ("Signups: 1,204.", "no evidence marker"),
        ("Retention 41.2% and 11.8 points [e2].", "no evidence marker before the next number"),
        ("Signups: 1,204 [e9].", "cites e9"),
        ("Retention fell 18.2% [e1].", "not in the result of e1"),
        ("Most of it is browser = Chrome 120: 1,204 [e1].", "no evidence marker before the next number"),
    ],
)
def test_unbacked_numbers_are_caught(answer, reason):
    problems = check_numbers(answer, EVIDENCE)
    assert problems and reason in problems[0].reason


VOCAB = Vocabulary(events=["signup", "purchase", "feature_used"], properties=["plan", "country", "utm_source"])
TODAY = date(2026, 12, 7)  # a Monday


@pytest.mark.parametrize(
    ("question", "intent", "kind", "period"),
    [
        ("Why is retention dropping in June?", "why", "retention", (date(2026, 6, 1), date(2026, 6, 30))),
        ("why did signups fall last week", "why", "trends", (date(2026, 11, 30), date(2026, 12, 6))),
        ("Why did purchases change in December?", "why", "trends", (date(2026, 12, 1), date(2026, 12, 7))),
        (
            "Why did Feature Used events spike in 2026-11-01 to 2026-11-15?",
            "why",
            "trends",
            (date(2026, 11, 1), date(2026, 11, 15)),
        ),
        ("How many signups by plan last month?", "how_many", "trends", (date(2026, 11, 1), date(2026, 11, 30))),
        ("how many purchases by utm source last 7 days", "how_many", "trends", (date(2026, 11, 30), date(2026, 12, 6))),
        (
            "Why did conversion from signup to purchase drop last period?",
            "why",
            "funnels",
            (date(2026, 11, 7), date(2026, 12, 6)),
        ),
        ("Compare active users between May and June", "compare", "trends", (date(2026, 5, 1), date(2026, 5, 31))),
    ],
)
def test_questions_parse(question, intent, kind, period):
    parsed = parse_question(question, VOCAB, TODAY)
    assert parsed.intent == intent and parsed.metric.kind == kind
    assert (parsed.period.date_from, parsed.period.date_to) == period


def test_compare_and_dimension():
    parsed = parse_question("compare signups between last month and this month", VOCAB, TODAY)
    assert parsed.second is not None and parsed.second.date_from == date(2026, 12, 1)
    assert parse_question("how many signups by Country in June", VOCAB, TODAY).dimension == "country"


@pytest.mark.parametrize(
    ("question", "said"),
    [
        ("hello", "does not have one of the shapes"),
        ("why did bananas fall in june", "'bananas' is not a metric"),
        ("why did conversion drop in june", "say which steps"),
        ("how many signups by shoe last week", "'shoe' is not a property"),
        ("why did signups fall", "no period"),
        ("why did signups fall in the year of the dragon", "is not a period I know"),
    ],
)
def test_what_does_not_parse_says_why(question, said):
    with pytest.raises(NotUnderstood, match=said):
        parse_question(question, VOCAB, TODAY)


def test_previous_baseline():
    june = parse_question("why is retention dropping in june", VOCAB, TODAY).period
    may = previous_baseline(june)
    assert (may.date_from, may.date_to) == (date(2026, 5, 1), date(2026, 5, 31))
    week = parse_question("why did signups fall last week", VOCAB, TODAY).period
    before = previous_baseline(week)
    assert (before.date_from, before.date_to) == (date(2026, 11, 23), date(2026, 11, 29))
