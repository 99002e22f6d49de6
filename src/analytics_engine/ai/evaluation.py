"""The evaluation harness of `/v1/ai/ask` (docs/ai.md, "Evaluation"): questions generated over a
tenant's data (the demo's), expected answers computed by the offline engine, execution accuracy of
whatever answers them (the configured LLM endpoint, or the offline parser).

Questions (at least 100 over the demo's vocabulary): how many E by D in M, compare E between M1 and
M2, why did E change in M, for the tenant's busiest events E, its default dimensions D and the last
complete months M; the same for retention, active users and conversion from the first to the last
of the signup-like events; and "Why is retention dropping in June?".

Expected answer (the offline engine): how-many: the metric's total over the period; compare: both
values; why: the top contributor's segment. A candidate answer is correct when it is not a refusal
and states every expected figure (a number in the text equal to it at the text's precision, or as a
percentage of a ratio; ai/numbers.py `matches`) and, for why-questions, names the expected segment
value. Execution accuracy = correct / questions.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any

from analytics_engine.ai.answers import REFUSAL
from analytics_engine.ai.numbers import matches
from analytics_engine.ai.parser import NotUnderstood, parse_question
from analytics_engine.ai.schemas import AskRequest, AskResponse
from analytics_engine.errors import AppError
from analytics_engine.insights.dates import add_months

if TYPE_CHECKING:
    from analytics_engine.ai.service import AIService

MONTH_NAMES = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]
_NUMBER = re.compile(r"(?<![\w.])[-+]?\d{1,3}(?:,\d{3})+(?:\.\d+)?|(?<![\w.])[-+]?\d+(?:\.\d+)?")


@dataclass
class Case:
    question: str
    intent: str
    figures: list[float] = field(default_factory=list)
    segment: str | None = None


@dataclass
class Outcome:
    case: Case
    correct: bool
    answer: str
    reason: str = ""


def month_label(first: date) -> str:
    return f"{MONTH_NAMES[first.month - 1]} {first.year}"


def questions(events: list[str], dimensions: list[str], today: date, months: int = 4) -> list[str]:
    """The question set (deterministic for the same vocabulary and day)."""
    this_month = today.replace(day=1)
    recent = [add_months(this_month, -i) for i in range(months, 0, -1)]  # oldest first, complete months
    labels = [month_label(m) for m in recent]
    out: list[str] = []
    for event in events:
        for label in labels:
            for dimension in dimensions:
                out.append(f"How many {event} events by {dimension} in {label}?")
        for first, second in itertools.pairwise(labels):
            out.append(f"Compare {event} events between {first} and {second}")
        for label in labels:
            out.append(f"Why did {event} events change in {label}?")
    for label in labels:
        out.append(f"Why did retention change in {label}?")
        for dimension in dimensions:
            out.append(f"How many active users by {dimension} in {label}?")
    for first, second in itertools.pairwise(labels):
        out.append(f"Compare retention between {first} and {second}")
        out.append(f"Compare active users between {first} and {second}")
    if len(events) >= 2:
        funnel = f"conversion from {events[0]} to {events[-1]}"
        for label in labels:
            out.append(f"Why did {funnel} change in {label}?")
    out.append("Why is retention dropping in June?")
    return out


def expected(service: AIService, tenant: Any, question: str) -> Case | None:
    """What the offline engine answers (None: it does not parse, or there is no data)."""
    from analytics_engine.ai.explain import EvidenceLog

    try:
        parsed = parse_question(question, service.vocabulary(tenant.tenant_id), service.today(tenant))
    except NotUnderstood:
        return None
    log = EvidenceLog()
    try:
        service.answer_offline(tenant, parsed, log)
    except AppError:  # a question the data cannot answer is left out of the set
        return None
    case = Case(question, parsed.intent)
    if parsed.intent == "why":
        computed = log.items[-1].result
        top = (computed.get("contributors") or [None])[0]
        if top is None:
            return None
        case.segment = str(top["value"]).split(" & ")[0]
        return case
    values = [e.result for e in log.items]
    if parsed.intent == "how_many":
        total = next(r for e, r in zip(log.items, values, strict=True) if not e.query.get("breakdown"))
        case.figures = [total["rows"][0]["value"] if total["rows"] else 0.0]
    else:
        computed = values[-1]
        case.figures = [computed["first"], computed["second"]]
    return case


def judge(case: Case, answer: AskResponse) -> Outcome:
    text = answer.answer
    if not answer.understood or text == REFUSAL:
        return Outcome(case, False, text, "not answered")
    numbers = [m.group(0) for m in _NUMBER.finditer(re.sub(r"\[e\d+\]|\d{4}-\d{2}-\d{2}", "", text))]
    for figure in case.figures:
        if figure is None or not any(matches(n, [figure]) for n in numbers):
            return Outcome(case, False, text, f"missing {figure}")
    if case.segment is not None and case.segment not in text:
        return Outcome(case, False, text, f"does not name {case.segment}")
    return Outcome(case, True, text)


def evaluate(
    service: AIService,
    tenant: Any,
    *,
    limit: int = 120,
    ask: Callable[[str], AskResponse] | None = None,
    today: date | None = None,
) -> dict[str, Any]:
    """Run the harness for one tenant; `ask` defaults to the service's own ask (LLM if configured)."""
    settings = service.runtime.settings
    taxonomy = service.runtime.taxonomy.get(tenant.tenant_id)
    events = [e.name for e in taxonomy.events[:5]]
    total = sum(e.volume for e in taxonomy.events) or 1
    dims = [p.key for p in taxonomy.properties if p.type == "string" and p.volume >= 0.9 * total][:3]
    day = today or service.today(tenant)
    cases: list[Case] = []
    for question in questions(events, dims, day):
        if len(cases) >= limit:
            break
        case = expected(service, tenant, question)
        if case is not None:
            cases.append(case)
    answer = ask or (lambda q: service.ask(tenant, AskRequest(question=q)))
    outcomes = []
    for case in cases:
        try:
            outcomes.append(judge(case, answer(case.question)))
        except AppError as exc:  # the endpoint failed this question (502/504): a wrong answer
            outcomes.append(Outcome(case, False, "", f"{exc.code}: {exc.message}"))
    by_intent: dict[str, list[int]] = {}
    for outcome in outcomes:
        tally = by_intent.setdefault(outcome.case.intent, [0, 0])
        tally[0] += 1
        tally[1] += outcome.correct
    correct = sum(o.correct for o in outcomes)
    return {
        "endpoint": settings.ai_url or "offline-parser",
        "model": settings.ai_model if settings.ai_url else "offline-parser",
        "questions": len(outcomes),
        "correct": correct,
        "execution_accuracy": correct / len(outcomes) if outcomes else 0.0,
        "by_intent": {k: {"questions": v[0], "correct": v[1]} for k, v in sorted(by_intent.items())},
        "failures": [
            {"question": o.case.question, "reason": o.reason, "answer": o.answer[:300]}
            for o in outcomes
            if not o.correct
        ][:20],
    }
