"""The Volunteer Impact Score (0-100): pure functions from a volunteer's activity and the outcomes
of the participants they supported to a score, a band and the breakdown.

    hours component       = min(1, (hours / months) / scales.hours_per_month)
    consistency component = min(1, (sessions / months) / scales.sessions_per_month)
    outcome component     = min(1, max(0, mean participant gain) / scales.outcome_gain)
    VIS = 100 x (w_hours x hours + w_consistency x consistency + w_outcome x outcome)
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import fmean
from typing import Any

from analytics_engine.impact.formulas import VisDefinition

DAYS_PER_MONTH = 365.25 / 12


@dataclass(frozen=True)
class VolunteerActivity:
    volunteer: str
    hours: float
    sessions: int
    gain: float | None  # mean gain of the participants linked to this volunteer
    gain_source: str = "participants linked to the volunteer"


def volunteer_activities(
    activity: list[tuple[str, float, int, list[str]]], participants: list[tuple[str, float, str, list[str]]]
) -> list[VolunteerActivity]:
    """Each volunteer's hours and sessions with the outcome gain credited to them: the mean gain of
    the participants linked to them; else of the participants of their programmes; else of all."""
    linked: dict[str, list[float]] = {}
    by_programme: dict[str, list[float]] = {}
    for _, score_gain, programme, volunteers in participants:
        for volunteer in volunteers:
            linked.setdefault(volunteer, []).append(score_gain)
        by_programme.setdefault(programme or "", []).append(score_gain)
    overall = fmean(g for _, g, _, _ in participants) if participants else None
    result = []
    for volunteer, hours, sessions, programmes in activity:
        gain: float | None
        if volunteer in linked:
            gains = linked[volunteer]
            gain, source = fmean(gains), f"{len(gains)} participants linked to the volunteer"
        else:
            programme_gains = [g for prog in programmes for g in by_programme.get(prog, [])]
            if programme_gains:
                gain, source = fmean(programme_gains), "participants of the volunteer's programmes"
            elif overall is not None:
                gain, source = overall, "all participants of the tenant (no linked or programme outcomes)"
            else:
                gain, source = None, "no outcome data"
        result.append(VolunteerActivity(volunteer, hours, sessions, gain, source))
    return result


def months_in(days: float) -> float:
    return max(days, 1.0) / DAYS_PER_MONTH


def _cap(value: float) -> float:
    return min(1.0, max(0.0, value))


def compute_vis(activity: VolunteerActivity, months: float, spec: VisDefinition, *, version: int) -> dict[str, Any]:
    scales, weights = spec.scales, spec.weights
    hours_pm = activity.hours / months
    sessions_pm = activity.sessions / months
    hours_c = _cap(hours_pm / scales.hours_per_month)
    consistency_c = _cap(sessions_pm / scales.sessions_per_month)
    outcome_c = 0.0 if activity.gain is None else _cap(activity.gain / scales.outcome_gain)
    score = 100 * (weights.hours * hours_c + weights.consistency * consistency_c + weights.outcome * outcome_c)
    score = round(score, 2)
    return {
        "volunteer_id": activity.volunteer,
        "score": score,
        "band": spec.band_for(score),
        "formula_version": version,
        "breakdown": {
            "hours": {
                "input": round(activity.hours, 2),
                "per_month": round(hours_pm, 4),
                "component": round(hours_c, 4),
                "weight": weights.hours,
                "points": round(100 * weights.hours * hours_c, 2),
                "full_credit_at": f"{scales.hours_per_month:g} hours per month",
            },
            "consistency": {
                "input": activity.sessions,
                "per_month": round(sessions_pm, 4),
                "component": round(consistency_c, 4),
                "weight": weights.consistency,
                "points": round(100 * weights.consistency * consistency_c, 2),
                "full_credit_at": f"{scales.sessions_per_month:g} sessions per month",
            },
            "outcome": {
                "input": None if activity.gain is None else round(activity.gain, 4),
                "source": activity.gain_source if activity.gain is not None else "no outcome data: component 0",
                "component": round(outcome_c, 4),
                "weight": weights.outcome,
                "points": round(100 * weights.outcome * outcome_c, 2),
                "full_credit_at": f"mean participant gain {scales.outcome_gain:g}",
            },
        },
    }


def aggregate_vis(volunteers: list[dict[str, Any]], spec: VisDefinition, *, version: int) -> dict[str, Any]:
    """A tenant's or programme's VIS: the mean of its volunteers' scores (and of each component)."""
    if not volunteers:
        return {
            "score": None,
            "band": "insufficient data",
            "volunteers": 0,
            "formula_version": version,
            "breakdown": None,
        }
    score = round(fmean(v["score"] for v in volunteers), 2)
    breakdown = {
        part: {
            "mean_component": round(fmean(v["breakdown"][part]["component"] for v in volunteers), 4),
            "weight": volunteers[0]["breakdown"][part]["weight"],
            "mean_points": round(fmean(v["breakdown"][part]["points"] for v in volunteers), 2),
        }
        for part in ("hours", "consistency", "outcome")
    }
    bands: dict[str, int] = {band.name: 0 for band in spec.bands}
    for v in volunteers:
        bands[v["band"]] = bands.get(v["band"], 0) + 1
    return {
        "score": score,
        "band": spec.band_for(score),
        "volunteers": len(volunteers),
        "formula_version": version,
        "breakdown": {**breakdown, "volunteers_by_band": bands},
    }
