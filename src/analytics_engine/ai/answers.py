"""Answer texts built from evidence: every number written here is a value of the evidence result it
cites, formatted by `fmt_*` (the checker in ai/numbers.py recomputes them)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from analytics_engine.ai.schemas import ExplainResponse


REFUSAL = (
    "I will not answer this: the answer I produced states figures that no query of this answer produced, "
    "so it was withheld."
)


def quoted(name: str) -> str:
    """A segment value as a name: in double quotes, which the number check skips (a value may hold
    digits: "Chrome 120"); double quotes inside become single ones."""
    return '"' + name.replace('"', "'") + '"'


def fmt_count(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"


def fmt_pct(ratio: float, digits: int = 1) -> str:
    """A ratio as a percentage (the checker accepts 100 v)."""
    return f"{abs(ratio) * 100:.{digits}f}%"


def fmt_points(ratio: float) -> str:
    return f"{abs(ratio) * 100:.1f} points"


def fmt_signed_points(ratio: float) -> str:
    sign = "-" if ratio < 0 else "+"
    return f"{sign}{abs(ratio) * 100:.1f} points"


def fmt_value(value: float | None, ratio: bool) -> str:
    if value is None:
        return "n/a"
    return fmt_pct(value) if ratio else fmt_count(value)


def explain_summary(response: ExplainResponse, label: str, ref: str) -> str:
    """One paragraph: the change, the leading contributors with their effects, the onset."""
    ratio = response.metric_type == "ratio"
    c = response.change
    e = f" [{ref}]"
    direction = "rose" if c.absolute > 0 else "fell" if c.absolute < 0 else "did not change"
    period = f"{response.period.date_from} to {response.period.date_to}"
    base = f"{response.baseline.date_from} to {response.baseline.date_to}"
    text = (
        f"{label.capitalize()} {direction} from {fmt_value(c.baseline, ratio)}{e} ({base}) "
        f"to {fmt_value(c.current, ratio)}{e} ({period})"
    )
    if c.absolute:
        amount = fmt_points(c.absolute) if ratio else fmt_count(abs(c.absolute))
        text += f", by {amount}{e}"
        if c.relative is not None:
            text += f" or {fmt_pct(c.relative)}{e}"
    text += "."
    leaders = response.contributors[:3]
    if leaders and c.absolute:
        parts = []
        for x in leaders:
            part = f"{x.dimension} = {quoted(x.value)}"
            if x.baseline_value is not None and x.current_value is not None:
                part += f" (from {fmt_value(x.baseline_value, ratio)}{e} to {fmt_value(x.current_value, ratio)}{e}"
            else:
                part += " ("
            if x.share is not None:
                part += f"; {x.share * 100:+.0f}%{e} of the change"
            if ratio and x.rate_effect is not None and x.mix_effect is not None:
                part += (
                    f"; rate effect {fmt_signed_points(x.rate_effect)}{e}, "
                    f"mix effect {fmt_signed_points(x.mix_effect)}{e}"
                )
            part += ")"
            parts.append(part.replace("( ;", "(").replace("(;", "("))
        text += " Most of it comes from " + "; then ".join(parts) + "."
    elif c.absolute:
        text += " No segment with enough support stands out; the change is spread across segments."
    if response.onset is not None:
        text += f" The shift begins on {response.onset.isoformat()}{e}."
    return text
