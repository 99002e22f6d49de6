"""The offline question parser: three question shapes over the tenant's taxonomy (docs/ai.md).

- why did X change in P    ("Why is retention dropping in June?", "why did signups fall last week")
- how many X by Y P        ("How many purchases by country last month?")
- compare X between P1 and P2

X is `retention`, `active users`, `events`, `conversion from A to B` or an event name the tenant
sent (case-insensitive; a plural `s`, spaces for underscores and `events` after it are accepted).
Y is a property key the tenant sent. P is a month (`June`, `June 2026`: the latest such month that
has begun), `last week|month|quarter|year`, `this week|month|year`, `last N days`, `last period`
(the last 30 days), `yesterday`, `today`, or ISO dates (`2026-06-01 to 2026-06-30`, one date).
Anything else is refused with the part that was not understood.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Literal

from analytics_engine.ai.schemas import MetricSpec, Period
from analytics_engine.insights.dates import add_months

MONTHS = {
    name: number
    for number, names in enumerate(
        [
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sep", "sept"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ],
        start=1,
    )
    for name in names
}
_VERBS = (
    "change|changing|changed|drop|dropping|dropped|fall|falling|fell|rise|rising|rose|increase|increasing|"
    "increased|decrease|decreasing|decreased|decline|declining|declined|grow|growing|grew|go up|go down|"
    "going up|going down|went up|went down|spike|spiking|spiked|dip|dipping|dipped|up|down|lower|higher"
)
WHY = re.compile(
    rf"^why\s+(?:did|does|do|is|are|was|were|has|have|had)\s+(?:the\s+)?(?P<metric>.+?)\s+(?:{_VERBS})\b\s*(?P<period>.*)$"
)
HOW_MANY = re.compile(
    r"^how\s+many\s+(?P<metric>.+?)\s+by\s+(?P<dimension>[\w.$ -]+?)\s+"
    r"(?P<period>(?:in|during|over|for|on|last|this|from|yesterday|today|\d{4}-).*)$"
)
COMPARE = re.compile(r"^compare\s+(?P<metric>.+?)\s+between\s+(?P<first>.+?)\s+and\s+(?P<second>.+)$")
_ISO = r"\d{4}-\d{2}-\d{2}"
_RANGE = re.compile(rf"^(?:from\s+)?(?P<a>{_ISO})\s*(?:to|until|through|-|\.\.)\s*(?P<b>{_ISO})$")
_LAST_N = re.compile(r"^(?:the\s+)?(?:last|past)\s+(?P<n>\d{1,3})\s+(?P<unit>days?|weeks?)$")
_MONTH = re.compile(r"^(?P<month>[a-z]+)(?:\s+(?P<year>\d{4}))?$")


class NotUnderstood(Exception):
    """The question (or a part of it) did not parse; the message says which part."""


@dataclass(frozen=True)
class Parsed:
    intent: Literal["why", "how_many", "compare"]
    metric: MetricSpec
    label: str
    period: Period
    second: Period | None = None
    dimension: str | None = None


@dataclass(frozen=True)
class Vocabulary:
    events: list[str]
    properties: list[str]


def normalise(text: str) -> str:
    text = text.strip().lower().rstrip("?.! ")
    return re.sub(r"\s+", " ", text)


def parse_question(question: str, vocabulary: Vocabulary, today: date) -> Parsed:
    text = normalise(question)
    if match := WHY.match(text):
        metric, label = parse_metric(match["metric"], vocabulary)
        return Parsed("why", metric, label, parse_period(match["period"], today))
    if match := HOW_MANY.match(text):
        metric, label = parse_metric(match["metric"], vocabulary)
        dimension = parse_dimension(match["dimension"], vocabulary)
        return Parsed("how_many", metric, label, parse_period(match["period"], today), dimension=dimension)
    if match := COMPARE.match(text):
        metric, label = parse_metric(match["metric"], vocabulary)
        first, second = parse_period(match["first"], today), parse_period(match["second"], today)
        return Parsed("compare", metric, label, first, second=second)
    raise NotUnderstood(
        "the question does not have one of the shapes I can answer without a language model: "
        "'why did X change in P', 'how many X by Y in P', 'compare X between P1 and P2'"
    )


def _event_candidates(phrase: str) -> list[str]:
    phrase = re.sub(r"^(?:the\s+)?(?:number|count|total)\s+of\s+", "", phrase)
    phrase = re.sub(r"\s+events?$", "", phrase)
    out = [phrase]
    for form in list(out):
        if form.endswith("s"):
            out.append(form[:-1])
        out.append(form.replace(" ", "_"))
        if form.endswith("s"):
            out.append(form[:-1].replace(" ", "_"))
    return out


def parse_metric(phrase: str, vocabulary: Vocabulary) -> tuple[MetricSpec, str]:
    phrase = phrase.strip()
    if re.fullmatch(r"(?:the\s+)?(?:user\s+|weekly\s+|customer\s+)?retention(?:\s+rate)?", phrase):
        return MetricSpec(kind="retention", query={"kind": "retention", "period": "week", "periods": 4}), "retention"
    if re.fullmatch(r"(?:daily\s+)?(?:active\s+)?(?:users|people)", phrase):
        query: dict[str, Any] = {"kind": "trends", "series": [{"event": None, "math": "unique_users"}]}
        return MetricSpec(kind="trends", query=query), "active users"
    if phrase in ("events", "all events"):
        return MetricSpec(kind="trends", query={"kind": "trends", "series": [{"event": None}]}), "events"
    if match := re.fullmatch(
        r"(?:the\s+)?(?:funnel\s+)?conversion(?:\s+rate)?\s+from\s+(?P<a>.+?)\s+to\s+(?P<b>.+)", phrase
    ):
        first, last = _event(match["a"], vocabulary), _event(match["b"], vocabulary)
        query = {"kind": "funnels", "steps": [{"event": first}, {"event": last}]}
        return MetricSpec(kind="funnels", query=query), f"conversion from {first} to {last}"
    if "conversion" in phrase:
        raise NotUnderstood(f"{phrase!r}: say which steps, as in 'conversion from signup to purchase'")
    event = _event(phrase, vocabulary)
    return MetricSpec(kind="trends", query={"kind": "trends", "series": [{"event": event}]}), f"{event} events"


def _event(phrase: str, vocabulary: Vocabulary) -> str:
    by_lower = {name.lower(): name for name in vocabulary.events}
    for candidate in _event_candidates(phrase.strip()):
        if candidate in by_lower:
            return by_lower[candidate]
    known = ", ".join(vocabulary.events[:8]) or "none yet"
    raise NotUnderstood(
        f"{phrase!r} is not a metric I know: not retention, active users, events or an event name ({known})"
    )


def parse_dimension(phrase: str, vocabulary: Vocabulary) -> str:
    phrase = phrase.strip()
    by_lower = {key.lower(): key for key in vocabulary.properties}
    for candidate in (phrase, phrase.replace(" ", "_"), phrase.rstrip("s"), phrase.replace(" ", ".")):
        if candidate in by_lower:
            return by_lower[candidate]
    known = ", ".join(vocabulary.properties[:8]) or "none yet"
    raise NotUnderstood(f"{phrase!r} is not a property of this tenant's events ({known})")


def _month(year: int, month: int) -> Period:
    first = date(year, month, 1)
    return Period(date_from=first, date_to=add_months(first, 1) - timedelta(days=1))


def parse_period(phrase: str, today: date) -> Period:
    text = re.sub(r"^(?:in|during|over|for|on|of)\s+", "", phrase.strip())
    text = re.sub(r"^the\s+", "", text)
    if not text:
        raise NotUnderstood("no period: add one, as in 'in June' or 'last week'")
    if match := _RANGE.match(text):
        return Period(date_from=date.fromisoformat(match["a"]), date_to=date.fromisoformat(match["b"]))
    if re.fullmatch(_ISO, text):
        day = date.fromisoformat(text)
        return Period(date_from=day, date_to=day)
    if text == "today":
        return Period(date_from=today, date_to=today)
    if text == "yesterday":
        day = today - timedelta(days=1)
        return Period(date_from=day, date_to=day)
    if match := _LAST_N.match(text):
        days = int(match["n"]) * (7 if match["unit"].startswith("week") else 1)
        if days < 1:
            raise NotUnderstood(f"{phrase!r}: at least one day")
        return Period(date_from=today - timedelta(days=days), date_to=today - timedelta(days=1))
    monday = today - timedelta(days=today.weekday())
    month_start = today.replace(day=1)
    quarter_start = date(today.year, 3 * ((today.month - 1) // 3) + 1, 1)
    named = {
        "last week": Period(date_from=monday - timedelta(days=7), date_to=monday - timedelta(days=1)),
        "this week": Period(date_from=monday, date_to=today),
        "last month": _month(add_months(month_start, -1).year, add_months(month_start, -1).month),
        "this month": Period(date_from=month_start, date_to=today),
        "last quarter": Period(date_from=add_months(quarter_start, -3), date_to=quarter_start - timedelta(days=1)),
        "this quarter": Period(date_from=quarter_start, date_to=today),
        "last year": Period(date_from=date(today.year - 1, 1, 1), date_to=date(today.year - 1, 12, 31)),
        "this year": Period(date_from=date(today.year, 1, 1), date_to=today),
        "last period": Period(date_from=today - timedelta(days=30), date_to=today - timedelta(days=1)),
    }
    if text in named:
        return named[text]
    if (match := _MONTH.match(text)) and match["month"] in MONTHS:
        month = MONTHS[match["month"]]
        year = int(match["year"]) if match["year"] else today.year if month <= today.month else today.year - 1
        period = _month(year, month)
        if period.date_from > today:
            raise NotUnderstood(f"{phrase!r} has not begun yet")
        if period.date_to > today:
            period = Period(date_from=period.date_from, date_to=today)
        return period
    raise NotUnderstood(
        f"{phrase!r} is not a period I know (a month such as 'June', 'last week', 'last 30 days', "
        "'2026-06-01 to 2026-06-30')"
    )
