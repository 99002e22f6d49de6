"""The SROI calculator: pure functions from measured inputs and one formula version to a result
with its explanation. No I/O: `inputs.py` gathers the data, `service.py` stores the result.

Per outcome dimension (Social Value UK, "A guide to Social Return on Investment"):
    year-1 value = quantity x proxy x (1 - deadweight) x (1 - attribution) x (1 - displacement)
    value in year t = year-1 value x (1 - drop_off)^(t - 1), present value = value_t / (1 + r)^t
SROI = sum of present values / investment, net SROI = (PV - investment) / investment.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from statistics import fmean
from typing import Any, NamedTuple

from analytics_engine.impact.formulas import SroiDefinition

BANDS = ((1.0, "poor"), (2.0, "break-even"), (4.0, "good"), (10.0, "excellent"))


class ParticipantScores(NamedTuple):
    """One participant's mean score (0..1) per phase in one outcome dimension."""

    participant: str
    control: bool
    baseline: float | None
    post: float | None
    follow_up: float | None = None


class DimensionStats(NamedTuple):
    """What the calculator needs of one outcome dimension (the warehouse computes it in SQL;
    `summarize` is the same in Python, the reference the SQL is tested against). "Measured" means
    baseline and post; gains are post - baseline (follow-up gain: follow-up - baseline)."""

    intervention: int  # measured intervention participants
    control: int  # measured control participants
    quantity: int  # intervention participants with gain > min_gain
    gain: float | None  # mean intervention gain
    control_gain: float | None  # mean control gain
    followed: int  # measured intervention participants with a follow-up
    followed_post_gain: float | None  # their mean post gain
    followed_gain: float | None  # their mean follow-up gain


class Reach(NamedTuple):
    """Distinct measured participants over all dimensions (for the confidence score)."""

    participants: int = 0
    control: int = 0
    intervention: int = 0
    followed: int = 0


@dataclass
class SroiInputs:
    outcomes: dict[str, DimensionStats] = field(default_factory=dict)
    reach: Reach = field(default_factory=Reach)
    costs: dict[str, float] = field(default_factory=dict)  # currency -> amount
    volunteer_hours: float = 0.0
    sector: str | None = None


def _gain(later: float | None, baseline: float | None) -> float:
    # Callers pass only measured rows (both scores present); the check narrows the type.
    assert later is not None and baseline is not None
    return later - baseline


def _mean(values: list[float]) -> float | None:
    return fmean(values) if values else None


def summarize(
    outcomes: dict[str, list[ParticipantScores]], *, min_gain: float = 0.0
) -> tuple[dict[str, DimensionStats], Reach]:
    """Per-participant scores -> per-dimension statistics and reach (the reference implementation)."""
    stats: dict[str, DimensionStats] = {}
    people: dict[str, set[str]] = {"all": set(), "control": set(), "intervention": set(), "followed": set()}
    for dimension, rows in outcomes.items():
        measured = [r for r in rows if r.baseline is not None and r.post is not None]
        intervention = [r for r in measured if not r.control]
        control = [r for r in measured if r.control]
        followed = [r for r in intervention if r.follow_up is not None]
        people["all"].update(r.participant for r in measured)
        people["control"].update(r.participant for r in control)
        people["intervention"].update(r.participant for r in intervention)
        people["followed"].update(r.participant for r in followed)
        stats[dimension] = DimensionStats(
            intervention=len(intervention),
            control=len(control),
            quantity=sum(1 for r in intervention if _gain(r.post, r.baseline) > min_gain),
            gain=_mean([_gain(r.post, r.baseline) for r in intervention]),
            control_gain=_mean([_gain(r.post, r.baseline) for r in control]),
            followed=len(followed),
            followed_post_gain=_mean([_gain(r.post, r.baseline) for r in followed]),
            followed_gain=_mean([_gain(r.follow_up, r.baseline) for r in followed]),
        )
    reach = Reach(len(people["all"]), len(people["control"]), len(people["intervention"]), len(people["followed"]))
    return stats, reach


def band(ratio: float | None) -> str:
    """below 1 poor, 1-2 break-even, 2-4 good, 4-10 excellent, above 10 exceptional."""
    if ratio is None:
        return "insufficient data"
    for upper, name in BANDS:
        if ratio < upper:
            return name
    return "exceptional"


def _clamp(value: float) -> float:
    return min(1.0, max(0.0, value))


def _item(name: str, value: Any, source: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "value": value, "source": source, **extra}


def calibrate_deadweight(
    intervention_gain: float | None, control_gain: float | None, n_control: int, spec: SroiDefinition, version: int
) -> tuple[float, str]:
    """Deadweight = control-group gain / intervention gain (what would have happened anyway)."""
    if n_control < spec.min_control_participants:
        why = f"{n_control} control participants < {spec.min_control_participants} needed"
    elif intervention_gain is None or intervention_gain <= 0:
        why = "no positive intervention gain to compare with"
    else:
        value = _clamp((control_gain or 0.0) / intervention_gain)
        return value, (
            f"calibrated: control-group gain {control_gain:.4g} / intervention gain {intervention_gain:.4g} "
            f"(n_control={n_control})"
        )
    return spec.deadweight, f"formula v{version} default ({why})"


def calibrate_drop_off(
    post_gain: float | None, follow_up_gain: float | None, n_follow_up: int, spec: SroiDefinition, version: int
) -> tuple[float, str]:
    """Drop-off = 1 - follow-up gain / post gain, among participants measured at all three phases
    (the follow-up is taken as one year after the post measurement)."""
    if n_follow_up < spec.min_follow_up_participants:
        why = f"{n_follow_up} followed-up participants < {spec.min_follow_up_participants} needed"
    elif post_gain is None or post_gain <= 0 or follow_up_gain is None:
        why = "no positive post gain among followed-up participants"
    else:
        value = _clamp(1.0 - follow_up_gain / post_gain)
        return value, (
            f"calibrated: 1 - follow-up gain {follow_up_gain:.4g} / post gain {post_gain:.4g} "
            f"(n_follow_up={n_follow_up})"
        )
    return spec.drop_off, f"formula v{version} default ({why})"


def confidence_score(
    n_total: int, n_control: int, n_intervention: int, n_follow_up: int, spec: SroiDefinition
) -> dict[str, Any]:
    c = spec.confidence
    sample = min(1.0, n_total / c.target_sample)
    control_share = n_control / n_total if n_total else 0.0
    follow_up_share = n_follow_up / n_intervention if n_intervention else 0.0
    score = (
        c.weight_sample * sample
        + c.weight_control * min(1.0, control_share / c.target_control_share)
        + c.weight_follow_up * min(1.0, follow_up_share / c.target_follow_up_share)
    )
    return {
        "score": round(score, 4),
        "participants": n_total,
        "control_share": round(control_share, 4),
        "follow_up_share": round(follow_up_share, 4),
        "sample_credit": round(sample, 4),
    }


def compute_sroi(inputs: SroiInputs, spec: SroiDefinition, *, version: int, hourly_value: float) -> dict[str, Any]:
    """The SROI result (ratio, net ratio, PV, investment, band, confidence, explanation)."""
    discount_rate, rate_source = spec.discount_rate_for(inputs.sector)
    explanation: list[dict[str, Any]] = [
        _item("formula_version", version, "formula registry"),
        _item("sector", inputs.sector or "default", "tenant industry" if inputs.sector else "tenant has no industry"),
        _item("discount_rate", discount_rate, f"formula v{version}, {rate_source}"),
        _item("benefit_years", spec.benefit_years, f"formula v{version}"),
        _item("attribution", spec.attribution, f"formula v{version} default"),
        _item("displacement", spec.displacement, f"formula v{version} default"),
    ]
    outcomes: list[dict[str, Any]] = []
    present_value = 0.0
    for dimension in sorted(inputs.outcomes):
        st = inputs.outcomes[dimension]
        quantity = st.quantity
        gain_int, gain_ctl = st.gain, st.control_gain
        deadweight, dw_source = calibrate_deadweight(gain_int, gain_ctl, st.control, spec, version)
        drop_off, do_source = calibrate_drop_off(st.followed_post_gain, st.followed_gain, st.followed, spec, version)
        proxy, proxy_table = spec.proxy_for(inputs.sector, dimension)
        entry: dict[str, Any] = {
            "dimension": dimension,
            "quantity": quantity,
            "participants": st.intervention,
            "control_participants": st.control,
            "followed_up": st.followed,
            "mean_gain": None if gain_int is None else round(gain_int, 4),
            "control_mean_gain": None if gain_ctl is None else round(gain_ctl, 4),
            "proxy": proxy,
            "proxy_source": (
                f"formula v{version}, {proxy_table}: {spec.proxy_sources.get(dimension, 'no source recorded')}"
                if proxy is not None
                else f"formula v{version} has no proxy for '{dimension}': outcome not valued"
            ),
            "deadweight": {"value": round(deadweight, 6), "source": dw_source},
            "attribution": {"value": spec.attribution, "source": f"formula v{version} default"},
            "displacement": {"value": spec.displacement, "source": f"formula v{version} default"},
            "drop_off": {"value": round(drop_off, 6), "source": do_source},
            "years": [],
            "present_value": 0.0,
        }
        if proxy is not None and quantity > 0:
            year_one = quantity * proxy * (1 - deadweight) * (1 - spec.attribution) * (1 - spec.displacement)
            entry["year_one_value"] = round(year_one, 2)
            pv = 0.0
            for t in range(1, spec.benefit_years + 1):
                value_t = year_one * (1 - drop_off) ** (t - 1)
                pv_t = value_t / (1 + discount_rate) ** t
                pv += pv_t
                entry["years"].append({"year": t, "value": round(value_t, 2), "present_value": round(pv_t, 2)})
            entry["present_value"] = round(pv, 2)
            present_value += pv
        else:
            entry["year_one_value"] = 0.0
        outcomes.append(entry)

    costs_in_currency = inputs.costs.get(spec.currency, 0.0)
    excluded = {cur: amount for cur, amount in inputs.costs.items() if cur != spec.currency}
    volunteer_value = inputs.volunteer_hours * hourly_value
    investment = costs_in_currency + volunteer_value
    explanation += [
        _item("costs", round(costs_in_currency, 2), f"sum of cost events in {spec.currency}"),
        _item("volunteer_hours", round(inputs.volunteer_hours, 2), "sum of hours on activity events"),
        _item("volunteer_hour_value", hourly_value, "setting ANALYTICS_IMPACT_VOLUNTEER_HOUR_VALUE"),
        _item("volunteer_time_value", round(volunteer_value, 2), "volunteer_hours x volunteer_hour_value"),
        _item("investment", round(investment, 2), "costs + volunteer_time_value"),
    ]
    if excluded:
        explanation.append(
            _item(
                "costs_excluded",
                {k: round(v, 2) for k, v in excluded.items()},
                f"cost events not in {spec.currency} are not converted and left out",
            )
        )
    ratio = present_value / investment if investment > 0 else None
    net = (present_value - investment) / investment if investment > 0 else None
    if ratio is None:
        explanation.append(_item("ratio", None, "no investment recorded: the ratio is undefined"))
    reach = inputs.reach
    confidence = confidence_score(reach.participants, reach.control, reach.intervention, reach.followed, spec)
    return {
        "ratio": None if ratio is None else round(ratio, 4),
        "net_ratio": None if net is None else round(net, 4),
        "present_value": round(present_value, 2),
        "investment": round(investment, 2),
        "currency": spec.currency,
        "band": band(ratio),
        "confidence": confidence,
        "formula_version": version,
        "outcomes": outcomes,
        "explanation": explanation,
    }
