"""The number check: every number an answer states comes from an evidence result (docs/ai.md).

A number in the answer is a run of digits with an optional sign, thousands commas and decimals
(`1,204`, `-11.3`, `41.2%`). Each must be followed by an evidence marker `[eN]` before the next
number; ISO dates (`2026-06-01`) name periods and text in double quotes names segments ("Chrome 120"):
neither holds numbers (they are skipped). The
number x with d decimals matches evidence N when some number v anywhere in N's result (JSON walked
recursively) has round(|v|, d) == |x| or round(|100 v|, d) == |x| (a ratio stated as a percentage or
in percentage points).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from analytics_engine.ai.schemas import Evidence

_DATE = r"\d{4}-\d{2}-\d{2}"
_NUMBER = r"[-+\u2212]?\d{1,3}(?:,\d{3})+(?:\.\d+)?|[-+\u2212]?\d+(?:\.\d+)?"
_TOKEN = re.compile(
    rf"(?P<quote>\"[^\"]*\")|(?P<date>{_DATE})|(?P<marker>\[(?P<ref>e\d+)\])|(?<![\w.])(?P<number>{_NUMBER})(?![\w])"
)


@dataclass(frozen=True)
class Problem:
    text: str
    reason: str


def _numbers(value: Any) -> Iterator[float]:
    if isinstance(value, bool):
        return
    if isinstance(value, int | float):
        yield float(value)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _numbers(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _numbers(item)


def _decimals(text: str) -> int:
    return len(text.split(".", 1)[1]) if "." in text else 0


def matches(text: str, values: Sequence[float]) -> bool:
    digits = _decimals(text)
    target = abs(float(text.replace(",", "").replace("\u2212", "-")))
    return any(round(abs(v), digits) == target or round(abs(v) * 100, digits) == target for v in values)


def check_numbers(answer: str, evidence: Sequence[Evidence]) -> list[Problem]:
    """What in `answer` is not backed by the evidence it cites (empty: every number is)."""
    by_id = {e.id: e for e in evidence}
    numbers_of = {e.id: list(_numbers(e.result)) for e in evidence}
    problems: list[Problem] = []
    pending: list[tuple[str, str]] = []  # (kind, text) awaiting their marker
    for match in _TOKEN.finditer(answer):
        if match.group("marker"):
            ref = match.group("ref")
            if ref not in by_id:
                problems += [Problem(text, f"cites {ref}, which is not in the evidence") for _, text in pending]
            else:
                for _, text in pending:
                    if not matches(text, numbers_of[ref]):
                        problems.append(Problem(text, f"not in the result of {ref}"))
            pending = []
            continue
        if match.group("date") or match.group("quote"):
            continue
        if pending:
            problems += [Problem(text, "no evidence marker before the next number") for _, text in pending]
            pending = []
        pending.append(("number", match.group("number")))
    problems += [Problem(text, "no evidence marker") for _, text in pending]
    return problems
